"""Load-balancer sections: haproxy.cfg and keepalived.conf, read by small
tolerant line parsers (they see configs with secrets already redacted)."""

from __future__ import annotations

import re
from typing import Any

from kaudit.facts.parsers.frame import Ctx, strip_comment, to_int

HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"
_HA_SECTIONS = {"global", "defaults", "frontend", "backend", "listen", "userlist", "peers",
                "resolvers", "program", "cache", "mailers", "http-errors", "ring"}


def _addr_port(text: str) -> tuple[str, int | None]:
    """"192.168.40.190:6443" / "[::1]:6443" / "ipv4@1.2.3.4:80" -> (address, port)."""
    text = text.split("@", 1)[-1]
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, to_int(rest.lstrip(":")) if rest else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, to_int(port)
    return text, None


def parse_haproxy_config(text: str) -> dict[str, Any]:
    """frontends and backends (a `listen` section counts as both)."""
    frontends: list[dict[str, Any]] = []
    backends: list[dict[str, Any]] = []
    defaults_server: list[str] = []
    kind = ""
    fe: dict[str, Any] | None = None
    be: dict[str, Any] | None = None
    for line in text.splitlines():
        words = strip_comment(line).split()
        if not words:
            continue
        key = words[0]
        if key in _HA_SECTIONS:
            kind, fe, be = key, None, None
            name = words[1] if len(words) > 1 else ""
            if key in ("frontend", "listen"):
                fe = {"name": name, "binds": [], "default_backend": None, "mode": None}
                frontends.append(fe)
                if key == "listen":
                    fe["default_backend"] = name
            if key in ("backend", "listen"):
                be = {"name": name, "servers": [], "tcp_check": False, "http_check": False,
                      "default_server": list(defaults_server), "mode": None, "balance": None}
                backends.append(be)
            continue
        args = words[1:]
        if kind == "defaults" and key == "default-server":
            defaults_server = args
        if key == "mode":
            for sec in (fe, be):
                if sec is not None and args:
                    sec["mode"] = args[0]
        if fe is not None:
            if key == "bind" and args:
                fe["binds"] += [b for b in args[0].split(",") if b]
            elif key == "default_backend" and args:
                fe["default_backend"] = args[0]
        if be is not None:
            if key == "server" and len(args) >= 2:
                addr, port = _addr_port(args[1])
                be["servers"].append({"name": args[0], "address": addr, "port": port,
                                      "check": "check" in args[2:],
                                      "options": args[2:]})
            elif key == "option" and args[:1] == ["tcp-check"]:
                be["tcp_check"] = True
            elif key == "option" and args[:1] == ["httpchk"]:
                be["http_check"] = True
            elif key == "default-server":
                be["default_server"] = args
            elif key == "balance" and args:
                be["balance"] = args[0]
    return {"frontends": frontends, "backends": backends}


def parse_haproxy(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("haproxy")
    text = sec.file(HAPROXY_CFG)
    out: dict[str, Any] = {
        "config_present": text is not None or any(b.kind == "unreadable" for b in sec.blocks)}
    if text is not None:
        out.update(parse_haproxy_config(text))
        out["server_addresses"] = [srv["address"] for be in out["backends"]
                                   for srv in be["servers"]]
    check = sec.cmd("haproxy-check")
    if check is not None and check.kind == "cmd":
        out["check_ok"] = check.rc == 0
        out["check_output"] = "\n".join(check.text.splitlines()[:20])[:4000]
    elif out["config_present"]:
        ctx.note("haproxy -c not run (haproxy not installed or out of time)")
    return {"haproxy": out}


_TOKEN = re.compile(r'"[^"]*"|\'[^\']*\'|[{}]|[^\s{}]+')


def _keepalived_tree(text: str) -> list[Any]:
    """Lines as token lists; a `{ ... }` block becomes (head tokens, children)."""
    stack: list[list[Any]] = [[]]
    heads: list[list[str]] = []
    cur: list[str] = []
    for line in text.splitlines():
        for tok in _TOKEN.findall(strip_comment(line, "#!")):
            if tok == "{":
                heads.append(cur)
                stack.append([])
                cur = []
            elif tok == "}":
                if cur:
                    stack[-1].append(cur)
                cur = []
                if len(stack) > 1:
                    children = stack.pop()
                    stack[-1].append((heads.pop(), children))
            else:
                cur.append(tok.strip("\"'") if tok[:1] in "\"'" else tok)
        if cur:
            stack[-1].append(cur)
            cur = []
    while len(stack) > 1:           # unbalanced braces: close what is open
        children = stack.pop()
        stack[-1].append((heads.pop(), children))
    return stack[0]


def _lines(children: list[Any]) -> list[list[str]]:
    return [c for c in children if isinstance(c, list) and c]


def _blocks(children: list[Any], name: str) -> list[tuple[list[str], list[Any]]]:
    return [c for c in children if isinstance(c, tuple) and c[0][:1] == [name]]


def parse_keepalived_config(text: str) -> dict[str, Any]:
    tree = _keepalived_tree(text)
    instances = []
    for head, children in _blocks(tree, "vrrp_instance"):
        inst: dict[str, Any] = {"name": head[1] if len(head) > 1 else "", "interface": None,
                                "state": None, "priority": None, "virtual_router_id": None,
                                "vips": [], "track_scripts": []}
        for words in _lines(children):
            if words[0] in ("interface", "state") and len(words) > 1:
                inst[words[0]] = words[1]
            elif words[0] in ("priority", "virtual_router_id") and len(words) > 1:
                inst[words[0]] = to_int(words[1])
        for _, kids in _blocks(children, "virtual_ipaddress"):
            inst["vips"] += [w[0].split("/")[0] for w in _lines(kids)]
        for _, kids in _blocks(children, "track_script"):
            inst["track_scripts"] += [w[0] for w in _lines(kids)]
        instances.append(inst)
    scripts: dict[str, Any] = {}
    for head, children in _blocks(tree, "vrrp_script"):
        script: dict[str, Any] = {}
        for words in _lines(children):
            if words[0] == "script" and len(words) > 1:
                script["script"] = " ".join(words[1:])
            elif words[0] in ("interval", "weight", "fall", "rise", "timeout") and len(words) > 1:
                script[words[0]] = to_int(words[1])
        scripts[head[1] if len(head) > 1 else ""] = script
    return {"instances": instances, "scripts": scripts}


def parse_keepalived(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("keepalived")
    text = sec.file(KEEPALIVED_CONF)
    out: dict[str, Any] = {
        "config_present": text is not None or any(b.kind == "unreadable" for b in sec.blocks)}
    if text is not None:
        out.update(parse_keepalived_config(text))
        interfaces = ctx.facts.get("network", {}).get("interfaces")
        for inst in out["instances"]:
            if isinstance(interfaces, dict) and interfaces:
                inst["interface_exists"] = inst["interface"] in interfaces
            # A tracked script must be defined with a `script` line, or keepalived drops it.
            inst["track_scripts_defined"] = bool(inst["track_scripts"]) and all(
                "script" in out["scripts"].get(name, {}) for name in inst["track_scripts"])
        if re.search(r"^\s*include\b", text, re.M):
            ctx.note("keepalived.conf uses `include`; included files are not read")
    return {"keepalived": out}
