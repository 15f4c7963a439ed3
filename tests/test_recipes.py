"""The docs/recipes files are real: YAML parses with the keys that matter,
systemd units have their sections, and nightly.sh runs against recorded fleets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import requires
from audit_helpers import DEMO, FAULTY, FAULTY_FAILS, HEALTHY, ROOT
from ruamel.yaml import YAML

RECIPES = ROOT / "docs" / "recipes"
NIGHTLY = RECIPES / "nightly.sh"


def _yaml(name: str) -> list[Any]:
    return list(YAML(typ="safe", pure=True).load_all((RECIPES / name).read_text()))


def _unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file as section -> key -> values (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in (RECIPES / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        header = re.fullmatch(r"\[([A-Za-z]+)\]", line)
        if header:
            current = sections.setdefault(header.group(1), {})
            continue
        assert current is not None, f"{name}: {line!r} outside a section"
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z]+", key), f"{name}: bad line {line!r}"
        current.setdefault(key, []).append(value)
    return sections


def test_docs_name_every_recipe() -> None:
    text = (ROOT / "docs" / "ci.md").read_text()
    for path in RECIPES.iterdir():
        assert f"recipes/{path.name}" in text, path.name


def test_gitlab_job_gates_on_junit() -> None:
    (doc,) = _yaml("gitlab-ci.yml")
    job = doc["kaudit-preflight"]
    script = " ".join(job["script"])
    assert "kaudit scan" in script and "junit:kaudit.xml" in script
    assert job["artifacts"]["reports"]["junit"] == "kaudit.xml"
    assert job["artifacts"]["when"] == "always"


def test_github_workflow_gates_on_junit() -> None:
    (doc,) = _yaml("github-actions.yml")
    steps = doc["jobs"]["audit"]["steps"]
    scan = next(s for s in steps if "kaudit scan" in s.get("run", ""))
    assert "junit:kaudit.xml" in scan["run"] and "if" not in scan
    publish = next(s for s in steps if "junit" in s.get("uses", ""))
    assert publish["if"] == "always()"
    assert publish["with"]["report_paths"] == "kaudit.xml"
    assert doc["permissions"]["checks"] == "write"
    assert "pull_request" in doc["on"]


def test_kubernetes_cronjob() -> None:
    cron, pvc = _yaml("cronjob.yaml")
    assert (cron["apiVersion"], cron["kind"]) == ("batch/v1", "CronJob")
    assert len(cron["spec"]["schedule"].split()) == 5
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert set(mounts) == set(volumes)
    assert volumes["ssh"]["secret"]["defaultMode"] == 0o440
    assert "configMap" in volumes["config"]
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["KAUDIT_INVENTORY"].startswith(mounts["config"] + "/")
    assert env["KAUDIT_STATE_DIR"] == mounts["state"]
    assert f"-i {mounts['ssh']}/id_ed25519" in env["KAUDIT_EXTRA_ARGS"]
    assert container["command"] == ["/usr/local/lib/kaudit/nightly.sh"]
    assert pvc["kind"] == "PersistentVolumeClaim"


def test_systemd_units() -> None:
    service = _unit("kaudit-audit.service")
    assert set(service) == {"Unit", "Service"}
    assert service["Service"]["Type"] == ["oneshot"]
    assert service["Service"]["ExecStart"][0].endswith("/nightly.sh")
    assert "1" in service["Service"]["SuccessExitStatus"][0].split()
    env = dict(e.split("=", 1) for e in service["Service"]["Environment"])
    assert env["KAUDIT_STATE_DIR"] in service["Service"]["ReadWritePaths"][0].split()
    timer = _unit("kaudit-audit.timer")
    assert set(timer) == {"Unit", "Timer", "Install"}
    assert timer["Timer"]["Unit"] == ["kaudit-audit.service"]
    assert timer["Timer"]["OnCalendar"] and timer["Timer"]["Persistent"] == ["true"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]
    requires.need("systemd-analyze")
    proc = subprocess.run(["systemd-analyze", "calendar", timer["Timer"]["OnCalendar"][0]],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_crontab() -> None:
    jobs = []
    for line in (RECIPES / "crontab").read_text().splitlines():
        if not line.strip() or line.startswith("#") or re.match(r"^[A-Z_]+=", line):
            continue
        fields = line.split(None, 6)
        assert len(fields) == 7, line        # /etc/cron.d: five times, a user, a command
        for value, top in zip(fields[:5], (59, 23, 31, 12, 7), strict=True):
            assert value == "*" or (value.isdigit() and int(value) <= top), line
        jobs.append(fields)
    assert len(jobs) == 1 and "nightly.sh" in jobs[0][6]


def _nightly(state: Path, facts: Path) -> subprocess.CompletedProcess[str]:
    bindir = Path(sys.executable).parent
    env = {
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(state),
        "KAUDIT": f"{sys.executable} -m kaudit",
        "KAUDIT_STATE_DIR": str(state),
        "KAUDIT_PROFILE": DEMO[1],
        "KAUDIT_EXTRA_ARGS": " ".join(DEMO[2:]),
        "KAUDIT_WAIVERS": str(state / "no-waivers.yaml"),
        "KAUDIT_TEXTFILE_DIR": str(state),
        "KAUDIT_FACTS": str(facts),
    }
    return subprocess.run(["sh", str(NIGHTLY)], env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def _reports(state: Path) -> list[Path]:
    return sorted((state / "reports").glob("kaudit-*.json"), key=lambda p: p.stat().st_mtime)


@pytest.mark.skipif(" " in sys.executable, reason="KAUDIT is a word list")
def test_nightly_runs_report_drift(tmp_path: Path) -> None:
    state = tmp_path / "state"
    # Night 1, healthy fleet: no baseline yet, nothing fails.
    first = _nightly(state, HEALTHY)
    assert first.returncode == 0, first.stderr
    baseline = json.loads((state / "last.json").read_text())
    assert baseline["summary"]["fail"] == 0
    assert "drift" not in baseline["results"][0]

    # Night 2, nine faults appear: all new, the run fails, the baseline moves on.
    second = _nightly(state, FAULTY)
    assert second.returncode == 1, second.stderr
    assert second.stdout.index("New since baseline (9)") < second.stdout.index("Failed:")
    latest = json.loads(_reports(state)[-1].read_text())
    new = {(r["rule"], r["host"]) for r in latest["results"] if r.get("drift") == "new"}
    assert new == FAULTY_FAILS
    assert json.loads((state / "last.json").read_text()) == latest
    assert (state / "kaudit.prom").read_text().count('kaudit_drift_results{drift="new"} 9') == 1
    assert len(list((state / "reports").glob("kaudit-*.xml"))) == 2
    assert len(list((state / "reports").glob("kaudit-*.html"))) == 2

    # Night 3, the same faults: nothing new, the gate passes though findings remain.
    third = _nightly(state, FAULTY)
    assert third.returncode == 0, third.stderr
    latest = json.loads(_reports(state)[-1].read_text())
    assert latest["summary"]["fail"] == 9
    assert {r["drift"] for r in latest["results"]} == {"unchanged"}

    # Night 4, fixed: everything resolved.
    fourth = _nightly(state, HEALTHY)
    assert fourth.returncode == 0, fourth.stderr
    assert "Resolved since baseline (9)" in fourth.stdout


def test_nightly_keeps_the_baseline_on_bad_input(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert _nightly(state, HEALTHY).returncode == 0
    before = (state / "last.json").read_text()
    bad = tmp_path / "broken.json"
    bad.write_text("{")
    run = _nightly(state, bad)
    assert run.returncode == 2
    assert "baseline" in run.stderr and str(bad) in run.stderr
    assert (state / "last.json").read_text() == before


def _fail_on(command: str) -> str:
    m = re.search(r"--fail-on (\w+)", command)
    assert m, command
    return m.group(1)


@pytest.mark.parametrize("recipe", ["github-actions.yml", "gitlab-ci.yml"])
def test_recipe_junit_gate_matches_the_exit_code(recipe: str, tmp_path: Path) -> None:
    """The JUnit consumer fails the job on any <failure> (mikepenz's
    fail_on_failure, GitLab's failed tests); kaudit's exit code fails it on
    findings at or above the recipe's --fail-on. The two must agree, for the
    recipe's threshold and for stricter and looser ones."""
    (doc,) = _yaml(recipe)
    if recipe.startswith("github"):
        steps = doc["jobs"]["audit"]["steps"]
        command = next(s["run"] for s in steps if "kaudit scan" in s.get("run", ""))
        publish = next(s for s in steps if "junit" in s.get("uses", ""))
        assert publish["with"]["fail_on_failure"] is True
    else:
        command = " ".join(doc["kaudit-preflight"]["script"])
    from click.testing import CliRunner

    from kaudit.cli import cli

    for level in (_fail_on(command), "critical", "medium", "info"):
        xml = tmp_path / f"{level}.xml"
        res = CliRunner().invoke(cli, ["scan", "-p", "prod-ha", "--facts", str(FAULTY),
                                       "--fail-on", level, "-r", f"junit:{xml}"])
        failures = int(ET.parse(xml).getroot().get("failures", -1))
        assert res.exit_code in (0, 1), res.output
        assert (failures > 0) == (res.exit_code == 1), (level, failures, res.exit_code)
