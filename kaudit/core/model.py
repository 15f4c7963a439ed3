"""The data model shared by every stage: inventory -> collect -> facts ->
evaluate -> results -> reports. Plain dataclasses, no behaviour beyond
small derived properties."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")
ROLES: tuple[str, ...] = ("master", "worker", "etcd")
PHASES: tuple[str, ...] = ("preflight", "installed")
SCOPES: tuple[str, ...] = ("host", "cluster")
RESULT_STATUSES: tuple[str, ...] = ("pass", "fail", "error", "skip", "waived")
HOST_STATUSES: tuple[str, ...] = (
    "ok", "unreachable", "auth_failed", "hostkey_rejected", "timeout", "error",
)

Severity = Literal["info", "low", "medium", "high", "critical"]
ResultStatus = Literal["pass", "fail", "error", "skip", "waived"]
HostStatus = Literal["ok", "unreachable", "auth_failed", "hostkey_rejected", "timeout", "error"]


def severity_rank(severity: str) -> int:
    """0 for info up to 4 for critical."""
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Host:
    """One inventory entry. `vars` never holds secrets; those are in `secrets`,
    which is excluded from repr and from every serialisation."""

    name: str
    address: str
    roles: tuple[str, ...] = ()
    user: str | None = None
    port: int | None = None
    identity: str | None = None
    connection: Literal["ssh", "local"] = "ssh"
    vars: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    groups: tuple[str, ...] = ()
    line: int | None = None
    secrets: dict[str, str] = field(default_factory=dict, repr=False, hash=False,
                                    compare=False)
    # The address Kubernetes binds to, where the inventory names one apart from the SSH
    # address (Kubespray `ip`/`access_ip`, KubeKey internalAddress); None: `address`.
    ip: str | None = None

    @property
    def cluster_address(self) -> str:
        return self.ip or self.address

    def to_dict(self) -> dict[str, Any]:
        """Inventory entry as stored in fact files (no secrets)."""
        return {
            "name": self.name, "address": self.address, "roles": list(self.roles),
            "user": self.user, "port": self.port, "identity": self.identity,
            "connection": self.connection, "groups": list(self.groups), "vars": self.vars,
            **({"ip": self.ip} if self.ip else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Host:
        return cls(
            name=data["name"], address=data["address"], roles=tuple(data.get("roles", ())),
            user=data.get("user"), port=data.get("port"), identity=data.get("identity"),
            connection=data.get("connection", "ssh"), groups=tuple(data.get("groups", ())),
            vars=dict(data.get("vars") or {}), ip=data.get("ip"),
        )


@dataclass
class Inventory:
    """Parsed inventory: hosts in file order plus canonical cluster vars."""

    path: str
    hosts: list[Host]
    vars: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    # Where each cluster var came from ("group_vars/k8s_cluster/k8s-cluster.yml:94",
    # "default", "--var"), and values that could not be used (a Jinja expression).
    origins: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    format: str = "ini"

    def by_role(self, role: str) -> list[Host]:
        return [h for h in self.hosts if role in h.roles]


@dataclass
class HostFacts:
    """What collection produced for one host."""

    host: Host
    status: HostStatus = "ok"
    error: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    raw: str | None = None
    notes: list[str] = field(default_factory=list)
    duration_s: float | None = None


@dataclass(frozen=True)
class Rule:
    """One check from a rule pack, after profile overrides are applied."""

    id: str
    title: str
    severity: Severity
    scope: Literal["host", "cluster"]
    check: dict[str, Any]
    pack: str
    roles: tuple[str, ...] = ()          # empty = every role
    phase: tuple[str, ...] = PHASES
    tags: tuple[str, ...] = ()
    rationale: str = ""
    remediation: str = ""
    message: str = ""                    # template for the failure message
    applies: dict[str, Any] | None = None  # optional condition; false -> skip
    source: str | None = None            # "file:line" of the rule in its pack


@dataclass
class Result:
    """The outcome of one rule on one host (or on the cluster: host=None)."""

    rule: str
    title: str
    severity: Severity
    scope: Literal["host", "cluster"]
    pack: str
    host: str | None
    status: ResultStatus
    observed: Any = None
    expected: Any = None
    message: str = ""
    remediation: str = ""
    waiver: dict[str, Any] | None = None   # the waiver that applied (or expired)
    drift: Literal["new", "resolved", "unchanged"] | None = None


@dataclass
class Report:
    """Everything a report writer needs; writers never recompute results."""

    kaudit_version: str
    profile: str
    phase: str
    started_at: str
    duration_s: float
    hosts: list[HostFacts]
    results: list[Result]
    notes: list[str] = field(default_factory=list)
    collected_at: str | None = None      # when the facts were collected (ISO 8601, UTC)
    fail_on: Severity = "low"            # the gate: failures below it do not fail the run

    @property
    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(RESULT_STATUSES, 0)
        for r in self.results:
            counts[r.status] += 1
        return counts

    @property
    def coverage(self) -> dict[str, int]:
        """Selected checks (not skipped: pass, fail, waived, error) and how many of
        them were evaluated (all but error). A run with evaluated < selected is
        incomplete, whatever else it found."""
        s = self.summary
        evaluated = s["pass"] + s["fail"] + s["waived"]
        return {"evaluated": evaluated, "selected": evaluated + s["error"]}
