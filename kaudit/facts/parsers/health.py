"""Installed-cluster health: certificates, etcd's own metrics, component health
endpoints, and free space and inodes of the filesystems the kubelet evicts on.

Certificates arrive as CERTIFICATE blocks only (the probe never sends a key)
and are parsed here with `cryptography`. Times are judged against the probe's
own clock (`probe.epoch`), so "not yet valid" means what the host's TLS sees."""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from kaudit.facts.parsers.frame import Ctx, to_float, to_int

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\n.*?\n-----END CERTIFICATE-----", re.S)
_KUBECONFIG_FIELD = re.compile(r"^\s*-?\s*(certificate-authority-data|client-certificate-data):"
                               r"\s*(\S+)\s*$")
_DAY = 86400.0


def _now(ctx: Ctx) -> float | None:
    epoch = to_float(ctx.frame.epoch)
    return epoch if epoch and math.isfinite(epoch) else None


def _names(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    out = [str(n) for n in ext.get_values_for_type(x509.DNSName)]
    out += [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]
    return out


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def describe_cert(cert: x509.Certificate, now: float | None) -> dict[str, Any]:
    before = cert.not_valid_before_utc
    after = cert.not_valid_after_utc
    entry: dict[str, Any] = {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_before": before.isoformat(),
        "not_after": after.isoformat(),
        "sans": _names(cert),
        "fingerprint_sha256": cert.fingerprint(hashes.SHA256()).hex(":"),
        "is_ca": _is_ca(cert),
        "self_signed": cert.subject == cert.issuer,
    }
    if now is not None:
        entry["days_left"] = round((after.timestamp() - now) / _DAY, 2)
        entry["valid_in_days"] = round((before.timestamp() - now) / _DAY, 2)
        entry["not_yet_valid"] = before.timestamp() > now
    return entry


def _load(pem: str, where: str, ctx: Ctx) -> list[x509.Certificate]:
    certs = []
    for block in _PEM.findall(pem):
        try:
            certs.append(x509.load_pem_x509_certificate(block.encode()))
        except ValueError as exc:
            ctx.note(f"{where}: a certificate does not parse ({str(exc)[:80]})")
    return certs


def parse_certs(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("certs")
    now = _now(ctx)
    items: list[dict[str, Any]] = []
    by_name: dict[str, dict[str, Any]] = {}
    for block in sec.files():
        text = block.text
        sources: list[tuple[str, list[x509.Certificate]]] = []
        if block.name.endswith(".conf"):
            for line in text.splitlines():
                m = _KUBECONFIG_FIELD.match(line)
                if not m:
                    continue
                try:
                    pem = base64.b64decode(m.group(2), validate=True).decode("ascii", "replace")
                except (binascii.Error, ValueError):
                    ctx.note(f"{block.name}: {m.group(1)} is not base64")
                    continue
                sources.append((m.group(1), _load(pem, block.name, ctx)))
        else:
            sources.append(("file", _load(text, block.name, ctx)))
        for field, certs in sources:
            for i, cert in enumerate(certs):
                entry = {"path": block.name, "field": field, "index": i,
                         **describe_cert(cert, now)}
                items.append(entry)
                key = block.name.rsplit("/", 1)[-1]
                if field != "file":
                    key = f"{key}:{field}"
                by_name.setdefault(key, entry)     # the first (leaf) certificate
    # Keyed by where each certificate lives, so a finding names the file (and field).
    keyed: dict[str, dict[str, Any]] = {}
    for entry in items:
        key = entry["path"] if entry["field"] == "file" else f"{entry['path']}#{entry['field']}"
        keyed[key if entry["index"] == 0 else f"{key}#{entry['index']}"] = entry
    out: dict[str, Any] = {"items": keyed, "by_name": by_name,
                           "cas": {k: c for k, c in keyed.items() if c["is_ca"]}}
    ca = by_name.get("ca.crt")
    if ca:
        out["ca_fingerprint"] = ca["fingerprint_sha256"]
    api = by_name.get("apiserver.crt")
    if api:
        out["apiserver_sans"] = api["sans"]
    return {"certs": out}


# --------------------------------------------------------------------- etcd metrics

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
_LE = re.compile(r'le="([^"]+)"')


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' histogram_quantile over cumulative (upper bound, count) buckets:
    linear interpolation inside the bucket where the rank falls."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][0] != math.inf:
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == math.inf:
                return prev_bound          # beyond the largest finite bucket
            if count == prev_count:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return None


def parse_etcd_metrics(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("etcd-metrics")
    url = sec.kv().get("url", "")
    if not url:
        return {"etcd_metrics": {"configured": False}}
    out: dict[str, Any] = {"configured": True, "url": url}
    block = sec.cmd("metrics")
    if block is None or block.kind != "cmd":
        out["error"] = "not read (no curl, or the probe ran out of time)"
        return {"etcd_metrics": out}
    values: dict[str, float] = {}
    hist: dict[str, list[tuple[float, float]]] = {}
    for line in block.lines:
        m = _SAMPLE.match(line)
        if not m:
            continue
        name, labels, raw = m.group(1), m.group(2) or "", m.group(3)
        try:
            value = float(raw)
        except ValueError:
            continue
        if name.endswith("_bucket"):
            le = _LE.search(labels)
            if le:
                bound = math.inf if le.group(1) == "+Inf" else float(le.group(1))
                hist.setdefault(name[: -len("_bucket")], []).append((bound, value))
        elif not labels or name == "etcd_server_version":
            values.setdefault(name, value)
    if not values and not hist:
        out["error"] = (block.text.strip().splitlines() or ["no metrics"])[-1][:200]
        return {"etcd_metrics": out}
    size = values.get("etcd_mvcc_db_total_size_in_bytes")
    in_use = values.get("etcd_mvcc_db_total_size_in_use_in_bytes")
    quota = values.get("etcd_server_quota_backend_bytes")
    for key, name in (("db_size_bytes", "etcd_mvcc_db_total_size_in_bytes"),
                      ("db_in_use_bytes", "etcd_mvcc_db_total_size_in_use_in_bytes"),
                      ("quota_bytes", "etcd_server_quota_backend_bytes"),
                      ("leader_changes", "etcd_server_leader_changes_seen_total")):
        if name in values:
            out[key] = int(values[name])
    if "etcd_server_has_leader" in values:
        out["has_leader"] = values["etcd_server_has_leader"] == 1
    if size and quota:
        out["db_quota_used_percent"] = round(100 * size / quota, 2)
    if size and in_use is not None:
        out["db_in_use_percent"] = round(100 * in_use / size, 2)
    for key, family in (("wal_fsync_p99_seconds", "etcd_disk_wal_fsync_duration_seconds"),
                        ("backend_commit_p99_seconds",
                         "etcd_disk_backend_commit_duration_seconds")):
        q = quantile(0.99, hist.get(family, []))
        if q is not None:
            out[key] = round(q, 6)
            out[key.replace("_p99_seconds", "_samples")] = int(max(c for _, c in hist[family]))
    return {"etcd_metrics": out}


# ------------------------------------------------------------------ component health


def _endpoint(block: Any) -> dict[str, Any]:
    if block is None:
        return {"checked": False}
    if block.kind != "cmd":
        return {"checked": False, "error": f"not run ({block.kind})"}
    body, code = [], None
    for line in block.lines:
        if line.startswith("http_code="):
            code = to_int(line.split("=", 1)[1])
        elif line:
            body.append(line)
    ok = code == 200 and block.rc == 0
    entry: dict[str, Any] = {"checked": True, "ok": ok, "http_code": code or 0,
                             "body": " ".join(body)[:200]}
    if block.rc != 0:
        entry["error"] = f"curl exit {block.rc}"
    return entry


def parse_health(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("health")
    kv = sec.kv()
    out: dict[str, Any] = {}
    if "apiserver_port" in kv:
        out["apiserver_livez"] = _endpoint(sec.cmd("apiserver-livez"))
    if kv.get("kubelet") == "1":
        out["kubelet_healthz"] = _endpoint(sec.cmd("kubelet-healthz"))
    sysctl = ctx.facts.get("sysctl")
    if isinstance(sysctl, dict):
        count = to_int(str(sysctl.get("net.netfilter.nf_conntrack_count", "")))
        limit = to_int(str(sysctl.get("net.netfilter.nf_conntrack_max", "")))
        if count is not None and limit:
            out["conntrack"] = {"count": count, "max": limit,
                                "used_percent": round(100 * count / limit, 2)}
    return {"health": out}


# ---------------------------------------------------------------- space and inodes


def _df_row(text: str) -> tuple[int, int] | None:
    """(total, available) from `df -P` output (KiB blocks or inodes)."""
    lines = text.splitlines()
    if len(lines) < 2:
        return None
    fields = lines[-1].split()
    if len(fields) < 6:
        return None
    total, avail = to_int(fields[1]), to_int(fields[3])
    if total is None or avail is None:
        return None
    return total, avail


# The kubelet's hard eviction defaults on Linux (used where evictionHard is not set).
EVICTION_DEFAULTS = {"nodefs.available": "10%", "nodefs.inodesFree": "5%",
                     "imagefs.available": "15%", "imagefs.inodesFree": "5%"}
_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTPE]i?)?\s*$")
_FACTOR = {None: 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def _threshold(value: Any, total: int) -> float | None:
    """An eviction threshold ("10%", "1Gi", "5000") as an absolute amount of `total`."""
    text = str(value).strip()
    if text.endswith("%"):
        pct = to_float(text[:-1])
        return None if pct is None else total * pct / 100
    m = _QUANTITY.match(text)
    return float(m.group(1)) * _FACTOR[m.group(2)] if m else None


def _eviction(ctx: Ctx) -> tuple[dict[str, Any], str]:
    kubelet = ctx.facts.get("kubelet")
    eff = kubelet.get("effective") if isinstance(kubelet, dict) else None
    hard = eff.get("evictionHard") if isinstance(eff, dict) else None
    if isinstance(hard, dict) and hard:
        # As the kubelet does: signals a user leaves out of evictionHard keep no default.
        return hard, "kubelet evictionHard"
    return EVICTION_DEFAULTS, "kubelet defaults"


# signal, total field, free field, threshold fact, headroom fact
_HEADROOM = (("available", "size_bytes", "available_bytes", "eviction_available_bytes",
              "space_headroom_percent"),
             ("inodesFree", "inodes", "inodes_free", "eviction_inodes_free",
              "inodes_headroom_percent"))


def _headroom(entry: dict[str, Any], fs: str, signals: dict[str, Any], source: str) -> None:
    """How far the filesystem is from the kubelet's eviction point, in % of its size
    (space) and of its inodes."""
    for signal, total_key, free_key, at_key, headroom_key in _HEADROOM:
        total, value = entry.get(total_key), signals.get(f"{fs}.{signal}")
        at = _threshold(value, total) if total and value is not None else None
        if at is not None:
            entry[at_key] = int(at)
            entry[headroom_key] = round(100 * (entry[free_key] - at) / total, 2)
    entry["eviction_signals"] = f"{fs} ({source})"


def parse_disks(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("disks")
    out: dict[str, dict[str, Any]] = {}
    for block in sec.blocks:
        if block.kind != "cmd" or block.rc != 0 or " " not in block.name:
            continue
        kind, path = block.name.split(" ", 1)
        row = _df_row(block.text)
        if row is None:
            continue
        total, avail = row
        entry = out.setdefault(path, {"path": path})
        if kind == "df" and total > 0:
            entry["size_bytes"] = total * 1024
            entry["available_bytes"] = avail * 1024
            entry["available_percent"] = round(100 * avail / total, 2)
        elif kind == "dfi" and total > 0:      # a filesystem without inodes reports 0
            entry["inodes"] = total
            entry["inodes_free"] = avail
            entry["inodes_free_percent"] = round(100 * avail / total, 2)
    signals, source = _eviction(ctx)
    for path, entry in out.items():
        # The container runtime's filesystem is the kubelet's imagefs; every other one
        # is held to the nodefs thresholds (the kubelet's own root is nodefs).
        _headroom(entry, "imagefs" if path == "/var/lib/containerd" else "nodefs", signals,
                  source)
    return {"disks": {"by_path": out, "list": list(out.values())}}
