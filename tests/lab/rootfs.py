"""The root filesystem booted lab hosts share: Debian 12 from Debian's own
packages (debootstrap), with systemd as PID 1 and the services a kubeadm HA
master runs beside Kubernetes. Built once per machine and cached; the cache is
keyed by a hash of everything that shapes it (suite, packages, the set-up
script below), so a change to any of them rebuilds it, and a half-built tree is
never used (it is built beside the cache and renamed into place).

    python -m tests.lab rootfs          # build (or reuse) it and print its path
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from .run import LabError

CACHE = Path(os.environ.get("KAUDIT_LAB_CACHE", "/var/cache/kaudit-lab"))
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "iputils-ping",
    "procps", "kmod", "curl", "openssl", "python3-minimal", "sudo", "util-linux",
    # polkitd (firewalld needs it) needs a logind; debootstrap does not pick one itself.
    "libpam-systemd",
    "chrony", "firewalld", "dnsmasq", "rsyslog", "haproxy", "keepalived", "etcd-server",
    "etcd-client",
    "containerd",
)
# Units the packages enable at install; a lab host's fleet entry decides which run.
PACKAGE_UNITS = ("chrony", "firewalld", "dnsmasq", "rsyslog", "haproxy", "keepalived",
                 "etcd", "containerd", "ssh")

# Run in the new root (chroot) once debootstrap is done.
SETUP = r"""
set -eu
for u in $UNITS; do
    systemctl disable "$u.service" >/dev/null 2>&1 || true
done
# Stop package scripts from starting services in a later chroot step.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
# chrony: never set this machine's clock (-x), and run without CAP_SYS_TIME,
# which Debian's unit requires (ConditionCapability) and a lab host never gets.
# A fleet playing Rocky Linux keeps its config where Rocky does (/etc/chrony.conf).
mkdir -p /etc/systemd/system/chrony.service.d
cat > /etc/systemd/system/chrony.service.d/kaudit-lab.conf <<'EOF'
[Unit]
ConditionCapability=
[Service]
ExecStart=
ExecStart=!/bin/sh /usr/local/lib/kaudit-lab/chronyd $DAEMON_OPTS
EOF
mkdir -p /usr/local/lib/kaudit-lab
cat > /usr/local/lib/kaudit-lab/chronyd <<'EOF'
c=/etc/chrony/chrony.conf
[ -f /etc/chrony.conf ] && c=/etc/chrony.conf
exec /usr/sbin/chronyd "$@" -x -f "$c"
EOF
# No console gettys, no udev in a container; journald keeps to memory.
systemctl mask console-getty.service getty@tty1.service systemd-udevd.service \
    systemd-udev-trigger.service >/dev/null 2>&1 || true
mkdir -p /etc/systemd/journald.conf.d
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n' \
    > /etc/systemd/journald.conf.d/kaudit-lab.conf
# The host's sshd config comes from the fleet (the lab writes it per host).
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
apt-get clean
rm -rf /var/lib/apt/lists/*
"""


def cache_key() -> str:
    text = "\n".join([SUITE, MIRROR, " ".join(PACKAGES), " ".join(PACKAGE_UNITS), SETUP])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def path() -> Path:
    return CACHE / f"root-{cache_key()}"


def stamp(root: Path) -> Path:
    return root / "etc" / "kaudit-lab-root"


def fresh(root: Path) -> bool:
    """The tree was built completely from the current recipe."""
    try:
        return stamp(root).read_text().strip() == cache_key()
    except OSError:
        return False


def ensure(log: Path | None = None) -> Path:
    """The cached root, built first if it is missing or stale."""
    root = path()
    if fresh(root):
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    for old in CACHE.glob("root-*"):
        # Stale trees (an older recipe, or a build that died) are removed.
        if old != root or not fresh(old):
            shutil.rmtree(old, ignore_errors=True)
    work = CACHE / f"build-{cache_key()}-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    out = open(log or CACHE / "build.log", "wb")   # noqa: SIM115 - closed below
    start = time.monotonic()
    try:
        cp = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
             str(work), MIRROR], stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, timeout=1800, check=False)
        if cp.returncode != 0:
            raise LabError(f"debootstrap failed (exit {cp.returncode}); see {out.name}")
        cp = subprocess.run(["chroot", str(work), "/bin/sh", "-c", SETUP],
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                 "UNITS": " ".join(PACKAGE_UNITS)},
                            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                            timeout=300, check=False)
        if cp.returncode != 0:
            raise LabError(f"lab root set-up failed (exit {cp.returncode}); see {out.name}")
        stamp(work).write_text(cache_key() + "\n")
        out.write(f"built in {time.monotonic() - start:.0f} s\n".encode())
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        out.close()
    work.rename(root)
    return root
