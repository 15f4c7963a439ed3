"""Mount facts: what holds /var/lib/etcd, /data, ... and on which disks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kaudit.facts.parsers.frame import Ctx, to_int
from kaudit.facts.parsers.system import fstab_entries

PATHS = ("/var/lib/etcd", "/data", "/var/lib/kubelet", "/var/lib/containers", "/")
_PATH_LINE = re.compile(r"^path (.+?) exists=([01])(?: link=([01]) resolved=(.*))?$")
_OCTAL = re.compile(r"\\([0-7]{3})")


@dataclass
class Mount:
    majmin: str
    mountpoint: str
    fstype: str
    source: str


def _unescape(text: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), text)


def parse_mountinfo(text: str) -> list[Mount]:
    """Entries of /proc/self/mountinfo in order (later ones cover earlier ones)."""
    out = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        lf, rf = left.split(), right.split()
        if not sep or len(lf) < 5 or len(rf) < 2:
            continue
        out.append(Mount(lf[2], _unescape(lf[4]), rf[0], _unescape(rf[1])))
    return out


def _under(path: str, mountpoint: str) -> bool:
    return mountpoint == "/" or path == mountpoint or path.startswith(mountpoint + "/")


def mount_for(path: str, mounts: list[Mount]) -> Mount | None:
    """The mount holding `path`: longest mount point, last one mounted wins."""
    best: Mount | None = None
    for m in mounts:
        if _under(path, m.mountpoint) and (
                best is None or len(m.mountpoint) >= len(best.mountpoint)):
            best = m
    return best


def _block_table(lines: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """name -> {kind, dev, rot, slaves, parent, dm}, and dev (maj:min) -> name."""
    by_name: dict[str, dict[str, Any]] = {}
    by_dev: dict[str, str] = {}
    for line in lines:
        fields = line.split()
        if len(fields) < 3 or fields[0] not in ("disk", "part"):
            continue
        info: dict[str, Any] = {"kind": fields[0], "dev": fields[2]}
        for f in fields[3:]:
            key, _, value = f.partition("=")
            info[key] = value
        by_name[fields[1]] = info
        by_dev[fields[2]] = fields[1]
    return by_name, by_dev


def _disks(name: str, table: dict[str, dict[str, Any]], depth: int = 0) -> list[str]:
    """Whole disks under a block device, through partitions, dm and md."""
    info = table.get(name)
    if info is None or depth > 16:
        return []
    if info["kind"] == "part":
        return _disks(info.get("parent", ""), table, depth + 1)
    slaves = [s for s in info.get("slaves", "").split(",") if s]
    if not slaves:
        return [name]
    out: list[str] = []
    for s in slaves:
        for d in _disks(s, table, depth + 1):
            if d not in out:
                out.append(d)
    return out


def _device_name(m: Mount, table: dict[str, dict[str, Any]], by_dev: dict[str, str]
                 ) -> str | None:
    if m.majmin in by_dev and not m.majmin.startswith("0:"):
        return by_dev[m.majmin]
    # btrfs and some others report an anonymous 0:N device; fall back to the source
    if m.source.startswith("/dev/mapper/"):
        dm = m.source.removeprefix("/dev/mapper/")
        return next((n for n, i in table.items() if i.get("dm") == dm), None)
    if m.source.startswith("/dev/"):
        name = m.source.rsplit("/", 1)[-1]
        return name if name in table else None
    return None


def _df_size(text: str) -> int | None:
    lines = text.splitlines()
    if len(lines) < 2:
        return None
    fields = lines[1].split()
    blocks = to_int(fields[1]) if len(fields) >= 2 else None
    return blocks * 1024 if blocks is not None else None


def parse_mounts(ctx: Ctx) -> dict[str, Any]:
    mi = ctx.need("mountinfo").file("/proc/self/mountinfo")
    mounts = parse_mountinfo(mi) if mi is not None else []
    if mi is None:
        ctx.note("/proc/self/mountinfo missing, mounts unknown")
    paths = ctx.need("paths")
    block = ctx.sec("block")
    table, by_dev = _block_table(block.lines if block else [])
    swap = ctx.sec("swap")
    fstab_text = swap.file("/etc/fstab") if swap else None
    fstab = {f[1]: f[0] for f in fstab_entries(fstab_text or "")}
    seen: dict[str, tuple[bool, str | None]] = {}
    for line in paths.lines:
        m = _PATH_LINE.match(line)
        if m:
            seen[m.group(1)] = (m.group(2) == "1", m.group(4))
    out: dict[str, Any] = {}
    for path in PATHS:
        if path not in seen:
            ctx.note(f"{path}: not reported")
            continue
        exists, resolved = seen[path]
        entry: dict[str, Any] = {"exists": exists}
        out[path] = entry
        if exists and resolved and mounts:
            entry["resolved"] = resolved
            mount = mount_for(resolved, mounts)
            if mount is not None:
                entry.update(mountpoint=mount.mountpoint,
                             own_mount=mount.mountpoint == resolved,
                             source=mount.source, fstype=mount.fstype)
                dev = _device_name(mount, table, by_dev)
                if dev is not None:
                    disks = _disks(dev, table)
                    entry["disks"] = disks
                    rots = [table[d].get("rot") for d in disks]
                    if disks and all(r in ("0", "1") for r in rots):
                        entry["rotational"] = "1" in rots
        elif exists and resolved:
            entry["resolved"] = resolved
        df = paths.cmd(f"df {path}")
        if df is not None and df.kind == "cmd" and df.rc == 0:
            size = _df_size(df.text)
            if size is not None:
                entry["size_bytes"] = size
        if fstab_text is not None:
            # the line for the path itself (or its symlink target), never the
            # parent mount's: / being by UUID says nothing about /var/lib/etcd
            spec = fstab.get(path) or (fstab.get(resolved) if resolved else None)
            if spec is not None:
                entry["fstab_spec"] = spec
                entry["fstab_by_uuid"] = spec.startswith(("UUID=", "/dev/disk/by-uuid/"))
    return {"mounts": out}
