#!/usr/bin/env python3
"""Fan-out benchmark: the kaudit probe on N real OpenSSH hosts on loopback, run by
`kaudit collect` and by peers (`xargs -P ssh`, `ansible -m raw`, `parallel-ssh`).

Needs root (sshd switches to the test user) and OpenSSH. Every process this
script starts is stopped by pid on exit (finally, atexit, SIGTERM/SIGINT).
See bench/README.md.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"
USER = "kaudit-test"
PER_SSHD = 16                  # sshd's MAX_LISTEN_SOCKS
# Both names of the same algorithm: paramiko knows only the libssh.org one.
KEX = "curve25519-sha256,curve25519-sha256@libssh.org"
HOSTKEY_ALG = "ssh-ed25519"
PEERS = ("kaudit", "xargs", "ansible", "pssh")
TOOLS = Path(tempfile.gettempdir()) / "kaudit-bench-tools"

_started: list[subprocess.Popen[bytes]] = []   # everything we must stop


def _stop_all() -> None:
    """Stop every process this script started (by pid / its own process group)."""
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                # Peers run in their own session: their group id is their pid.
                os.killpg(proc.pid, signal.SIGTERM) if _own_group(proc) else proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL) if _own_group(proc) else proc.kill()
                proc.wait()


def _own_group(proc: subprocess.Popen[bytes]) -> bool:
    try:
        return os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        return False


def _on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


# -- the fleet ---------------------------------------------------------------------

def _addr(i: int) -> str:
    # 127.77.0.0/16: clear of 127.0.0.x (tests) and 127.0.1.1 (Debian's hostname line).
    return f"127.77.{i // 250}.{i % 250 + 1}"


def _keygen(path: Path, comment: str) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", str(path)], check=True, capture_output=True)
    return path


def _ensure_user() -> None:
    if subprocess.run(["id", "-u", USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", USER], check=True,
                       capture_output=True)
    # Locked ("!") accounts are refused by sshd without PAM even for keys.
    subprocess.run(["usermod", "-s", "/bin/sh", "-p", "*", USER], check=True,
                   capture_output=True)


@dataclass
class Fleet:
    """N host aliases served by ceil(N/16) sshd processes."""

    dir: Path
    addresses: list[str]
    port: int
    key: Path
    known_hosts: Path
    ssh_config: Path
    sshds: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [f"h{i:04d}" for i in range(len(self.addresses))]


def start_fleet(work: Path, n: int, port: int) -> Fleet:
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    _ensure_user()
    hostkey = _keygen(work / "ssh_host_ed25519_key", "bench-host")
    key = _keygen(work / "id_bench", "bench-client")
    auth = work / "authorized_keys"
    auth.write_text(Path(f"{key}.pub").read_text())
    os.chmod(work, 0o755)
    os.chmod(auth, 0o644)
    addresses = [_addr(i) for i in range(n)]
    pub = " ".join(Path(f"{hostkey}.pub").read_text().split()[:2])
    kh = work / "known_hosts"
    kh.write_text("".join(f"[{a}]:{port} {pub}\n" for a in addresses))
    cfg = work / "ssh_config"
    cfg.write_text(
        "Host *\n"
        f"  User {USER}\n  Port {port}\n  IdentityFile {key}\n  IdentitiesOnly yes\n"
        f"  IdentityAgent none\n  BatchMode yes\n  UserKnownHostsFile {kh}\n"
        "  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n"
        f"  KexAlgorithms {KEX}\n  HostKeyAlgorithms {HOSTKEY_ALG}\n"
        "  ControlMaster no\n  ControlPath none\n  LogLevel ERROR\n  ConnectTimeout 30\n")
    fleet = Fleet(work, addresses, port, key, kh, cfg)
    for g in range(0, n, PER_SSHD):
        group = addresses[g:g + PER_SSHD]
        conf = work / f"sshd_{g // PER_SSHD:03d}.conf"
        conf.write_text(
            "".join(f"ListenAddress {a}:{port}\n" for a in group)
            + f"HostKey {hostkey}\nPidFile none\nAuthorizedKeysFile {auth}\n"
            f"KexAlgorithms {KEX}\nHostKeyAlgorithms {HOSTKEY_ALG}\n"
            "UsePAM no\nUseDNS no\nStrictModes no\nMaxStartups 1024\nMaxSessions 10\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PermitRootLogin no\nLogLevel ERROR\nPrintMotd no\nPrintLastLog no\n")
        log = open(work / f"sshd_{g // PER_SSHD:03d}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(conf)], stdout=log,
                                stderr=subprocess.STDOUT)
        log.close()
        _started.append(proc)
        fleet.sshds.append(proc)
    _wait_banners(addresses, port)
    return fleet


def _wait_banners(addresses: list[str], port: int, timeout: float = 30.0) -> None:
    def one(addr: str) -> None:
        end = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((addr, port), timeout=2) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            if time.monotonic() > end:
                raise RuntimeError(f"sshd on {addr}:{port} did not come up")
            time.sleep(0.05)

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(one, addresses))


# -- peers -------------------------------------------------------------------------

@dataclass
class Run:
    wall_s: float
    cpu_s: float           # user + sys of the whole client process tree
    maxrss_kb: int         # largest single process of the tree
    failures: int
    exit_status: int


@dataclass
class Peer:
    name: str
    argv: list[str]
    stdin: Path | None
    env: dict[str, str]
    failures: Callable[[Path, int], int]   # (output dir, exit status) -> failed hosts
    out: Path


def measure(peer: Peer, n: int) -> Run:
    """One timed run; rusage from wait4 on the peer's pid covers its reaped children."""
    shutil.rmtree(peer.out, ignore_errors=True)
    peer.out.mkdir(parents=True)
    stdin = open(peer.stdin, "rb") if peer.stdin else subprocess.DEVNULL  # noqa: SIM115
    stdout = open(peer.out / "_stdout", "wb")  # noqa: SIM115
    stderr = open(peer.out / "_stderr", "wb")  # noqa: SIM115
    start = time.monotonic()
    try:
        proc = subprocess.Popen(peer.argv, stdin=stdin, stdout=stdout, stderr=stderr,
                                env=peer.env, cwd=peer.out, start_new_session=True)
    finally:
        for f in (stdin, stdout, stderr):
            if f is not subprocess.DEVNULL:
                f.close()  # type: ignore[union-attr]
    _started.append(proc)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    _started.remove(proc)
    return Run(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss,
               peer.failures(peer.out, proc.returncode), proc.returncode)


def _ok_output(data: bytes) -> bool:
    return data.startswith(b"KAUDIT-PROBE ") and b"\n@@kaudit:end " in data


def kaudit_peer(fleet: Fleet, work: Path, conc: int, kaudit: Path) -> Peer:
    inv = work / "inventory.ini"
    inv.write_text("[nodes]\n" + "".join(
        f"{name} ansible_host={a} ansible_port={fleet.port}\n"
        for name, a in zip(fleet.names, fleet.addresses, strict=True)))
    out = work / "out-kaudit"
    argv = [str(kaudit), "collect", str(inv), "-o", str(out / "facts.json"), "-j", str(conc),
            "--known-hosts", str(fleet.known_hosts), "-i", str(fleet.key), "-u", USER,
            "--ssh-config", str(work / "empty_ssh_config"), "--no-progress",
            "--var", "vip=127.0.0.1"]
    (work / "empty_ssh_config").write_text("")

    def failures(d: Path, _rc: int) -> int:
        try:
            data = json.loads((d / "facts.json").read_text())
        except (OSError, ValueError):
            return len(fleet.addresses)
        hosts = data.get("hosts", [])
        bad = sum(1 for h in hosts if h.get("status") != "ok")
        return bad + max(0, len(fleet.addresses) - len(hosts))

    return Peer("kaudit", argv, None, _env(), failures, out)


def probe_remote_command(work: Path) -> str:
    """The exact command kaudit runs for the inventory's cluster vars."""
    from kaudit.collect.probe import probe_args, probe_command
    from kaudit.inventory import load_inventory

    inv = load_inventory(str(work / "inventory.ini"), {"vip": "127.0.0.1"})
    return probe_command(probe_args(dict(inv.vars)), sudo=False)


def xargs_peer(fleet: Fleet, work: Path, conc: int, command: str, probe: Path) -> Peer:
    hosts = work / "hosts.txt"
    hosts.write_text("".join(f"{a}\n" for a in fleet.addresses))
    out = work / "out-xargs"
    # One `sh` per host only to give each ssh its own stdin (the probe) and output
    # file; it execs ssh, so the process count per host stays one.
    inner = (f"exec ssh -F {shlex.quote(str(fleet.ssh_config))} \"$1\" "
             f"{shlex.quote(command)} <{shlex.quote(str(probe))} >\"$1.out\" 2>\"$1.err\"")
    argv = ["xargs", "-a", str(hosts), "-P", str(conc), "-n", "1", "sh", "-c", inner, "sh"]

    def failures(d: Path, _rc: int) -> int:
        return sum(1 for a in fleet.addresses if not _ok_file(d / f"{a}.out"))

    return Peer("xargs", argv, None, _env(), failures, out)


def _ok_file(p: Path) -> bool:
    try:
        return _ok_output(p.read_bytes())
    except OSError:
        return False


def pssh_peer(fleet: Fleet, work: Path, conc: int, command: str, probe: Path,
              binary: str) -> Peer:
    hosts = work / "pssh-hosts.txt"
    hosts.write_text("".join(f"{USER}@{a}:{fleet.port}\n" for a in fleet.addresses))
    out = work / "out-pssh"
    argv = [binary, "-h", str(hosts), "-p", str(conc), "-t", "0", "-o", str(out / "o"),
            "-e", str(out / "e"), "-I", "-x", f"-F {fleet.ssh_config}", command]

    def failures(d: Path, _rc: int) -> int:
        return sum(1 for a in fleet.addresses if not _ok_file(d / "o" / f"{USER}@{a}:{fleet.port}"))

    return Peer("pssh", argv, probe, _env(), failures, out)


def ansible_peer(fleet: Fleet, work: Path, conc: int, command: str, probe: Path,
                 binary: Path) -> Peer:
    inv = work / "ansible-inventory.ini"
    inv.write_text("[nodes]\n" + "".join(
        f"{name} ansible_host={a} ansible_port={fleet.port}\n"
        for name, a in zip(fleet.names, fleet.addresses, strict=True)))
    # raw has no stdin, and ansible templates its arguments (the script's `${#x}`
    # reads as a Jinja comment): the script travels base64-encoded in the command
    # and reaches the same `sh -s -- ARGS` on stdin, as with every other peer.
    b64 = base64.b64encode(probe.read_bytes()).decode()
    remote = f"echo {b64} | base64 -d | {command}"
    out = work / "out-ansible"
    env = _env()
    env.update({
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        # One connection per host, like every other peer: no ControlPersist master
        # (a detached master would also escape the rusage accounting).
        "ANSIBLE_SSH_ARGS": f"-F {fleet.ssh_config} -o ControlMaster=no",
        "ANSIBLE_LOCAL_TEMP": str(work / "ansible-tmp"),
        "ANSIBLE_HOME": str(work / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_GATHERING": "explicit", "ANSIBLE_TIMEOUT": "30",
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "oneline",
        "ANSIBLE_SSH_USETTY": "False",   # raw asks for a tty by default; no peer gets one
    })
    argv = [str(binary), "all", "-i", str(inv), "-m", "raw", "-a", remote, "-f", str(conc),
            "-u", USER, "--private-key", str(fleet.key)]

    def failures(d: Path, _rc: int) -> int:
        ok = set()
        for line in (d / "_stdout").read_bytes().splitlines():
            name, _, rest = line.partition(b" | ")
            if rest.startswith((b"CHANGED | rc=0", b"SUCCESS | rc=0")) and \
                    b"KAUDIT-PROBE " in rest and b"@@kaudit:end " in rest:
                ok.add(name.decode())
        return sum(1 for n in fleet.names if n not in ok)

    return Peer("ansible", argv, None, env, failures, out)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    env["HOME"] = os.environ.get("HOME", "/root")
    return env


def find_ansible(given: str | None) -> tuple[Path | None, str]:
    """An `ansible` binary: --ansible, else a venv under the tools dir (made if missing)."""
    if given:
        p = Path(given)
        return (p, "") if p.exists() else (None, f"--ansible {given} does not exist")
    venv = TOOLS / "ansible-venv"
    binary = venv / "bin" / "ansible"
    if not binary.exists():
        print(f"installing ansible-core into {venv} ...", file=sys.stderr)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "ansible-core"],
                           check=True)
        except (subprocess.CalledProcessError, OSError) as e:
            return None, f"could not install ansible-core ({e})"
    return binary, ""


def find_pssh() -> tuple[str | None, str]:
    for name in ("parallel-ssh", "pssh"):
        if shutil.which(name):
            return shutil.which(name), ""
    if shutil.which("apt-get"):
        print("installing pssh (apt-get) ...", file=sys.stderr)
        r = subprocess.run(["apt-get", "install", "-y", "-q", "pssh"], capture_output=True,
                           env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if r.returncode == 0 and shutil.which("parallel-ssh"):
            return shutil.which("parallel-ssh"), ""
        return None, "apt-get install pssh failed"
    return None, "parallel-ssh not installed and no apt-get"


# -- main --------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default=",".join(PEERS),
                    help="comma-separated subset of " + ",".join(PEERS))
    ap.add_argument("--port", type=int, default=2222, help="sshd port on every alias")
    ap.add_argument("--ansible", help="ansible binary (default: a venv under the temp dir)")
    ap.add_argument("--kaudit", help="kaudit console script (default: beside this Python)")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (outputs, logs)")
    a = ap.parse_args(argv)
    only = [p.strip() for p in a.only.split(",") if p.strip()]
    unknown = set(only) - set(PEERS)
    if unknown or a.hosts < 1 or a.concurrency < 1 or a.runs < 1:
        ap.error(f"bad arguments (unknown peers: {sorted(unknown)})" if unknown
                 else "--hosts, --concurrency and --runs must be >= 1")
    if os.geteuid() != 0:
        print("fanout: needs root (sshd must switch to the test user)", file=sys.stderr)
        return 2
    if not os.path.exists(SSHD) or not shutil.which("ssh-keygen"):
        print("fanout: OpenSSH server (sshd, ssh-keygen) is not installed", file=sys.stderr)
        return 2

    atexit.register(_stop_all)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _on_signal)
    work = Path(tempfile.mkdtemp(prefix="kaudit-bench-"))
    try:
        return _bench(a, only, work)
    finally:
        _stop_all()
        if a.keep:
            print(f"work dir kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def _bench(a: argparse.Namespace, only: list[str], work: Path) -> int:
    kaudit = Path(a.kaudit) if a.kaudit else Path(sys.executable).parent / "kaudit"
    probe = Path(__file__).resolve().parent.parent / "kaudit" / "collect" / "probe.sh"
    if not probe.exists():
        from kaudit.collect.probe import probe_script
        probe = work / "probe.sh"
        probe.write_bytes(probe_script())
    t0 = time.monotonic()
    fleet = start_fleet(work, a.hosts, a.port)
    print(f"fleet: {a.hosts} hosts on {len(fleet.sshds)} sshd processes, port {a.port}, "
          f"up in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    kpeer = kaudit_peer(fleet, work, a.concurrency, kaudit)
    command = probe_remote_command(work)
    peers: list[Peer] = []
    skipped: dict[str, str] = {}
    for name in only:
        if name == "kaudit":
            peers.append(kpeer)
        elif name == "xargs":
            peers.append(xargs_peer(fleet, work, a.concurrency, command, probe))
        elif name == "ansible":
            binary, why = find_ansible(a.ansible)
            if binary is None:
                skipped[name] = why
            else:
                peers.append(ansible_peer(fleet, work, a.concurrency, command, probe, binary))
        elif name == "pssh":
            pbin, why = find_pssh()
            if pbin is None:
                skipped[name] = why
            else:
                peers.append(pssh_peer(fleet, work, a.concurrency, command, probe, pbin))
    for name, why in skipped.items():
        print(f"skipping {name}: {why}", file=sys.stderr)

    runs: dict[str, list[Run]] = {p.name: [] for p in peers}
    for r in range(a.runs):          # interleaved, so drift hits every peer alike
        for p in peers:
            run = measure(p, a.hosts)
            runs[p.name].append(run)
            print(f"run {r + 1}/{a.runs} {p.name:8s} wall {run.wall_s:7.2f}s  cpu "
                  f"{run.cpu_s:7.2f}s  failures {run.failures}  exit {run.exit_status}",
                  file=sys.stderr)
            if run.failures:
                err = (p.out / "_stderr").read_bytes()[-800:].decode("utf-8", "replace")
                print(f"  {p.name} stderr tail: {err}", file=sys.stderr)

    summary = {name: _summary(rs, a.hosts) for name, rs in runs.items()}
    _print(summary, a, skipped)
    if a.json:
        Path(a.json).write_text(json.dumps({
            "hosts": a.hosts, "concurrency": a.concurrency, "runs": a.runs,
            "command": command, "skipped": skipped, "summary": summary,
            "raw": {n: [asdict(r) for r in rs] for n, rs in runs.items()},
        }, indent=2) + "\n")
    return 1 if any(s["failures"] for s in summary.values()) else 0


def _summary(rs: list[Run], n: int) -> dict[str, float]:
    wall = statistics.median(r.wall_s for r in rs)
    cpu = statistics.median(r.cpu_s for r in rs)
    return {"wall_s": round(wall, 3), "hosts_per_s": round(n / wall, 2),
            "cpu_ms_per_host": round(cpu / n * 1000, 2),
            "peak_rss_mb": round(max(r.maxrss_kb for r in rs) / 1024, 1),
            "failures": max(r.failures for r in rs)}


def _print(summary: dict[str, dict[str, float]], a: argparse.Namespace,
           skipped: dict[str, str]) -> None:
    print(f"\nN={a.hosts} C={a.concurrency} runs={a.runs} (median wall and CPU; "
          f"RSS = largest single client process)")
    print(f"{'peer':8s} {'wall s':>8s} {'hosts/s':>8s} {'cpu ms/host':>12s} "
          f"{'peak RSS MB':>12s} {'failures':>9s}")
    for name, s in summary.items():
        print(f"{name:8s} {s['wall_s']:8.2f} {s['hosts_per_s']:8.1f} "
              f"{s['cpu_ms_per_host']:12.2f} {s['peak_rss_mb']:12.1f} {s['failures']:9d}")
    for name, why in skipped.items():
        print(f"{name:8s} skipped: {why}")
    k = summary.get("kaudit")
    if k is None:
        return
    for name, s in summary.items():
        if name == "kaudit":
            continue
        print(f"kaudit/{name}: wall {k['wall_s'] / s['wall_s']:.2f}x, "
              f"cpu/host {k['cpu_ms_per_host'] / max(s['cpu_ms_per_host'], 1e-9):.2f}x")


if __name__ == "__main__":
    sys.exit(main())
