"""One lab host's view of the machine: an overlay upper tree over `/` (its files,
stand-in commands, hidden paths) and the bash script that mounts it in a
private mount + UTS namespace, then execs sshd chrooted into that view."""

from __future__ import annotations

import os
import resource
import shlex
from pathlib import Path
from typing import Any

from .fleet import HostSpec

STANDIN_DIR = "/usr/local/sbin"   # first on sshd's default PATH for root
SSHD_DIR = "/etc/ssh/kaudit-lab"
SSHD_CONFIG = """\
ListenAddress {address}:22
HostKey {dir}/ssh_host_ed25519_key
AuthorizedKeysFile {dir}/authorized_keys
PidFile /run/sshd-lab.pid
UsePAM no
UseDNS no
StrictModes no
MaxStartups 100
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
LogLevel INFO
"""


def render(text: str, values: dict[str, str]) -> str:
    """Fill `${key}` placeholders (YAML and shell text keep their own braces)."""
    for k, v in values.items():
        text = text.replace("${" + k + "}", v)
    return text


def _systemctl(services: dict[str, Any], swap_units: list[str]) -> str:
    """A systemctl stand-in answering `show`, `is-active`, `is-enabled` and
    `list-unit-files --type=swap` from the fleet's unit states."""
    cases = "".join(f"        {shlex.quote(u + '.service')}|{shlex.quote(u)}) "
                    f"echo {shlex.quote(str(s[0]) + ' ' + str(s[1]))} ;;\n"
                    for u, s in sorted(services.items()))
    swaps = "".join(f"printf '%s enabled enabled\\n' {shlex.quote(u)}\n" for u in swap_units)
    return f"""\
# kaudit lab stand-in for systemctl: unit states come from the fleet file.
state() {{
    case $1 in
{cases}        *) echo '' ;;
    esac
}}
verb=$1
shift
case $verb in
show)
    first=1
    for a in "$@"; do
        case $a in -*) continue ;; esac
        [ $first = 1 ] || echo
        first=0
        s=$(state "$a")
        if [ -z "$s" ]; then
            printf 'LoadState=not-found\\nActiveState=inactive\\nUnitFileState=\\n'
        else
            printf 'LoadState=loaded\\nActiveState=%s\\nUnitFileState=%s\\n' "${{s% *}}" "${{s#* }}"
        fi
    done ;;
is-active) s=$(state "$1"); echo "${{s% *}}"; [ "${{s% *}}" = active ] ;;
is-enabled) s=$(state "$1"); echo "${{s#* }}"; [ "${{s#* }}" = enabled ] ;;
list-unit-files)
{swaps}    ;;
*) echo "lab systemctl: $verb not supported" >&2; exit 1 ;;
esac
"""


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    path.write_text(text)
    os.chmod(path, mode)


def _resolve(path: str, spec: dict[str, Any]) -> str:
    """`path` with a leading fleet symlink (absolute target) replaced by its target."""
    for link, target in (spec.get("symlinks") or {}).items():
        if path.startswith(link.rstrip("/") + "/") and str(target).startswith("/"):
            return str(target).rstrip("/") + path[len(link.rstrip("/")):]
    return path


def build_upper(host: HostSpec, upper: Path, values: dict[str, str],
                host_key: Path, client_pub: str, booted: bool = False) -> None:
    """Write the host's overlay upper layer: fleet files, stand-ins, whiteouts. A
    booted host (boot.py) has real systemd and its own sshd: neither is written here."""
    spec = host.spec
    for d in spec.get("opaque") or []:
        # An opaque upper directory hides the machine's own contents of it.
        p = upper / d.lstrip("/")
        p.mkdir(parents=True, exist_ok=True)
        os.setxattr(p, "trusted.overlay.opaque", b"y")
    for path, text in (spec.get("files") or {}).items():
        if text is None:     # `path: null` in a host entry drops a default file
            continue
        real = _resolve(render(path, values), spec)
        # Files on a fleet disk are copied onto it once it is mounted.
        on_disk = any(real.startswith(mp.rstrip("/") + "/") for mp in spec.get("disks") or {})
        root = upper.parent / "ondisk" if on_disk else upper
        _write(root / real.lstrip("/"), render(str(text), values))
    for path, target in (spec.get("symlinks") or {}).items():
        p = upper / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, p)
    for path in spec.get("hide") or []:
        # An overlay whiteout (char device 0/0) removes the path from the view.
        p = upper / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        os.mknod(p, 0o600 | 0o020000, os.makedev(0, 0))
    for name, body in (spec.get("commands") or {}).items():
        if body is None:
            continue
        _write(upper / STANDIN_DIR.lstrip("/") / name,
               "#!/bin/sh\n" + render(str(body), values), 0o755)
    if booted:
        for mp in spec.get("disks") or {}:
            (upper / mp.lstrip("/")).mkdir(parents=True, exist_ok=True)
        return
    _write(upper / STANDIN_DIR.lstrip("/") / "systemctl",
           "#!/bin/sh\n" + _systemctl(spec.get("services") or {}, spec.get("swap_units") or []),
           0o755)
    for mp in spec.get("disks") or {}:
        (upper / mp.lstrip("/")).mkdir(parents=True, exist_ok=True)
    sshd = upper / SSHD_DIR.lstrip("/")
    sshd.mkdir(parents=True, exist_ok=True)
    _write(sshd / "sshd_config", SSHD_CONFIG.format(address=host.address, dir=SSHD_DIR))
    _write(sshd / "authorized_keys", client_pub)
    _write(sshd / "ssh_host_ed25519_key", host_key.read_text(), 0o600)
    _write(sshd / "ssh_host_ed25519_key.pub", Path(f"{host_key}.pub").read_text())


def launch_script(host: HostSpec, hostdir: Path, loops: dict[str, str]) -> str:
    """The bash script run as `ip netns exec NS unshare -m -u ... bash SCRIPT`."""
    spec = host.spec
    q = shlex.quote
    w = q(str(hostdir))
    m = q(str(hostdir / "merged"))
    proc = spec.get("proc") or {}
    shadow = any(not os.path.exists(f"/proc/{n}") for n in proc)
    lines = [
        "set -eu",
        f"hostname {q(host.name)}",
        # The upper layer must not live on the lower layer's filesystem.
        # Its size is what df reports for the view's "/" (a limit, not an allocation).
        f"mount -t tmpfs -o mode=755,size={int(spec.get('root_size_gb', 20))}g kaudit-lab {w}/t",
        f"cp -a {w}/upper {w}/t/upper",
        f"mkdir {w}/t/work",
        f"mount -t overlay kaudit-lab -o lowerdir=/,upperdir={w}/t/upper,workdir={w}/t/work {m}",
        f"mount --rbind /dev {m}/dev",
        f"mount --rbind /sys {m}/sys",
        f"mount -t tmpfs -o mode=755 kaudit-lab-run {m}/run",
        # /run/systemd/system marks a systemd-booted host (sd_booted), which the
        # stand-in systemctl plays.
        f"mkdir -p {m}/run/sshd {m}/run/kaudit-lab/proc {m}/run/systemd/system",
        f"mount --rbind /proc {m}/run/kaudit-lab/proc",
    ]
    if spec.get("cgroup2"):
        lines.append(f"mount -t cgroup2 -o ro,nosuid,nodev,noexec cgroup2 {m}/sys/fs/cgroup")
    if shadow:
        # This kernel lacks a /proc file the fleet overrides (e.g. /proc/modules
        # on a kernel without modules): a tmpfs /proc of symlinks into the real
        # proc plus the fleet's regular files stands in for it.
        lines += [
            f"mount -t tmpfs -o mode=555 kaudit-lab-proc {m}/proc",
            "for e in /proc/*; do n=${e##*/}; "
            f"[ -e {w}/proc/\"$n\" ] || ln -s /run/kaudit-lab/proc/\"$n\" {m}/proc/\"$n\"; done",
            f"cp {w}/proc/* {m}/proc/",
        ]
    else:
        lines.append(f"mount --rbind /proc {m}/proc")
        lines += [f"mount --bind {w}/proc/{q(n)} {m}/proc/{q(n)}" for n in proc]
    for mp, dev in loops.items():
        lines.append(f"mount -t ext4 {q(dev)} {m}{q(mp)}")
    for d in spec.get("dirs") or []:
        lines.append(f"mkdir -p {m}{q(d)}")
    if (hostdir / "ondisk").is_dir():
        lines.append(f"cp -a {w}/ondisk/. {m}/")
    if spec.get("nofile"):
        # Raising the hard limit needs CAP_SYS_RESOURCE, which a container may
        # lack: the lab clamps to what it has (see the fleet's known failures).
        have = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        soft, hard = (min(int(v), have) for v in spec["nofile"])
        lines += [f"ulimit -H -n {hard}", f"ulimit -S -n {soft}"]
    for i, cmd in enumerate(spec.get("daemons") or []):
        lines.append(f"chroot {m} /bin/sh -c {q(str(cmd))} </dev/null >{w}/daemon-{i}.log 2>&1 &")
    lines.append(f"exec chroot {m} /usr/sbin/sshd -D -e -f {SSHD_DIR}/sshd_config")
    return "\n".join(lines) + "\n"
