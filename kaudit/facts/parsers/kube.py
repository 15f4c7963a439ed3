"""Kubernetes sections: static pod manifests, the kubelet (config file,
flags, effective settings), the scheduler config and containerd."""

from __future__ import annotations

import datetime
import re
import shlex
from typing import Any

from kaudit.facts.parsers.frame import Ctx

MANIFEST_DIR = "/etc/kubernetes/manifests/"
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
MAX_YAML = 1024 * 1024


def load_yaml_plain(text: str) -> Any:
    """First document of `text` as plain JSON-able data (safe loader)."""
    if len(text) > MAX_YAML:
        raise ValueError("document too large")
    # Imported here: a host without manifests or a kubelet config (a node not yet
    # set up, or not a node at all) needs no YAML and should not pay for the import.
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    for doc in yaml.load_all(text):
        return _plain(doc)
    return None


def _plain(value: Any, depth: int = 0) -> Any:
    if depth > 50:
        raise ValueError("document nested too deeply")
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def parse_flags(argv: list[str]) -> dict[str, str]:
    """`--a=b`, `--a b` and bare `--a` (-> "true"); names without dashes."""
    flags: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = str(argv[i])
        i += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            continue
        name, sep, value = arg.lstrip("-").partition("=")
        if not name:
            continue
        if not sep:
            nxt = str(argv[i]) if i < len(argv) else None
            if nxt is not None and not nxt.startswith("-") and not nxt.startswith("$"):
                value, i = nxt, i + 1
            else:
                value = "true"
        flags[name] = value
    return flags


def parse_feature_gates(text: str) -> dict[str, Any]:
    """"A=true,B=false" -> {"A": True, "B": False}; odd values stay strings."""
    gates: dict[str, Any] = {}
    for part in text.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip():
            v = value.strip().lower()
            gates[name.strip()] = (v == "true") if v in ("true", "false") else value.strip()
    return gates


def parse_kv_pairs(text: str, pair: str) -> dict[str, str]:
    """"memory.available<100Mi,nodefs.available<10%" -> {"memory.available": "100Mi", ...}."""
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition(pair)
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


_IMAGE_TAG = re.compile(r":v?(\d+\.\d+(?:\.\d+)?)(?:[-+][0-9A-Za-z.-]*)?$")


def image_version(image: str) -> str | None:
    """The component version in an image reference: 'registry.k8s.io/kube-apiserver:v1.35.2'
    -> '1.35.2', 'etcd:3.6.5-0' -> '3.6.5'; None for a digest or another tag."""
    ref = image.split("@", 1)[0]
    m = _IMAGE_TAG.search(ref.rsplit("/", 1)[-1])
    return m.group(1) if m else None


def _manifest(text: str) -> tuple[str, dict[str, Any]] | None:
    doc = load_yaml_plain(text)
    if not isinstance(doc, dict):
        return None
    containers = (doc.get("spec") or {}).get("containers") or []
    if not containers or not isinstance(containers[0], dict):
        return None
    c = containers[0]
    argv = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
    labels = (doc.get("metadata") or {}).get("labels") or {}
    name = str(labels.get("component") or c.get("name") or "")
    flags = parse_flags(argv)
    # flag_names / feature_gate_names: the keys as lists, so a rule can test every name
    # against a list of known ones (`each ... op: in`).
    entry: dict[str, Any] = {"args": flags, "command": argv, "flag_names": list(flags)}
    if c.get("image"):
        entry["image"] = str(c["image"])
        version = image_version(entry["image"])
        if version:
            entry["version"] = version
            entry["minor"] = int(version.split(".")[1])   # for skew rules (spread)
    if "feature-gates" in flags:
        entry["feature_gates"] = parse_feature_gates(flags["feature-gates"])
        entry["feature_gate_names"] = list(entry["feature_gates"])
    return name, entry


def parse_kubernetes(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("kubernetes")
    manifests: dict[str, Any] = {}
    for b in sec.files():
        if not b.name.startswith(MANIFEST_DIR):
            continue
        try:
            parsed = _manifest(b.text)
        except Exception as exc:  # one bad manifest must not hide the others
            ctx.note(f"{b.name}: not parseable ({type(exc).__name__})")
            continue
        if parsed is None:
            ctx.note(f"{b.name}: not a pod manifest")
            continue
        name = parsed[0] or b.name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        manifests[name] = parsed[1]
    config_text = sec.file(KUBELET_CONFIG)
    k8s: dict[str, Any] = {
        "installed": bool(manifests) or config_text is not None,
        "manifests": manifests,
    }
    out: dict[str, Any] = {"kubernetes": k8s}
    if config_text is not None:
        try:
            config = load_yaml_plain(config_text)
        except Exception as exc:
            ctx.note(f"{KUBELET_CONFIG}: not parseable ({type(exc).__name__})")
        else:
            if isinstance(config, dict):
                # config_fields: the top-level keys, for rules that check every name
                out["kubelet"] = {"config": config, "config_fields": [str(k) for k in config]}
            else:
                ctx.note(f"{KUBELET_CONFIG}: not a mapping")
    return out


def _env_assignments(text: str) -> dict[str, str]:
    """KEY=VALUE lines of an env file or systemd Environment= lines."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith(("#", ";")):
            continue
        if s.startswith("Environment="):
            try:
                words = shlex.split(s[len("Environment="):])
            except ValueError:
                continue
        else:
            words = [s]
        for w in words:
            key, sep, value = w.partition("=")
            if sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                env[key] = _unquote_env(value)
    return env


def _unquote_env(value: str) -> str:
    v = value.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        return v[1:-1]
    return v


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _kubelet_file_flags(blocks: list[Any]) -> dict[str, str]:
    """Flags as systemd would assemble them from drop-ins and env files."""
    argv: list[str] = []
    env: dict[str, str] = {}
    exec_args: list[str] = []
    dropins = [b for b in blocks if b.name.endswith(".conf")]
    envfiles = [b for b in blocks if not b.name.endswith(".conf")]
    for b in dropins:
        env.update(_env_assignments(b.text))
        for line in b.text.splitlines():
            s = line.strip()
            if s.startswith("ExecStart=") and s != "ExecStart=":
                exec_args = _split(s[len("ExecStart="):])
    for b in envfiles:              # EnvironmentFile= values override Environment=
        env.update(_env_assignments(b.text))
    for tok in exec_args[1:] or ["$KUBELET_KUBECONFIG_ARGS", "$KUBELET_CONFIG_ARGS",
                                 "$KUBELET_KUBEADM_ARGS", "$KUBELET_EXTRA_ARGS"]:
        if tok.startswith("$"):
            argv += _split(env.get(tok.strip("${}"), ""))
        else:
            argv.append(tok)
    return parse_flags(argv)


def parse_kubelet(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("kubelet")
    cmdline = sec.cmd("kubelet-cmdline")
    kubelet: dict[str, Any] = {}
    if cmdline is not None and cmdline.kind == "cmd":
        kubelet["flags"] = parse_flags([ln for ln in cmdline.lines if ln][1:])
        kubelet["flags_source"] = "process"
    else:
        kubelet["flags"] = _kubelet_file_flags(sec.files())
        kubelet["flags_source"] = "files"
    flags: dict[str, str] = kubelet["flags"]
    config = ctx.facts.get("kubelet", {}).get("config")
    config = config if isinstance(config, dict) else {}
    eff: dict[str, Any] = {}
    simple = {"nodeStatusUpdateFrequency": "node-status-update-frequency",
              "cgroupDriver": "cgroup-driver"}
    for field, flag in simple.items():
        if flag in flags:
            eff[field] = flags[flag]
        elif field in config:
            eff[field] = config[field]
    for field, flag in (("evictionHard", "eviction-hard"), ("evictionSoft", "eviction-soft")):
        if flag in flags:
            eff[field] = parse_kv_pairs(flags[flag], "<")
        elif isinstance(config.get(field), dict):
            eff[field] = config[field]
    if "eviction-soft-grace-period" in flags:
        eff["evictionSoftGracePeriod"] = parse_kv_pairs(flags["eviction-soft-grace-period"], "=")
    elif isinstance(config.get("evictionSoftGracePeriod"), dict):
        eff["evictionSoftGracePeriod"] = config["evictionSoftGracePeriod"]
    if isinstance(eff.get("evictionSoft"), dict):
        # The kubelet refuses to start when a soft threshold has no grace period.
        graces = eff.get("evictionSoftGracePeriod") or {}
        kubelet["eviction_soft_without_grace"] = [
            signal for signal in eff["evictionSoft"] if signal not in graces]
    if "cluster-dns" in flags:
        eff["clusterDNS"] = [a.strip() for a in flags["cluster-dns"].split(",") if a.strip()]
    elif isinstance(config.get("clusterDNS"), list):
        eff["clusterDNS"] = config["clusterDNS"]
    gates: dict[str, Any] = {}
    if isinstance(config.get("featureGates"), dict):
        gates.update(config["featureGates"])
    if "feature-gates" in flags:        # the kubelet merges flag gates over the file's
        gates.update(parse_feature_gates(flags["feature-gates"]))
    if gates or "featureGates" in config or "feature-gates" in flags:
        eff["featureGates"] = gates
        kubelet["feature_gate_names"] = list(gates)
    kubelet["flag_names"] = list(flags)
    kubelet["effective"] = eff
    return {"kubelet": kubelet}


def parse_scheduler(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("scheduler-config")
    files = sec.files()
    if not files:
        return {"scheduler": {}}      # collected: no scheduler config file
    try:
        config = load_yaml_plain(files[0].text)
    except Exception as exc:
        ctx.note(f"{files[0].name}: not parseable ({type(exc).__name__})")
        return {}
    return {"scheduler": {"config": config, "config_path": files[0].name}}


def parse_containerd(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("containerd")
    text = sec.file("/etc/containerd/config.toml")
    present = text is not None or any(b.kind == "unreadable" for b in sec.blocks)
    out: dict[str, Any] = {"config_present": present}
    if text is None:
        if present:
            ctx.note("/etc/containerd/config.toml unreadable")
        else:
            out["systemd_cgroup"] = False      # containerd's built-in default
        return {"containerd": out}
    systemd = False
    for line in text.splitlines():
        m = re.match(r"\s*SystemdCgroup\s*=\s*(\w+)", line)
        if m:
            systemd = m.group(1).lower() == "true"
        m = re.match(r"\s*(?:sandbox_image|sandbox)\s*=\s*[\"']([^\"']*)[\"']", line)
        if m:
            out["sandbox_image"] = m.group(1)
    out["systemd_cgroup"] = systemd
    return {"containerd": out}
