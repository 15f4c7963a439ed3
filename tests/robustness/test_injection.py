"""Nothing from an inventory, --var or a fact file ever reaches a shell
unquoted or forges a result: every payload would create a marker file if it
ran, and the marker never appears (locally, or on the test host via sshd)."""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from kaudit.cli import cli

from .conftest import REPO, Fleet, load_json, run_kaudit, write_pack


@pytest.fixture
def marker() -> Iterator[Path]:
    """A path every payload tries to create (world-writable dir, so the sshd test user could)."""
    path = Path(f"/tmp/kaudit-pwned-{uuid.uuid4().hex}")
    yield path
    path.unlink(missing_ok=True)


def payloads(m: Path) -> list[str]:
    return [f"$(touch {m})", f"`touch {m}`", f"';touch {m};'", f'";touch {m};"',
            f"x;touch {m}", f"x\ntouch {m}", f"x|touch {m}", f"x&&touch {m}"]


def ini_value(p: str) -> str:
    """A payload as one INI token (newlines cannot be written inline)."""
    return "'" + p.replace("\n", " ").replace("'", "") + "'" if "'" in p or " " in p or \
        "\n" in p else p


# -- rejected before anything runs ---------------------------------------------------

LOCATIONS = ["name", "address", "vip", "lb_port", "apiserver_port", "var-vip", "var-lb_port",
             "user"]


@pytest.mark.parametrize("where", LOCATIONS)
def test_payloads_in_checked_fields_are_refused_with_the_line(where: str, marker: Path,
                                                              tmp_path: Path) -> None:
    runner = CliRunner()
    for p in payloads(marker):
        v = ini_value(p)
        extra: list[str] = []
        lines = ["[masters]", "m01 ansible_connection=local"]
        if where == "name":
            lines.append(f"{v} ansible_connection=local")
        elif where == "address":
            lines.append(f"m02 ansible_host={v}")
        elif where == "user":
            lines.append(f"m02 ansible_host=127.0.0.2 ansible_user={v}")
        elif where.startswith("var-"):
            extra = ["--var", f"{where[4:]}={p}"]
        else:
            lines += ["[all:vars]", f"{where}={v}"]
        inv = tmp_path / "hosts.txt"
        inv.write_text("\n".join(lines) + "\n")
        # `inventory show` loads the inventory exactly as `scan` does, minus the rules.
        res = runner.invoke(cli, ["inventory", "show", str(inv), *extra])
        assert res.exit_code == 2, (where, p, res.output)
        assert res.exception is None or isinstance(res.exception, SystemExit)
        where_msg = "--var" if where.startswith("var-") else "hosts.txt:"
        assert where_msg in res.output, (where, p, res.output)
        assert not marker.exists(), (where, p)


# -- accepted values never run --------------------------------------------------------

def _payload_inventory(m: Path, head: str) -> str:
    ps = payloads(m)
    host_vars = " ".join(f"v{i}={ini_value(p)}" for i, p in enumerate(ps))
    group_vars = "\n".join(f"g{i}={p.replace(chr(10), ' ')}" for i, p in enumerate(ps))
    return f"[masters]\n{head} {host_vars}\n\n[all:vars]\n{group_vars}\n"


def test_local_hosts_with_payload_vars_scan_and_never_run_them(marker: Path,
                                                               tmp_path: Path) -> None:
    rules, profile = write_pack(tmp_path)
    inv = tmp_path / "hosts.txt"
    inv.write_text(_payload_inventory(marker, "here ansible_connection=local"))
    var_args = [a for i, p in enumerate(payloads(marker)) for a in ("--var", f"x{i}={p}")]
    out = tmp_path / "out.json"
    proc = run_kaudit("scan", "-p", profile, "--rules", rules, inv, "-r", f"json:{out}",
                      "--save-facts", tmp_path / "facts.json", *var_args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    report = load_json(out)
    assert [h["status"] for h in report["hosts"]] == ["ok"]
    saved = load_json(tmp_path / "facts.json")
    # The payloads are kept as data, exactly.
    assert saved["inventory"]["vars"]["x1"] == f"`touch {marker}`"
    assert saved["inventory"]["vars"]["x5"] == f"x\ntouch {marker}"


@pytest.mark.sshd
def test_payloads_never_run_on_the_scanned_host(fleet: Fleet, sshd_factory, ssh_env,  # type: ignore[no-untyped-def]
                                                marker: Path) -> None:
    # A plain sshd: the real probe runs through the test user's login shell,
    # where any unquoted payload would create the marker.
    server = sshd_factory("127.0.0.40")
    fleet.trust(server)
    inv = fleet.dir / "hosts.txt"
    inv.write_text(_payload_inventory(
        marker, f"target ansible_host=127.0.0.40 ansible_port={server.port}")
)
    var_args = [a for i, p in enumerate(payloads(marker)) for a in ("--var", f"x{i}={p}")]
    out = fleet.dir / "out.json"
    proc = run_kaudit(*fleet.args(inv, "-r", f"json:{out}", "--var", "vip=127.0.0.1",
                                  "--var", "lb_port=16443", *var_args, timeout=60),
                      cwd=fleet.dir)
    assert not marker.exists()
    assert proc.returncode == 0, proc.stderr
    [host] = load_json(out)["hosts"]
    assert host["status"] == "ok", host


# -- fact values cannot forge results or break out of a report ----------------------

EVIL = ["</failure><x>", "\"; DROP TABLE results; --", "{{7*7}}", "${params.x}",
        "{host}", "{observed}", "]]></failure></testcase><testcase name=\"forged\"/>",
        "<script>alert(1)</script>", "a\"} 1\nkaudit_forged 1 #"]


def test_fact_values_cannot_forge_results_or_escape_reports(tmp_path: Path) -> None:
    doc = json.loads((REPO / "fixtures/facts/lab-healthy.json").read_text())
    names = [h["inventory"]["name"] for h in doc["hosts"]]
    for h, evil in zip(doc["hosts"], EVIL, strict=False):
        h["facts"]["hostname"] = evil
        h["facts"]["kernel"]["release"] = evil
    facts = tmp_path / "evil.json"
    facts.write_text(json.dumps(doc))
    rules, profile = write_pack(tmp_path)
    out = {f: tmp_path / f"r.{f}" for f in ("json", "xml", "html", "prom")}
    proc = run_kaudit("scan", "-p", profile, "--rules", rules, "--facts", facts,
                      "-r", f"json:{out['json']}", "-r", f"junit:{out['xml']}",
                      "-r", f"html:{out['html']}", "-r", f"prometheus:{out['prom']}",
                      "-r", "terminal", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    report = load_json(out["json"])
    evil_hosts = names[:len(EVIL)]
    by = {(r["rule"], r["host"]): r for r in report["results"]}
    for name, evil in zip(evil_hosts, EVIL, strict=False):
        # Evaluated as data: not empty -> pass; odd characters -> fail.
        assert by[("rb.hostname", name)]["status"] == "pass"
        assert by[("rb.hostname-plain", name)]["status"] == "fail"
        msg = by[("rb.hostname-plain", name)]["message"]
        assert evil.replace("\n", " ") in msg.replace("\n", " ") or evil in msg, (evil, msg)
        assert msg.endswith("is odd (param 1)"), msg
        assert "49" not in msg
    assert report["summary"]["fail"] == len(evil_hosts)
    # JUnit: exactly the real failures, no forged test cases or elements.
    root = ET.parse(out["xml"]).getroot()
    cases = list(root.iter("testcase"))
    assert not [c for c in cases if c.get("name") == "forged"]
    assert len(list(root.iter("failure"))) == len(evil_hosts)
    assert not list(root.iter("x")) and not list(root.iter("script"))
    html = out["html"].read_text()
    assert "<script>alert" not in html and "<x>" not in html
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(out["prom"].read_text())}
    assert not any("forged" in n for n in families)
    assert not re.search(r"(?m)^kaudit_forged", out["prom"].read_text())
