"""The lab: a bridge in a lab network namespace with no route out, one network
namespace per fleet host (veth, own address, own sshd in its own file view),
and teardown of everything it made."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import boot, pki, rootfs
from .fleet import Fleet, HostSpec
from .hostview import build_upper, render
from .run import LabError, run

PREFIX = "kaudit-lab-"
STATE = "lab-state.json"


def ssh_argv(lab_ns: str, key: Path, known_hosts: Path, address: str,
             *command: str) -> list[str]:
    """argv for a command on a lab host over its own sshd, from the lab namespace."""
    return ["ip", "netns", "exec", lab_ns, "ssh", "-q", "-i", str(key), "-o",
            f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", f"root@{address}", *command]


@dataclass
class Disk:
    mountpoint: str
    loop: str
    uuid: str
    rotational: bool       # what sysfs says, not what the fleet asked for


@dataclass
class Lab:
    """A running lab for one fleet; `down()` undoes all of it (idempotent)."""

    fleet: Fleet
    prefix: str = field(default_factory=lambda: f"{PREFIX}{os.getpid()}-")
    workdir: Path = field(default_factory=Path)
    namespaces: list[str] = field(default_factory=list)
    loops: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    disks: dict[str, dict[str, Disk]] = field(default_factory=dict)
    client_key: Path = field(default_factory=Path)
    known_hosts: Path = field(default_factory=Path)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def lab_ns(self) -> str:
        return f"{self.prefix}lab"

    def ns(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def in_lab(self, *args: str) -> list[str]:
        """argv that runs a command inside the lab namespace (the scanner's seat)."""
        return ["ip", "netns", "exec", self.lab_ns, *args]

    # -- state, so that `python -m tests.lab down` finds labs built by hand
    def _save(self) -> None:
        state = {"prefix": self.prefix, "namespaces": self.namespaces, "loops": self.loops,
                 "pids": self.pids, "fleet": str(self.fleet.path)}
        tmp = self.workdir / f"{STATE}.tmp"
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.workdir / STATE)

    def up(self, timeout: float | None = None) -> Lab:
        """Build the whole lab; on any failure everything made so far is removed."""
        self.workdir = Path(tempfile.mkdtemp(prefix=self.prefix))
        os.chmod(self.workdir, 0o755)
        try:
            self._up(timeout or 120.0)
        except BaseException:
            self.down()
            raise
        return self

    def _up(self, timeout: float) -> None:
        f = self.fleet
        self._save()
        plen = f.cidr.prefixlen
        self._add_ns(self.lab_ns)
        run(["ip", "-n", self.lab_ns, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", self.lab_ns, "addr", "add", f"{f.scanner}/{plen}", "dev", "br0"])
        run(["ip", "-n", self.lab_ns, "link", "set", "br0", "up"])
        for name, addrs in f.squatters.items():
            self._add_member(name, [ipaddress.ip_interface(a).with_prefixlen for a in addrs])
        for h in f.hosts:
            extra = [str(a) for a in h.spec.get("extra_addresses") or []]
            self._add_member(h.name, [f"{h.address}/{plen}", *extra])
            for key, value in (h.spec.get("sysctls") or {}).items():
                # ip_forward and friends are per network namespace: set for real.
                run(["ip", "netns", "exec", self.ns(h.name), "sh", "-c",
                     'printf "%s\\n" "$2" > "/proc/sys/$1"', "sh",
                     str(key).replace(".", "/"), str(value)])
        self.client_key = self.workdir / "id_lab"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kaudit-lab",
             "-f", str(self.client_key)])
        known = []
        started = []
        root = rootfs.ensure()
        ca = pki.make_ca() if any(h.spec.get("pki") for h in f.hosts) else None
        for h in f.hosts:
            (self.workdir / h.name / "t").mkdir(parents=True)
            (self.workdir / h.name / "merged").mkdir()
        self._make_disks()
        for h in f.hosts:
            hostdir = self.workdir / h.name
            key = hostdir / "ssh_host_ed25519_key"
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", h.name, "-f", str(key)])
            known.append(f"{h.address} {' '.join(Path(f'{key}.pub').read_text().split()[:2])}\n")
            loops = {mp: d.loop for mp, d in self.disks.get(h.name, {}).items()}
            values = self.values(h)
            client_pub = Path(f"{self.client_key}.pub").read_text()
            h.spec["daemons"] = [render(str(d), values) for d in h.spec.get("daemons") or []]
            build_upper(h, hostdir / "upper", values)
            boot.write_units(h, hostdir / "upper", root)
            boot.write_sshd(h, hostdir / "upper", key, client_pub)
            if ca is not None and h.spec.get("pki"):
                boot.write_pki(h, hostdir / "upper", ca[0], ca[1], f.inventory_vars.get("vip"))
            boot.write_proc(h, hostdir / "upper", {
                n: render(str(t), values) for n, t in (h.spec.get("proc") or {}).items()})
            if not h.sshd:
                continue    # the fleet's "unreachable" host: address up, nothing listening
            script = hostdir / "launch.sh"
            script.write_text(boot.boot_script(h, hostdir, root, self.ns(h.name), loops))
            argv = ["unshare", "--mount", "--propagation", "private", "bash", str(script)]
            with open(hostdir / "sshd.log", "wb") as log:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True)
            self.pids.append(proc.pid)
            self.procs[h.name] = proc
            self._save()
            started.append(h)
        self.known_hosts = self.workdir / "known_hosts"
        self.known_hosts.write_text("".join(known))
        self._wait_sshd(started, timeout)
        self._wait_ready(started, timeout)

    def ssh_argv(self, h: HostSpec, command: str) -> list[str]:
        """A command on a lab host over its own sshd, from the lab's seat."""
        return ssh_argv(self.lab_ns, self.client_key, self.known_hosts, h.address, command)

    def _settle(self, h: HostSpec) -> None:
        """Wait for the host's boot to finish. A unit that failed at boot with status
        219/CGROUP (systemd could not set up its cgroup: seen in about one of ten
        cold boots of several containers at once on this cgroup-v1 machine) is
        started again, once, and said on stderr; any other failure stays."""
        cp = run(self.ssh_argv(h, "systemctl is-system-running --wait"), check=False,
                 timeout=90)
        if cp.stdout.strip() != "degraded":
            return
        listing = run(self.ssh_argv(h, "for u in $(systemctl --failed --no-legend --plain "
                                       "| cut -d' ' -f1); do echo $u "
                                       "$(systemctl show -p ExecMainStatus --value $u); done"),
                      check=False, timeout=30).stdout
        again = [u for u, _, status in (ln.partition(" ") for ln in listing.splitlines())
                 if status.strip() == "219"]
        if again:
            sys.stderr.write(f"lab: {h.name}: {' '.join(again)} failed at boot with "
                             "219/CGROUP; started again\n")
            run(self.ssh_argv(h, "systemctl restart " + " ".join(again)), check=False,
                timeout=60)

    def _wait_ready(self, hosts: list[HostSpec], timeout: float) -> None:
        """Until every host's `ready` commands succeed (a booted host's services
        settle after sshd is up: chrony synchronising, keepalived electing)."""
        end = time.monotonic() + timeout
        for h in hosts:
            self._settle(h)
            for raw in h.spec.get("ready") or []:
                command = render(str(raw), self.values(h))
                while run(self.ssh_argv(h, command), check=False, timeout=15).returncode:
                    if time.monotonic() > end:
                        raise LabError(f"{h.name} not ready after {timeout:.0f} s: {command}")
                    time.sleep(1)

    def values(self, h: HostSpec) -> dict[str, str]:
        """Placeholders for fleet text: ${name}, ${address}, ${hosts_file}, ${uuid:/mp},
        ${var.NAME} (inventory vars), ${host.NAME} (the host's own `vars`)."""
        hosts = "127.0.0.1 localhost localhost.localdomain\n" + "".join(
            f"{a} {n}\n" for n, a, _ in self.fleet.inventory_hosts())
        vals = {"name": h.name, "address": h.address, "hosts_file": hosts,
                "kernel": os.uname().release,
                **{f"host.{k}": str(v) for k, v in (h.spec.get("vars") or {}).items()},
                **{f"var.{k}": v for k, v in self.fleet.inventory_vars.items()}}
        for mp, d in self.disks.get(h.name, {}).items():
            vals[f"uuid:{mp}"] = d.uuid
        for other in self.fleet.hosts:
            vals[f"address:{other.name}"] = other.address
        return vals

    def _add_ns(self, name: str) -> None:
        run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        self._save()
        run(["ip", "-n", name, "link", "set", "lo", "up"])

    def _add_member(self, name: str, addrs: list[str]) -> None:
        """A namespace on the lab bridge; its only routes are the on-link ones."""
        ns = self.ns(name)
        self._add_ns(ns)
        peer = f"v{len(self.namespaces):02d}"
        run(["ip", "-n", self.lab_ns, "link", "add", peer, "type", "veth",
             "peer", "name", "eth0", "netns", ns])
        run(["ip", "-n", self.lab_ns, "link", "set", peer, "master", "br0", "up"])
        for a in addrs:
            run(["ip", "-n", ns, "addr", "add", a, "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])

    def _make_disks(self) -> None:
        """Sparse file -> loop device -> ext4 for every fleet disk (mkfs in parallel);
        rotational is set as the fleet asks, then the truth is read back from sysfs."""
        jobs = []
        for h in self.fleet.hosts:
            for i, (mp, d) in enumerate((h.spec.get("disks") or {}).items()):
                img = self.workdir / h.name / f"disk{i}.img"
                with open(img, "wb") as fh:
                    fh.truncate(int(float(d.get("size_gb", 1)) * 1024**3))
                dev = run(["losetup", "--find", "--show", str(img)]).stdout.strip()
                self.loops.append(dev)
                self._save()
                fs_uuid = str(uuid.uuid4())
                # Few inodes and lazy init: a "500 GB" disk costs a few MB of /tmp.
                jobs.append((h, mp, d, dev, fs_uuid, subprocess.Popen(
                    ["mkfs.ext4", "-q", "-F", "-N", "4096", "-U", fs_uuid, "-E",
                     "lazy_itable_init=1,lazy_journal_init=1,nodiscard", dev],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)))
        for h, mp, d, dev, fs_uuid, proc in jobs:
            try:
                out, _ = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise LabError(f"mkfs.ext4 {dev} timed out") from None
            if proc.returncode != 0:
                raise LabError(f"mkfs.ext4 {dev}: {out.decode(errors='replace')[-500:]}")
            sysfs = Path(f"/sys/block/{Path(dev).name}/queue/rotational")
            want = d.get("rotational")
            if want is not None:
                # The kernel decides; the truth is read back below.
                with contextlib.suppress(OSError):
                    sysfs.write_text("1\n" if want else "0\n")
            truth = sysfs.read_text().strip() == "1"
            self.disks.setdefault(h.name, {})[mp] = Disk(mp, dev, fs_uuid, truth)

    def _wait_sshd(self, hosts: list[HostSpec], timeout: float) -> None:
        """Until every started sshd says SSH- to a client in the lab namespace."""
        end = time.monotonic() + timeout
        pending = list(hosts)
        while pending:
            h = pending[0]
            cp = run(self.in_lab("timeout", "2", "bash", "-c",
                                 'exec 3<>"/dev/tcp/$1/22" && head -c 4 <&3', "lab",
                                 h.address), check=False, timeout=5)
            if cp.stdout.startswith("SSH-"):
                pending.pop(0)
                continue
            exited = self.procs[h.name].poll() is not None
            if exited or time.monotonic() > end:
                log = (self.workdir / h.name / "sshd.log").read_text(errors="replace")
                why = "exited" if exited else "did not come up"
                raise LabError(f"sshd of {h.name} {why}: {log[-1500:]}")
            time.sleep(0.1)

    def down(self) -> None:
        """Remove processes, loop devices, namespaces and the work dir (safe to repeat)."""
        down_state(self.prefix, self.namespaces, self.loops, self.pids)
        if self.workdir != Path() and self.workdir.name.startswith(PREFIX):
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.namespaces, self.loops, self.pids = [], [], []

    def __enter__(self) -> Lab:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()


def _alive(pid: int) -> bool:
    """Running, not a zombie (an orphan's reaper may be slow to collect it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _net_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def down_state(prefix: str, namespaces: list[str], loops: list[str], pids: list[int]) -> None:
    """Tear down what one lab recorded. Only our own names and pids are touched."""
    ours = [n for n in namespaces if n.startswith(prefix)]
    inodes = set()
    for ns in ours:
        with contextlib.suppress(OSError):
            inodes.add(os.stat(f"/run/netns/{ns}").st_ino)
    # A recorded pid counts only while it is still inside one of our namespaces
    # (a pid may have been reused since the lab was built).
    victims = {p for p in pids if _net_inode(p) in inodes}
    for ns in ours:
        # Every process inside our namespaces was started by the lab.
        cp = run(["ip", "netns", "pids", ns], check=False, timeout=10)
        victims |= {int(p) for p in cp.stdout.split() if p.isdigit()}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        end = time.monotonic() + 5
        while any(_alive(p) for p in victims) and time.monotonic() < end:
            for p in victims:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(p, os.WNOHANG)   # reap our own children
            time.sleep(0.05)
        victims = {p for p in victims if _alive(p)}
        if not victims:
            break
    for dev in loops:
        # A mount namespace may linger a moment after its last process; losetup -d
        # then marks the device autoclear and the kernel frees it on release.
        run(["losetup", "-d", dev], check=False, timeout=10)
    for ns in reversed(ours):
        run(["ip", "netns", "del", ns], check=False, timeout=10)


def down_all(prefix: str = PREFIX) -> list[str]:
    """Tear down every lab whose names start with `prefix`; returns the prefixes removed."""
    removed = []
    for state in sorted(Path(tempfile.gettempdir()).glob(f"{prefix}*/{STATE}")):
        try:
            data: dict[str, Any] = json.loads(state.read_text())
        except (OSError, ValueError):
            continue
        if not str(data.get("prefix", "")).startswith(prefix):
            continue
        down_state(data["prefix"], data["namespaces"], data["loops"], data["pids"])
        shutil.rmtree(state.parent, ignore_errors=True)
        removed.append(data["prefix"])
    # Namespaces whose state file is gone (a crash mid-way) are ours by name.
    cp = run(["ip", "netns", "list"], check=False)
    stray = [ln.split()[0] for ln in cp.stdout.splitlines()
             if ln.split() and ln.split()[0].startswith(prefix)]
    if stray:
        down_state(prefix, stray, [], [])
        removed += stray
    return removed
