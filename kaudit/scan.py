"""The scan pipeline as a library call: inventory or fact file -> collect ->
evaluate -> Report. The CLI parses options into `ScanRequest` and calls
`run_scan`; nothing here prints (progress goes through a callback)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kaudit import __version__
from kaudit.core.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK, InputError, KauditError
from kaudit.core.model import Host, HostFacts, Report, Result, Rule, Severity, severity_rank

if TYPE_CHECKING:
    from kaudit.collect.options import SshOptions


def _ssh_options() -> SshOptions:
    # Imported on use: a scan of a fact file never loads the collector.
    from kaudit.collect.options import SshOptions

    return SshOptions()


@dataclass
class ScanRequest:
    profile: str
    inventory: str | None = None
    facts_path: str | None = None
    phase: str = "auto"
    variables: dict[str, str] = field(default_factory=dict)
    rules_dirs: Sequence[str] = ()
    only: Sequence[str] = ()
    skip: Sequence[str] = ()
    save_facts: str | None = None
    ssh: SshOptions = field(default_factory=_ssh_options)
    parallel: int = 50
    waivers: str | None = None
    baseline: str | None = None
    baseline_facts: str | None = None    # an earlier fact file: its facts as `baseline.*`
    inventory_format: str = "auto"
    kubeadm_config: str | None = None
    today: date | None = None            # waiver expiry reference (UTC); None = today
    fail_on: Severity = "low"            # carried into the report (JUnit marks failures by it)


@dataclass
class Plan:
    """Rules selected for a scan with their effective parameters."""

    profile: str
    rules: list[Rule]
    params: dict[str, Any]
    deselected: dict[str, str]
    known: frozenset[str] = frozenset()  # every loaded rule id, selected or not


def plan_rules(profile: str, rules_dirs: Sequence[str], only: Sequence[str],
               skip: Sequence[str]) -> Plan:
    """Load packs and the profile, apply --only/--skip; bad input raises KauditError."""
    from kaudit.catalog.profiles import apply_profile, load_profile
    from kaudit.catalog.rules import load_rules, rule_matches

    dirs = [Path(d) for d in rules_dirs]
    ruleset = load_rules(dirs)
    prof = load_profile(profile, dirs)
    rules, params = apply_profile(ruleset, prof)
    for token in (*only, *skip):
        if not any(rule_matches(r, token) for r in ruleset.rules):
            raise KauditError(f"--only/--skip: {token!r} matches no rule id, pack or tag "
                              "(see `kaudit rules list`)")
    deselected: dict[str, str] = {}
    for rule in rules:
        if only and not any(rule_matches(rule, t) for t in only):
            deselected[rule.id] = "not selected by --only"
        elif any(rule_matches(rule, t) for t in skip):
            deselected[rule.id] = "skipped by --skip"
    if rules and len(deselected) == len(rules):
        raise KauditError("no rule left to run after --only/--skip")
    if not rules:
        raise KauditError(f"profile {prof.name!r} selects no rules")
    return Plan(profile=prof.name, rules=rules, params=params, deselected=deselected,
                known=frozenset(r.id for r in ruleset.rules))


def gather(req: ScanRequest, progress: Callable[[int, int, int], None] | None
           ) -> tuple[list[HostFacts], dict[str, Any], str | None, list[str]]:
    """Hosts with facts, from a fact file or by collecting over SSH, when the facts
    were collected (None: now), and the inventory's notes."""
    if req.facts_path:
        from kaudit.facts.factfile import load_facts
        from kaudit.inventory import apply_overrides

        hosts, cluster_vars, header = load_facts(req.facts_path)
        stamp = header.get("collected_at")
        return (hosts, apply_overrides(cluster_vars, req.variables),
                stamp if isinstance(stamp, str) else None, [])
    if not req.inventory:
        raise KauditError("give an inventory file or --facts FILE")
    from kaudit.inventory import load_inventory

    inv = load_inventory(req.inventory, req.variables, fmt=req.inventory_format,
                         kubeadm_config=req.kubeadm_config)
    hosts = collect_facts(inv.hosts, inv.vars, req.ssh, parallel=req.parallel,
                          progress=progress)
    return hosts, dict(inv.vars), None, list(inv.notes)


def collect_facts(hosts: Sequence[Host], cluster_vars: Mapping[str, Any], opts: SshOptions,
                  *, parallel: int = 50,
                  progress: Callable[[int, int, int], None] | None = None) -> list[HostFacts]:
    """Run the kaudit probe on every host; results in input order."""
    from kaudit.collect.fanout import collect_probe
    from kaudit.collect.probe import probe_args, probe_command, probe_script
    from kaudit.facts.parse import parse_probe_output

    try:
        args = probe_args(dict(cluster_vars))
    except ValueError as e:
        raise InputError(f"cluster vars: {e}") from None
    command = probe_command(args, opts.sudo)
    return collect_probe(hosts, probe_script(), command, opts, parse_probe_output,
                         parallel=parallel, progress=progress)


def _baseline_facts(path: str) -> dict[str, dict[str, Any]]:
    """Host name -> facts of an earlier fact file (`--baseline-facts`)."""
    from kaudit.facts.factfile import load_facts

    hosts, _, _ = load_facts(path)
    return {hf.host.name: hf.facts for hf in hosts if hf.status == "ok"}


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_scan(req: ScanRequest, progress: Callable[[int, int, int], None] | None = None
             ) -> Report:
    """Plan, gather, evaluate: one complete Report (bad input raises KauditError)."""
    from kaudit.evaluate.engine import detect_phase, evaluate

    started = time.monotonic()
    started_at = now_iso()
    plan = plan_rules(req.profile, req.rules_dirs, req.only, req.skip)
    # Every input is checked before anything is scanned.
    waivers: list[Any] = []
    if req.waivers:
        from kaudit.results.waivers import load_waivers

        waivers = load_waivers(req.waivers, plan.known)
    baseline = None
    if req.baseline:
        from kaudit.results.drift import load_baseline

        baseline = load_baseline(req.baseline)
    earlier = _baseline_facts(req.baseline_facts) if req.baseline_facts else {}
    hosts, cluster_vars, collected_at, inventory_notes = gather(req, progress)
    if req.save_facts:
        from kaudit.facts.factfile import save_facts

        save_facts(req.save_facts, hosts, cluster_vars, inventory_path=req.inventory,
                   collected_at=started_at)
    phase = detect_phase(hosts) if req.phase == "auto" else req.phase
    # Rules compare a host with its own earlier facts through `baseline.*` (empty when
    # no baseline fact file was given, or the host was not in it).
    judged = [replace(hf, facts={**hf.facts, "baseline": earlier.get(hf.host.name, {})})
              for hf in hosts]
    results = evaluate(plan.rules, judged, cluster_vars=cluster_vars, params=plan.params,
                       phase=phase, deselected=plan.deselected)
    notes: list[str] = [f"inventory: {n}" for n in inventory_notes]
    if req.waivers:
        from kaudit.results.waivers import apply_waivers

        notes += apply_waivers(results, waivers, today=req.today)
    report = Report(
        kaudit_version=__version__, profile=plan.profile, phase=phase,
        started_at=started_at, duration_s=0.0, hosts=hosts, results=results, notes=notes,
        collected_at=collected_at or started_at, fail_on=req.fail_on,
    )
    if baseline is not None and req.baseline:
        from kaudit.results.drift import apply_baseline

        apply_baseline(report, baseline, baseline_path=req.baseline)
    report.duration_s = round(time.monotonic() - started, 3)
    return report


def failing(results: Sequence[Result], fail_on: str, *, drift_only: bool = False
            ) -> list[Result]:
    """Failures at or above `fail_on` (only new ones with `drift_only`)."""
    floor = severity_rank(fail_on)
    return [r for r in results
            if r.status == "fail" and severity_rank(r.severity) >= floor
            and (not drift_only or r.drift == "new")]


def exit_code(report: Report, fail_on: str, *, drift_only: bool = False) -> int:
    """SPEC §1: 3 when the audit is incomplete (a host could not be scanned, or a
    selected rule could not be evaluated: error), else 1 on failures at or above
    `fail_on`, else 0. A run that checked nothing it selected never exits 0."""
    if any(h.status != "ok" for h in report.hosts) or any(
            r.status == "error" for r in report.results):
        return EXIT_INCOMPLETE
    if report.coverage["selected"] == 0:
        return EXIT_INCOMPLETE       # nothing applied: nothing was checked
    if failing(report.results, fail_on, drift_only=drift_only):
        return EXIT_FINDINGS
    return EXIT_OK


def diff_files(old: str, new: str, *, profile: str | None = None,
               rules_dirs: Sequence[str] = ()) -> Any:
    """`kaudit diff`: load both inputs and compare them (bad input raises
    KauditError). With `profile`, two fact files are also evaluated against it,
    so their findings are compared as a report's are and `worse` means a new
    failure."""
    from kaudit.results.diff import diff_sides, load_side

    sides = load_side(old), load_side(new)
    if profile is not None:
        for side in sides:
            if side.kind != "facts":
                raise KauditError(f"--profile evaluates fact files; {side.path} is a report, "
                                  "which already carries its findings")
            side.report = run_scan(ScanRequest(profile=profile, facts_path=side.path,
                                               rules_dirs=rules_dirs))
    return diff_sides(*sides)
