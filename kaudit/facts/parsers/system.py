"""Section parsers for the operating system: release, kernel, CPU, memory,
swap, SELinux, services, limits, modules, sysctl, cgroup, software."""

from __future__ import annotations

import re
from typing import Any

from kaudit.facts.parsers.frame import Ctx, strip_comment, to_float, to_int

UNITS = ("firewalld", "dnsmasq", "chronyd", "ntpd", "ntpsec", "containerd", "kubelet",
         "haproxy", "keepalived", "rsyslog", "systemd-timesyncd")
_SYSTEMD_DOWN = ("not been booted with systemd", "Failed to connect to bus",
                 "System has not been booted")


def parse_meta(ctx: Ctx) -> dict[str, Any]:
    """probe.* and time.epoch from the header, meta and done sections."""
    f = ctx.frame
    probe: dict[str, Any] = {"complete": f.complete}
    out: dict[str, Any] = {"probe": probe}
    if f.version is not None:
        probe["version"] = f.version
    epoch = to_float(f.epoch)
    if epoch is not None:
        out["time"] = {"epoch": epoch}
    elif f.epoch is not None:
        ctx.note(f"remote time unknown (header says {f.epoch[:40]!r})")
    meta = ctx.sec("meta")
    if meta is not None:
        kv = meta.kv()
        uid = to_int(kv.get("uid"))
        if uid is not None:
            probe["uid"] = uid
        if kv.get("timeout"):
            probe["timeout_method"] = kv["timeout"]
        bad = to_int(kv.get("bad_args"))
        if bad:
            ctx.note(f"the probe ignored {bad} invalid argument(s)")
        ulimit = {}
        for item in ("nofile_soft", "nofile_hard"):
            v = kv.get(item, "")
            n = to_int(v)
            if n is not None or v == "unlimited":
                ulimit[item] = n if n is not None else "unlimited"
        if ulimit:
            out["ulimit"] = ulimit
    done = ctx.sec("done")
    end = to_float(done.kv().get("epoch_end")) if done else None
    if end is not None and epoch is not None and 0 <= end - epoch < 86400:
        probe["duration_s"] = round(end - epoch, 3)
    return out


def _unquote(value: str) -> str:
    v = value.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        v = v[1:-1]
        v = re.sub(r"\\(.)", r"\1", v)
    return v


def parse_os(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("os-release")
    files = sec.files()
    if not files:
        ctx.note("no /etc/os-release")
        return {}
    os_: dict[str, Any] = {}
    keys = {"ID": "id", "VERSION_ID": "version_id", "PRETTY_NAME": "pretty_name",
            "ID_LIKE": "id_like", "NAME": "name"}
    for line in files[0].text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() in keys:
            os_[keys[key.strip()]] = _unquote(value)
    major = to_int(str(os_.get("version_id", "")).split(".")[0])
    if major is not None:
        os_["major"] = major
    return {"os": os_}


def parse_kernel(ctx: Ctx) -> dict[str, Any]:
    kv = ctx.need("uname").kv()
    kernel: dict[str, Any] = {}
    release = kv.get("release") or kv.get("osrelease")
    if release:
        kernel["release"] = release.strip()
    if kv.get("arch"):
        kernel["arch"] = kv["arch"].strip()
    return {"kernel": kernel} if kernel else {}


def parse_hostname(ctx: Ctx) -> dict[str, Any]:
    kv = ctx.need("hostname").kv()
    name = (kv.get("proc") or kv.get("cmd") or "").strip()
    return {"hostname": name} if name else {}


def _count_cpulist(text: str) -> int | None:
    total = 0
    for part in text.strip().split(","):
        lo, sep, hi = part.partition("-")
        a, b = to_int(lo), to_int(hi) if sep else to_int(lo)
        if a is None or b is None or b < a:
            return None
        total += b - a + 1
    return total or None


def parse_cpu(ctx: Ctx) -> dict[str, Any]:
    kv = ctx.need("cpu").kv()
    count = to_int(kv.get("nproc"))
    if not count and kv.get("online"):
        count = _count_cpulist(kv["online"])
    if not count:
        count = to_int(kv.get("cpuinfo"))
    if not count:
        ctx.note("CPU count unknown")
        return {}
    return {"cpu": {"count": count}}


def parse_memory(ctx: Ctx) -> dict[str, Any]:
    text = ctx.need("meminfo").file("/proc/meminfo")
    if text is None:
        ctx.note("/proc/meminfo missing")
        return {}
    mem: dict[str, Any] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if key in ("MemTotal", "MemAvailable") and parts and to_int(parts[0]) is not None:
            unit = 1024 if len(parts) > 1 and parts[1] == "kB" else 1
            name = "total_bytes" if key == "MemTotal" else "available_bytes"
            mem[name] = int(parts[0]) * unit
    return {"memory": mem} if mem else {}


def fstab_entries(text: str) -> list[list[str]]:
    """Non-comment /etc/fstab lines split into fields (at least 2)."""
    out = []
    for line in text.splitlines():
        fields = strip_comment(line).split()
        if len(fields) >= 2:
            out.append(fields)
    return out


def _systemd_down(text: str) -> bool:
    return any(s in text for s in _SYSTEMD_DOWN)


def parse_swap(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("swap")
    swap: dict[str, Any] = {}
    swaps = sec.file("/proc/swaps")
    if swaps is None:
        ctx.note("/proc/swaps missing, active swap unknown")
    else:
        active = []
        for line in swaps.splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 3:
                size = to_int(fields[2])
                active.append({"device": fields[0], "type": fields[1],
                               "size_bytes": size * 1024 if size is not None else None,
                               "zram": "/zram" in fields[0]})
        swap["active"] = active
    fstab = sec.file("/etc/fstab")
    if fstab is not None:
        swap["fstab"] = [" ".join(f) for f in fstab_entries(fstab)
                         if len(f) >= 3 and f[2] == "swap"]
    else:
        swap["fstab"] = []
    zram = False
    for b in sec.files():
        if "zram-generator" in b.name:
            zram = zram or any(re.match(r"\s*\[zram\d+\]", ln) for ln in b.text.splitlines())
    swap["zram_generator"] = zram
    units = sec.cmd("swap-units")
    kv = sec.kv()
    if units is not None and units.kind == "cmd" and not _systemd_down(units.text):
        swap["units_enabled"] = [ln.split()[0] for ln in units.lines
                                 if ln.split() and ln.split()[0].endswith(".swap")]
    elif kv.get("systemd") == "0" and "swap_links" in kv:
        # systemd not running: the probe listed the .swap links under /etc.
        swap["units_enabled"] = [u for u in kv["swap_links"].split() if u.endswith(".swap")]
    else:
        ctx.note("enabled swap units unknown (no systemd)")
    sysctl = ctx.sec("sysctl")
    if sysctl is not None:
        v = to_int(sysctl.kv().get("vm/swappiness"))
        if v is not None:
            swap["swappiness"] = v
    return {"swap": swap}


_SE_MODES = ("enforcing", "permissive", "disabled")


def parse_selinux(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("selinux")
    kv = sec.kv()
    se: dict[str, Any] = {}
    ge = sec.cmd("getenforce")
    mode = ge.text.strip().lower() if ge is not None and ge.kind == "cmd" and ge.rc == 0 else ""
    if mode in _SE_MODES:
        se["mode"] = mode
    elif kv.get("enforce", "").strip() in ("0", "1"):
        se["mode"] = "enforcing" if kv["enforce"].strip() == "1" else "permissive"
    elif kv.get("selinuxfs") == "0":
        se["mode"] = "disabled"
    else:
        ctx.note("SELinux mode unknown")
    config = sec.file("/etc/selinux/config")
    if config is not None:
        for line in config.splitlines():
            key, sep, value = strip_comment(line).partition("=")
            if sep and key.strip() == "SELINUX":
                se["config"] = _unquote(value).lower()
    return {"selinux": se}


def parse_services(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("services")
    names = sec.kv().get("units", " ".join(UNITS)).split()
    show = sec.cmd("systemctl-show")
    if show is None or show.kind != "cmd":
        ctx.note("systemctl not available, service states unknown")
        return {}
    if _systemd_down(show.text):
        ctx.note("systemd is not running, service states unknown")
        return {}
    blocks: list[dict[str, str]] = [{}]
    for line in show.lines:
        if not line.strip():
            if blocks[-1]:
                blocks.append({})
            continue
        key, sep, value = line.partition("=")
        if sep:
            blocks[-1][key.strip()] = value.strip()
    blocks = [b for b in blocks if b]
    if len(blocks) != len(names):
        ctx.note(f"expected {len(names)} unit blocks from systemctl, got {len(blocks)}")
        return {}
    services: dict[str, Any] = {}
    for name, b in zip(names, blocks, strict=True):
        if b.get("LoadState") == "not-found":
            services[name] = {"active": "not-found", "enabled": "not-found"}
        else:
            services[name] = {"active": b.get("ActiveState") or "unknown",
                              "enabled": b.get("UnitFileState") or "unknown"}
    return {"services": services}


def _limit_value(v: str) -> int | str | None:
    if v in ("unlimited", "infinity", "-1"):
        return "unlimited"
    return to_int(v)


def parse_limits(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("limits")
    star: dict[str, dict[str, Any]] = {}
    root: dict[str, dict[str, Any]] = {}
    for block in sec.files():       # limits.conf first, then limits.d/*.conf in order
        for line in block.text.splitlines():
            fields = strip_comment(line).split()
            if len(fields) != 4 or fields[0] not in ("*", "root"):
                continue
            domain, kind, item, value = fields
            val = _limit_value(value)
            if val is None or kind not in ("soft", "hard", "-"):
                continue
            target = (star if domain == "*" else root).setdefault(item, {})
            for k in ("soft", "hard") if kind == "-" else (kind,):
                target[k] = val
    # pam_limits: a user's own line beats a wildcard one
    for item, values in root.items():
        star.setdefault(item, {}).update(values)
    return {"limits": star}


def _modname(text: str) -> str:
    return text.replace("-", "_")


def parse_modules(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("modules")
    mods: dict[str, Any] = {}
    loaded = sec.file("/proc/modules")
    if loaded is None:
        ctx.note("/proc/modules missing, loaded modules unknown")
    else:
        mods["loaded"] = sorted({ln.split()[0] for ln in loaded.splitlines() if ln.split()})
    persistent: list[str] = []
    for b in sec.files():
        if b.name.endswith("/modules.builtin"):
            names = {_modname(ln.strip().rsplit("/", 1)[-1].removesuffix(".ko"))
                     for ln in b.text.splitlines() if ln.strip()}
            mods["builtin"] = sorted(names)
        elif "modules-load.d" in b.name or b.name == "/etc/modules":
            for line in b.text.splitlines():
                fields = strip_comment(line, "#;").split()
                if fields and _modname(fields[0]) not in persistent:
                    persistent.append(_modname(fields[0]))
    mods["persistent"] = persistent
    if "builtin" not in mods:
        ctx.note("modules.builtin missing, built-in modules unknown")
    elif "loaded" in mods:
        # Usable now: loaded as a module or compiled into the kernel. Only when both
        # are known, so a built-in module is never reported missing by guesswork.
        mods["present"] = sorted({*mods["loaded"], *mods["builtin"]})
    return {"modules": mods}


def parse_sysctl(ctx: Ctx) -> dict[str, Any]:
    values = {k.replace("/", "."): " ".join(v.split())
              for k, v in ctx.need("sysctl").kv().items()}
    return {"sysctl": values}


def parse_sysctl_files(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("sysctl-files")
    values: dict[str, str] = {}
    # The probe prints /etc/sysctl.d/*.conf in order and /etc/sysctl.conf last,
    # the order systemd-sysctl applies them: later wins.
    for b in sec.files():
        for line in b.text.splitlines():
            if "=" not in line or line.lstrip()[:1] in ("#", ";"):
                continue    # comments and blank lines are most of these files
            key, sep, value = strip_comment(line, "#;").partition("=")
            key = key.strip().lstrip("-")
            if not sep or not key:
                continue
            if "/" in key and ("." not in key or key.index("/") < key.index(".")):
                key = key.replace("/", ".")
            values[key] = " ".join(value.split())
    return {"sysctl_files": values}


def parse_cgroup(ctx: Ctx) -> dict[str, Any]:
    unified = ctx.need("cgroup").kv().get("unified")
    if unified not in ("0", "1"):
        ctx.note("cgroup version unknown")
        return {}
    return {"cgroup": {"version": 2 if unified == "1" else 1}}


def parse_packages(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("packages")
    rpm, dpkg = sec.cmd("rpm"), sec.cmd("dpkg")
    if rpm is not None and rpm.kind == "cmd" and rpm.rc == 0:
        names = {ln.strip() for ln in rpm.lines if ln.strip() and " " not in ln.strip()}
    elif dpkg is not None and dpkg.kind == "cmd" and dpkg.rc == 0:
        # "ii  name[:arch]" (ii, hi: installed) or a bare name; one comprehension
        # because this is the longest section of the output (~750 lines).
        names = {f[-1].partition(":")[0] for f in map(str.split, dpkg.lines)
                 if len(f) == 1 or (len(f) == 2 and f[0][1:2] == "i")}
    else:
        ctx.note("installed packages unknown (no rpm or dpkg-query, or it failed)")
        return {}
    return {"packages": {"installed": sorted(names)}}


def parse_commands(ctx: Ctx) -> dict[str, Any]:
    lines = ctx.need("commands").lines
    return {"commands": [ln.strip() for ln in lines if ln.strip() and " " not in ln.strip()]}


_VERSION = re.compile(r"(?<![\w.])v?(\d+\.\d+(?:\.\d+)?(?:[-+~][0-9A-Za-z.+~-]*)?)")


def parse_versions(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("versions")
    versions: dict[str, Any] = {}
    for b in sec.blocks:
        if b.kind != "cmd":
            continue
        lines = b.text.splitlines()
        if b.name == "kubectl":      # "Client Version: v1.28.5" (not Kustomize's)
            lines = [ln for ln in lines if "Client" in ln or "GitVersion" in ln] or lines
        for line in lines:
            m = _VERSION.search(line.split("GitVersion:")[-1])
            if m:
                versions[b.name] = m.group(1)
                break
        else:
            ctx.note(f"no version in `{b.name}` output")
    parts = versions.get("kubelet", "").split(".")
    if len(parts) > 1 and parts[1].isdigit():
        versions["kubelet_minor"] = int(parts[1])   # for skew rules
    return {"versions": versions}
