"""Booted lab hosts: the shared Debian root
(rootfs.py) under an overlay of the host's own files, booted by systemd-nspawn
with systemd as PID 1 inside the host's network namespace. Services are real
units of real Debian packages; the fleet's `services:` says which are enabled
and which run, and systemd itself answers `systemctl`.

What the fleet asks of a unit no Debian package provides (kubelet) is played by
a stand-in unit that sleeps, so its state is still systemd's answer.
"""

from __future__ import annotations

import os
import resource
import shlex
from pathlib import Path
from typing import Any

from . import pki
from .fleet import HostSpec
from .hostview import _write
from .rootfs import PACKAGE_UNITS

UNIT_DIR = "etc/systemd/system"
WANTS = f"{UNIT_DIR}/multi-user.target.wants"
SSHD_CONFIG = """\
ListenAddress {address}:22
HostKey /etc/ssh/ssh_host_ed25519_key
AuthorizedKeysFile /etc/ssh/kaudit-lab/authorized_keys
UseDNS no
MaxStartups 100
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
"""
# The kubelet stand-in answers the kubelet's health endpoint as the kubelet does.
KUBELET_STANDIN_PY = """\
import http.server


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/healthz"
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b"ok" if ok else b"404 page not found")


http.server.HTTPServer(("127.0.0.1", 10248), Handler).serve_forever()
"""
KUBELET_STANDIN = "/usr/bin/python3 /usr/local/lib/kaudit-lab/kubelet-standin.py"
# Units of the root's packages, where Debian names them differently.
PACKAGE_UNIT_NAMES = {"chronyd": "chrony", "sshd": "ssh"}


def _unit_file(name: str) -> str:
    return name if name.endswith((".service", ".socket", ".timer")) else f"{name}.service"


def _packaged(name: str) -> bool:
    return name.removesuffix(".service") in PACKAGE_UNITS


def _aliases(root: Path, unit: str) -> list[str]:
    """The unit's [Install] Alias= names (rsyslog.service is syslog.service)."""
    try:
        text = (root / "lib/systemd/system" / unit).read_text()
    except OSError:
        return []
    return [a for line in text.splitlines() if line.startswith("Alias=")
            for a in line.split("=", 1)[1].split()]


def write_units(host: HostSpec, upper: Path, root: Path) -> None:
    """Enable, start, hold back or stand in for every unit the fleet names, as
    `systemctl enable` would (the wants link and the unit's aliases)."""
    spec = host.spec
    # nspawn mounts the root; the fleet's /etc/fstab names the hosts' planned disks.
    (upper / UNIT_DIR).mkdir(parents=True, exist_ok=True)
    os.symlink("/dev/null", upper / UNIT_DIR / "systemd-remount-fs.service")
    services: dict[str, Any] = dict(spec.get("services") or {})
    services.setdefault("ssh", ["active", "enabled"])
    start: list[str] = []
    for raw, state in sorted(services.items()):
        name = PACKAGE_UNIT_NAMES.get(raw, raw)
        unit = _unit_file(name)
        active, enabled = str(state[0]), str(state[1])
        if not _packaged(name):
            # No package ships it: a unit plays it (the kubelet's answers its healthz).
            run = KUBELET_STANDIN if name == "kubelet" else "/bin/sleep infinity"
            if name == "kubelet":
                _write(upper / "usr/local/lib/kaudit-lab/kubelet-standin.py", KUBELET_STANDIN_PY)
            _write(upper / UNIT_DIR / unit,
                   f"[Unit]\nDescription=kaudit lab stand-in for {name}\n"
                   f"[Service]\nExecStart={run}\n"
                   "[Install]\nWantedBy=multi-user.target\n")
        target = f"/{UNIT_DIR}/{unit}" if not _packaged(name) else f"/lib/systemd/system/{unit}"
        if enabled == "enabled":
            link = upper / WANTS / unit
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                os.symlink(target, link)
            for alias in _aliases(root, unit):
                (upper / UNIT_DIR).mkdir(parents=True, exist_ok=True)
                if not (upper / UNIT_DIR / alias).is_symlink():
                    os.symlink(target, upper / UNIT_DIR / alias)
        elif enabled == "masked":
            (upper / UNIT_DIR).mkdir(parents=True, exist_ok=True)
            os.symlink("/dev/null", upper / UNIT_DIR / unit)
        if active == "active" and enabled != "enabled":
            start.append(unit)          # running but not enabled: started by the lab
        elif active != "active" and enabled == "enabled":
            # Enabled, yet not running: a condition no lab host meets holds it back.
            # (named to sort last: an empty Condition...= in an earlier drop-in resets
            # the list, as the lab root's chrony drop-in does)
            _write(upper / UNIT_DIR / f"{unit}.d" / "zz-kaudit-lab-held.conf",
                   "[Unit]\nConditionPathExists=/run/kaudit-lab/never\n")
    for i, cmd in enumerate(spec.get("daemons") or []):
        unit = f"kaudit-lab-daemon-{i}.service"
        _write(upper / UNIT_DIR / unit,
               "[Unit]\nDescription=kaudit lab daemon\nAfter=network.target\n"
               f"[Service]\nExecStart=/bin/sh -c {shlex.quote(str(cmd))}\nRestart=on-failure\n"
               "[Install]\nWantedBy=multi-user.target\n")
        start.append(unit)
    if start:
        # Pulled in at boot by the target itself: running, yet not enabled (systemctl
        # is-enabled reads [Install] links, which these units do not get).
        _write(upper / UNIT_DIR / "multi-user.target.d" / "kaudit-lab.conf",
               f"[Unit]\nWants={' '.join(start)}\n")


PROC_DIR = "usr/local/lib/kaudit-lab/proc"
# Bind each fleet file over its /proc file. When this kernel lacks one (no
# /proc/modules without module support), /proc becomes a tmpfs of symlinks into
# the container's own /proc, bound recursively with its submounts, so /proc/sys
# stays the read-only mount nspawn made: nothing in a lab host can change this
# machine's kernel settings.
PROC_SCRIPT = """\
set -eu
missing=0
for f in {dir}/*; do [ -e "/proc/${{f##*/}}" ] || missing=1; done
grep -q ' /run/kaudit-lab/proc ' /proc/self/mountinfo 2>/dev/null && exit 0   # restarted
if [ "$missing" = 0 ]; then
    for f in {dir}/*; do mount --bind "$f" "/proc/${{f##*/}}"; done
    exit 0
fi
mkdir -p /run/kaudit-lab/proc
mount --make-rprivate /
mount --rbind /proc /run/kaudit-lab/proc
mount --make-rprivate /run/kaudit-lab/proc
mount -t tmpfs -o mode=555 kaudit-lab-proc /proc
for e in /run/kaudit-lab/proc/*; do
    n=${{e##*/}}
    [ -e "{dir}/$n" ] || ln -s "/run/kaudit-lab/proc/$n" "/proc/$n"
done
cp {dir}/* /proc/
"""


def write_proc(host: HostSpec, upper: Path, texts: dict[str, str]) -> None:
    """What the kernel cannot fake per container (memory size, swap, loaded modules):
    files laid over /proc in sshd's own mount namespace (PrivateMounts=), so the
    probe in a login session sees them while systemd and every other service see
    the kernel's: only the view of a login session is stood in for."""
    if not texts:
        return
    for name, text in texts.items():
        _write(upper / PROC_DIR / name, text)
    _write(upper / f"{PROC_DIR}.sh", PROC_SCRIPT.format(dir=f"/{PROC_DIR}"))
    _write(upper / UNIT_DIR / "ssh.service.d" / "kaudit-lab-proc.conf",
           # One process sets the view up and becomes sshd (ExecStartPre= would get a
           # namespace of its own, gone before sshd starts).
           f"[Service]\nPrivateMounts=yes\nExecStart=\n"
           f"ExecStart=/bin/sh -c '/bin/sh /{PROC_DIR}.sh && exec /usr/sbin/sshd -D $SSHD_OPTS'\n")


def write_sshd(host: HostSpec, upper: Path, host_key: Path, client_pub: str) -> None:
    """The host's own sshd (Debian's ssh.service) with the lab's keys; the fleet's
    `nofile` [soft, hard] is sshd's limit, so login sessions start with it (clamped
    to what the lab itself may grant)."""
    if host.spec.get("nofile"):
        have = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        soft, hard = (min(int(v), have) for v in host.spec["nofile"])
        _write(upper / UNIT_DIR / "ssh.service.d" / "kaudit-lab-limits.conf",
               f"[Service]\nLimitNOFILE={soft}:{hard}\n")
    _write(upper / "etc/ssh/sshd_config.d/kaudit-lab.conf",
           SSHD_CONFIG.format(address=host.address))
    _write(upper / "etc/ssh/kaudit-lab/authorized_keys", client_pub)
    _write(upper / "etc/ssh/ssh_host_ed25519_key", host_key.read_text(), 0o600)
    _write(upper / "etc/ssh/ssh_host_ed25519_key.pub", Path(f"{host_key}.pub").read_text())
    _write(upper / "etc/hostname", host.name + "\n")


def capabilities(host: HostSpec) -> list[str]:
    """keepalived adds the VIP and sends VRRP: CAP_NET_ADMIN and CAP_NET_RAW. Never
    CAP_SYS_TIME: chrony would set this machine's clock."""
    caps = [str(c) for c in host.spec.get("capabilities") or []]
    if "CAP_SYS_TIME" in caps:
        raise ValueError(f"{host.name}: a lab host never gets CAP_SYS_TIME")
    return caps


def boot_script(host: HostSpec, hostdir: Path, root: Path, netns: str,
                loops: dict[str, str]) -> str:
    """The bash script run as `unshare --mount --propagation private bash SCRIPT`."""
    spec = host.spec
    q = shlex.quote
    w = q(str(hostdir))
    m = q(str(hostdir / "merged"))
    lines = [
        "set -eu",
        # nspawn cleans up under /run/systemd, which is no tmpfs on this machine.
        "mkdir -p /run/systemd && mount -t tmpfs -o mode=755 kaudit-lab-rs /run/systemd",
        f"mount -t tmpfs -o mode=755,size={int(spec.get('root_size_gb', 20))}g kaudit-lab {w}/t",
        f"cp -a {w}/upper {w}/t/upper",
        f"mkdir {w}/t/work",
        f"mount -t overlay kaudit-lab -o lowerdir={q(str(root))},upperdir={w}/t/upper,"
        f"workdir={w}/t/work {m}",
    ]
    binds = []
    for i, (mp, dev) in enumerate(loops.items()):
        lines += [f"mkdir -p {w}/disk{i}", f"mount -t ext4 {q(dev)} {w}/disk{i}"]
        binds.append(f"--bind={hostdir}/disk{i}:{mp}")
    for d in spec.get("dirs") or []:
        # A directory on a fleet disk is made on the disk, which nspawn binds over it.
        on = [(i, mp) for i, mp in enumerate(loops) if d.startswith(mp.rstrip("/") + "/")]
        if on:
            i, mp = on[0]
            lines.append(f"mkdir -p {w}/disk{i}/{q(d[len(mp.rstrip('/')) + 1:])}")
        else:
            lines.append(f"mkdir -p {m}{q(d)}")
    if (hostdir / "ondisk").is_dir():
        for i, mp in enumerate(loops):
            src = hostdir / "ondisk" / mp.lstrip("/")
            if src.is_dir():
                lines.append(f"cp -a {q(str(src))}/. {w}/disk{i}/")
    argv = ["systemd-nspawn", "--boot", f"--directory={hostdir / 'merged'}",
            f"--network-namespace-path=/run/netns/{netns}", "--register=no", "--keep-unit",
            f"--machine={host.name}", f"--hostname={host.name}", "--console=passive",
            # The host's own /etc/localtime and resolv.conf, never this machine's.
            "--timezone=off", "--resolv-conf=off",
            *binds]
    caps = capabilities(host)
    if caps:
        argv.append(f"--capability={','.join(caps)}")
    if spec.get("nofile"):
        have = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        soft, hard = (min(int(v), have) for v in spec["nofile"])
        argv.append(f"--rlimit=RLIMIT_NOFILE={soft}:{hard}")
    # The container has this machine's cgroup version: forcing the unified hierarchy
    # (SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1) onto a cgroup v1 machine made oneshot units
    # fail at random (status 219/CGROUP), so kernel.cgroup-v2 is the machine's truth.
    lines.append("exec " + " ".join(q(a) for a in argv))
    return "\n".join(lines) + "\n"




def write_pki(host: HostSpec, upper: Path, ca: pki.Issued, ca_key: Any, vip: str | None) -> None:
    """kubeadm's layout: /etc/kubernetes/pki/{ca,apiserver}.{crt,key}."""
    leaf = pki.apiserver(ca, ca_key, host.name, host.address, vip)
    base = upper / "etc/kubernetes/pki"
    _write(base / "ca.crt", ca.cert_pem.decode())
    _write(base / "ca.key", ca.key_pem.decode(), 0o600)
    _write(base / "apiserver.crt", leaf.cert_pem.decode())
    _write(base / "apiserver.key", leaf.key_pem.decode(), 0o600)
