"""The probe, run for real on this machine: facts match the machine, it is
read-only (proved under a read-only root), it copes with a bare PATH, with
dash and busybox, and nothing from the inventory reaches the shell unquoted."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requires

from kaudit.collect.probe import PROBE_VERSION, probe_args, probe_command, probe_script
from kaudit.facts.parse import parse_probe_output

# Facts that legitimately differ between two runs a second apart.
VOLATILE = {"time", "probe", "memory"}


def run_probe(args: list[str] | None = None, shell: str = "sh", prefix: list[str] | None = None,
              env: dict[str, str] | None = None, timeout: float = 60) -> bytes:
    cmd = [*(prefix or []), shell, "-s", "--", *(args or [])]
    proc = subprocess.run(cmd, input=probe_script(), capture_output=True, timeout=timeout,
                          env=env)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def stable(facts: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in facts.items() if k not in VOLATILE}


@pytest.fixture(scope="module")
def local_run() -> tuple[bytes, dict[str, Any], list[str]]:
    out = run_probe(["--vip", "127.0.0.1", "--lb-port", "1"])
    facts, notes = parse_probe_output(out)
    return out, facts, notes


def test_first_line_and_end(local_run: tuple[bytes, dict[str, Any], list[str]]) -> None:
    out, facts, _ = local_run
    first = out.split(b"\n", 1)[0].decode()
    assert re.fullmatch(rf"KAUDIT-PROBE {PROBE_VERSION} \d+(\.\d+)?", first)
    assert abs(float(first.split()[2]) - time.time()) < 120
    assert out.rstrip(b"\n").endswith(b"@@kaudit:end 0")
    assert facts["probe"]["version"] == PROBE_VERSION
    assert facts["probe"]["complete"] is True


def test_facts_match_this_machine(local_run: tuple[bytes, dict[str, Any], list[str]]) -> None:
    _, facts, _ = local_run
    assert facts["kernel"]["release"] == os.uname().release
    assert facts["kernel"]["arch"] == os.uname().machine
    assert facts["cpu"]["count"] in {os.cpu_count(), len(os.sched_getaffinity(0))}
    meminfo = Path("/proc/meminfo").read_text()
    total = int(re.search(r"MemTotal:\s+(\d+) kB", meminfo).group(1)) * 1024  # type: ignore[union-attr]
    assert abs(facts["memory"]["total_bytes"] - total) <= total / 100
    assert facts["hostname"] == socket.gethostname()
    assert facts["probe"]["uid"] == os.geteuid()
    osr = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines()
               if "=" in line)
    assert facts["os"]["id"] == osr["ID"].strip('"')
    assert facts["mounts"]["/"]["mountpoint"] == "/"
    assert facts["mounts"]["/"]["own_mount"] is True
    assert facts["mounts"]["/"]["size_bytes"] == pytest.approx(
        os.statvfs("/").f_blocks * os.statvfs("/").f_frsize, rel=0.01)
    swappiness = Path("/proc/sys/vm/swappiness").read_text().strip()
    assert facts["sysctl"]["vm.swappiness"] == swappiness
    assert facts["swap"]["swappiness"] == int(swappiness)
    assert "sh" not in facts["commands"] or shutil.which("sh")
    assert facts["vip"]["address"] == "127.0.0.1"
    assert facts["vip"]["tcp"] is False          # nothing listens on port 1


def test_vip_tcp_check_sees_a_listener() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        port = srv.getsockname()[1]
        facts, _ = parse_probe_output(run_probe(["--vip", "127.0.0.1", "--lb-port", str(port)]))
    if facts["vip"]["tcp_method"] == "none":
        pytest.fail("no TCP method available on this machine (bash+timeout, nc, curl)")
    assert facts["vip"]["tcp"] is True
    assert facts["vip"]["port"] == port


def test_probe_writes_nothing_to_tmp_or_home() -> None:
    """Fresh private tmpfs mounts on /tmp, /var/tmp and /root catch any write,
    and no other process on this machine can disturb them."""
    requires.need("unshare", "mount", root=True)
    dirs = ["/tmp", "/var/tmp", "/root"]
    mounts = " && ".join(f"mount -t tmpfs kaudit-probe-test {d}" for d in dirs)
    count = " ".join(f'"$(ls -A {d} | wc -l)"' for d in dirs)
    script = (f"mount --make-rprivate / && {mounts} && "
              "sh -s -- --vip 127.0.0.1 --lb-port 1; rc=$?; "
              f"echo @@left {count} >&2; exit $rc")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], input=probe_script(),
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert proc.stdout.rstrip(b"\n").endswith(b"@@kaudit:end 0")
    left = re.search(rb"@@left (\d+) (\d+) (\d+)", proc.stderr)
    assert left is not None, proc.stderr
    assert left.groups() == (b"0", b"0", b"0"), "the probe left files behind"


def _unshare_ro_script(args: list[str]) -> str:
    quoted = " ".join(shlex.quote(a) for a in args)
    return (
        "set -e; mount --make-rprivate / ; "
        "mount -o remount,bind,ro / 2>/dev/null || "
        "{ mount --bind / / && mount -o remount,bind,ro / ; } ; "
        "if touch /.kaudit-rw-test 2>/dev/null; then rm -f /.kaudit-rw-test; "
        "echo 'root still writable' >&2; exit 99; fi; "
        f"exec sh -s -- {quoted}"
    )


def test_read_only_root_gives_same_facts(local_run: tuple[bytes, dict[str, Any], list[str]]
                                         ) -> None:
    requires.need("unshare", "mount", root=True)
    args = ["--vip", "127.0.0.1", "--lb-port", "1"]
    proc = subprocess.run(["unshare", "-m", "sh", "-c", _unshare_ro_script(args)],
                          input=probe_script(), capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert proc.stdout.rstrip(b"\n").endswith(b"@@kaudit:end 0")
    ro_facts, _ = parse_probe_output(proc.stdout)
    _, facts, _ = local_run
    ro_stable, rw_stable = stable(ro_facts), stable(facts)
    assert ro_stable.keys() == rw_stable.keys()
    for key in rw_stable:
        assert ro_stable[key] == rw_stable[key], key


def test_bare_path_still_completes(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sh").symlink_to(os.path.realpath(shutil.which("sh") or "/bin/sh"))
    out = run_probe(["--vip", "127.0.0.1"], shell=str(bindir / "sh"),
                    env={"PATH": str(bindir)})
    assert out.startswith(b"KAUDIT-PROBE 1 ")
    assert out.rstrip(b"\n").endswith(b"@@kaudit:end 0")
    facts, notes = parse_probe_output(out)
    assert facts["hostname"] == socket.gethostname()
    assert facts["kernel"]["release"] == os.uname().release
    assert facts["cpu"]["count"] in {os.cpu_count(), len(os.sched_getaffinity(0))}
    assert "memory" in facts and "mounts" in facts
    assert notes, "missing tools must be reported as notes"
    assert "addresses" not in facts.get("network", {})


def test_busybox_only_userland(tmp_path: Path) -> None:
    """A minimal container: every tool is a busybox applet."""
    requires.need("busybox")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    busybox = shutil.which("busybox") or ""
    for applet in ("sh", "head", "sed", "date", "timeout", "tr", "readlink", "df", "uname",
                   "hostname", "nproc", "id", "ip", "ping", "nc"):
        (bindir / applet).symlink_to(busybox)
    out = run_probe(["--vip", "127.0.0.1", "--lb-port", "1"], shell=str(bindir / "sh"),
                    env={"PATH": str(bindir)})
    assert re.match(rb"KAUDIT-PROBE 1 \d+(\.\d+)?\n", out)
    facts, _ = parse_probe_output(out)
    assert facts["probe"]["complete"] is True
    assert facts["probe"]["timeout_method"] in ("plain", "busybox")
    assert facts["kernel"]["release"] == os.uname().release
    assert facts["cpu"]["count"] in {os.cpu_count(), len(os.sched_getaffinity(0))}
    assert facts["mounts"]["/"]["size_bytes"] == pytest.approx(
        os.statvfs("/").f_blocks * os.statvfs("/").f_frsize, rel=0.01)
    assert facts["vip"]["tcp"] is False


@pytest.mark.parametrize("shell", ["dash", "busybox", "bash"])
def test_other_shells_agree(shell: str, local_run: tuple[bytes, dict[str, Any], list[str]]
                            ) -> None:
    requires.need(shell)
    exe = shutil.which(shell)
    assert exe is not None
    prefix = [exe] if shell == "busybox" else []
    out = run_probe(["--vip", "127.0.0.1", "--lb-port", "1"],
                    shell="sh" if shell == "busybox" else exe, prefix=prefix)
    facts, _ = parse_probe_output(out)
    _, ref, _ = local_run
    for key in ("kernel", "hostname", "cpu", "os", "sysctl", "mounts", "limits", "selinux",
                "hosts_file", "network"):
        assert facts.get(key) == ref.get(key), key


def test_probe_is_fast() -> None:
    start = time.monotonic()
    run_probe(["--vip", "127.0.0.1", "--lb-port", "1"])
    assert time.monotonic() - start < 20


def test_hostile_args_are_ignored_by_the_script(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    out = run_probe(["--vip", f"$(touch {marker})", "--lb-port", "1;touch " + str(marker),
                     "--apiserver-port", "99999", "--bogus"])
    assert not marker.exists()
    facts, notes = parse_probe_output(out)
    assert "vip" not in facts
    assert any("invalid argument" in n for n in notes)


@pytest.mark.parametrize("bad", ["$(touch x)", "192.168.1.1;reboot", "1.2.3.4\nid", "`id`",
                                 "fe80::1%eth0", "", "999.1.1.1", "host.example.com"])
def test_probe_args_rejects_non_addresses(bad: str) -> None:
    if bad == "":
        assert probe_args({"vip": bad}) == []
        return
    with pytest.raises(ValueError):
        probe_args({"vip": bad})


@pytest.mark.parametrize("bad", ["0", "65536", "16443;id", "$(id)", "1\n2", "-1", True, 3.5])
def test_probe_args_rejects_bad_ports(bad: Any) -> None:
    with pytest.raises(ValueError):
        probe_args({"lb_port": bad})
    with pytest.raises(ValueError):
        probe_args({"apiserver_port": bad})


def test_probe_args_and_command() -> None:
    args = probe_args({"vip": " 192.168.40.199 ", "lb_port": "16443", "apiserver_port": 6443,
                       "pod_cidr": "172.16.0.0/16"})
    assert args == ["--vip", "192.168.40.199", "--lb-port", "16443", "--apiserver-port", "6443"]
    assert probe_command(args, sudo=False) == (
        "sh -s -- --vip 192.168.40.199 --lb-port 16443 --apiserver-port 6443")
    assert probe_command(args, sudo=True).startswith("sudo -n sh -s -- --vip ")
    assert probe_command(["--vip", "a b;c"], sudo=False) == "sh -s -- --vip 'a b;c'"
    assert probe_args({"vip": "::1"}) == ["--vip", "::1"]
    assert probe_args({}) == []


def test_probe_script_is_the_shipped_file() -> None:
    root = Path(__file__).resolve().parent.parent
    shipped = (root / "kaudit" / "collect" / "probe.sh").read_bytes()
    assert probe_script() == shipped
    assert probe_script() is probe_script()      # cached
    # No here-documents and no redirection into files: the script must not write.
    text = shipped.decode()
    code = "\n".join(ln.split("#", 1)[0] for ln in text.splitlines())
    code = re.sub(r"'[^'\n]*'|\"(?:[^\"\\\n]|\\.)*\"", "''", code)   # quoted text
    assert "<<" not in code
    for m in re.finditer(r"(?<![0-9&<])>{1,2}\s*(\S+)", code):
        assert m.group(1).startswith(("/dev/null", "&")), m.group(0)


# -- the probe's cheap paths: batched first lines, systemd detection ---------------

PROBE_FUNCS = "\n".join(
    probe_script().decode().split("\nKP_BLOCK=", 1)[0].splitlines())   # defs, no main run


def _shell_funcs(script: str, shell: str = "sh", prefix: list[str] | None = None) -> str:
    """Run `script` after the probe's definitions (its first line dropped)."""
    proc = subprocess.run([*(prefix or []), shell, "-c", PROBE_FUNCS + "\n" + script],
                          capture_output=True, timeout=30, text=True)
    assert proc.returncode == 0, proc.stderr
    first, _, rest = proc.stdout.partition("\n")
    assert first.startswith("KAUDIT-PROBE ")
    return rest


@pytest.mark.parametrize("shell", ["sh", "dash", "bash", "busybox"])
def test_batched_first_lines_match_head_file_by_file(shell: str, tmp_path: Path) -> None:
    """kp_heads + r1 give what `head -n 1` gives per file, for the awkward
    files too (empty, no final newline, blank first line, spaces, a name with
    a glob character, the last file empty), and fall back to head (counted)
    only when a file is out of order or unreadable."""
    requires.need(shell)
    exe = shutil.which(shell)
    assert exe is not None
    files = {"a": "1\n", "empty": "", "nonl": "no newline", "blank": "\nsecond\n",
             "spaces": "  x  y \nmore\n", "star*": "glob\n", "z-last-empty": ""}
    paths = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        paths.append(str(tmp_path / name))
    missing = str(tmp_path / "missing")
    quoted = " ".join(shlex.quote(p) for p in paths)
    script = (f"KP_HEAD=1; kp_miss=0; kp_heads {quoted} {shlex.quote(missing)}; "
              f"for f in {quoted}; do r1 \"$f\"; printf '[%s]\\n' \"$kp_v\"; done; "
              f"r1 {shlex.quote(missing)}; printf '[%s]\\n' \"$kp_v\"; "
              f"echo miss=$kp_miss left=${{#kp_hv}}")
    out = (_shell_funcs(script, "sh", prefix=[exe]) if shell == "busybox"
           else _shell_funcs(script, exe))
    expected = [f"[{t.partition(chr(10))[0]}]" for t in files.values()]
    assert out.splitlines() == [*expected, "[]", "miss=0 left=0"]

    # Out of order: every value still right, each fallback to head counted.
    rev = " ".join(shlex.quote(p) for p in reversed(paths[:3]))
    out = _shell_funcs(f"KP_HEAD=1; kp_miss=0; kp_heads {quoted}; "
                       f"for f in {rev}; do r1 \"$f\"; printf '[%s]\\n' \"$kp_v\"; done; "
                       f"echo miss=$kp_miss")
    # The first two find the head of the records ("a") not theirs; "a" then does.
    assert out.splitlines() == [*reversed(expected[:3]), "miss=2"]


def test_prefetch_order_matches_the_probe(local_run: tuple[bytes, dict[str, Any], list[str]]
                                          ) -> None:
    """Every first-line read of a real run came from the one batched head."""
    out, facts, _ = local_run
    assert re.search(rb"\nheads_missed=0\n", out), "r1 calls and kp_prefetch disagree"
    assert len(facts["sysctl"]) >= 10


@pytest.mark.parametrize("booted", [False, True])
def test_enabled_swap_units_with_and_without_systemd(booted: bool, tmp_path: Path) -> None:
    """Without systemd running (no /run/systemd/system) the probe lists .swap
    links under /etc/systemd/system itself instead of running the slow offline
    `systemctl list-unit-files`; with it, systemctl answers (a stand-in here)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "calls"
    calls.mkdir()
    (bindir / "systemctl").write_text(
        "#!/bin/sh\n"
        f": > {shlex.quote(str(calls))}/\"$1\" 2>/dev/null\n"
        "[ \"$1\" = list-unit-files ] && echo 'var-swapfile.swap enabled enabled'\n"
        "exit 0\n")
    (bindir / "systemctl").chmod(0o755)
    etc = tmp_path / "etc-systemd"
    (etc / "swap.target.wants").mkdir(parents=True)
    (etc / "local-fs.target.requires").mkdir(parents=True)
    (etc / "swap.target.wants" / "dev-zram0.swap").symlink_to("/usr/lib/x/dev-zram0.swap")
    (etc / "local-fs.target.requires" / "dev-sdb2.swap").symlink_to("/nowhere")
    (etc / "swap.target.wants" / "also-dev-zram0.service").symlink_to("/nowhere")
    run_dir = "mkdir -p /run/systemd/system; " if booted else ""
    script = (f"set -e; mount --make-rprivate /; mount -t tmpfs kaudit-test /run; {run_dir}"
              f"mount --bind {shlex.quote(str(etc))} "
              "/etc/systemd/system; exec sh -s")
    env = {**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], input=probe_script(),
                          capture_output=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    facts, _ = parse_probe_output(proc.stdout)
    if booted:
        assert facts["swap"]["units_enabled"] == ["var-swapfile.swap"]
        assert (calls / "list-unit-files").exists()
    else:
        assert facts["swap"]["units_enabled"] == ["dev-zram0.swap", "dev-sdb2.swap"]
        assert not (calls / "list-unit-files").exists()
