"""Command line. Commands parse options and call library functions; every
KauditError is caught in `main` and printed as one line with its exit code."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from kaudit import __version__
from kaudit.cli.options import connection_options, rules_dir_option, scan_options, var_option
from kaudit.core.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_INTERRUPTED, KauditError


def _color(stream: Any) -> bool:
    """Colour on a terminal unless NO_COLOR is set to a non-empty value (no-color.org)."""
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


class Progress:
    """`hosts done/total, failed` on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.shown = False

    def __call__(self, done: int, total: int, failed: int) -> None:
        if not self.enabled:
            return
        sys.stderr.write(f"\rscanned {done}/{total} hosts, {failed} unreachable or failed ")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K" if _color(sys.stderr) else "\n")
            sys.stderr.flush()


def _ssh_options(kw: dict[str, Any]) -> Any:
    """The connection options as the collector takes them (no paramiko import)."""
    from kaudit.collect.options import SshOptions

    return SshOptions(
        timeout=kw["timeout"], user=kw["user"], identity=list(kw["identity"]),
        port=kw["port"], ssh_config=kw["ssh_config"], jump=kw["jump"], sudo=kw["sudo"],
        known_hosts=kw["known_hosts"], accept_new_host_keys=kw["accept_new_host_keys"],
    )


class KauditGroup(click.Group):
    """Turns KauditError from any subcommand into one line on stderr + its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KauditError as exc:
            click.echo(f"kaudit: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            # Ctrl-C: 130 (128 + SIGINT), never 1 ("findings failed"). Reports are
            # rendered whole before any file is replaced, so none of this run is
            # left; collector threads may still be blocked connecting, so exit now.
            sys.stdout.flush()
            sys.stderr.write("\nkaudit: interrupted; no report written\n")
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)


@click.group(cls=KauditGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kaudit")
def cli() -> None:
    """Agentless preflight and compliance audit for self-hosted HA Kubernetes."""


@cli.command()
@click.argument("inventory", required=False, type=click.Path(dir_okay=False))
@scan_options
@connection_options
def scan(inventory: str | None, **kw: Any) -> None:
    """Scan the hosts of INVENTORY (or a saved --facts file) against a profile."""
    from kaudit.report import check_specs, parse_report_spec, write_reports
    from kaudit.scan import ScanRequest, exit_code, run_scan

    if bool(inventory) == bool(kw["facts_path"]):
        raise click.UsageError("give either an INVENTORY file or --facts FILE (not both)")
    if kw["fail_on_drift"] and not kw["baseline"]:
        raise click.UsageError("--fail-on-drift needs --baseline PREVIOUS.json")
    try:
        specs = [parse_report_spec(s) for s in (kw["reports"] or ("terminal",))]
        check_specs(specs)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'-r/--report'") from None
    req = ScanRequest(
        profile=kw["profile"], inventory=inventory, facts_path=kw["facts_path"],
        phase=kw["phase"], variables=kw["variables"], rules_dirs=kw["rules_dirs"],
        only=kw["only"], skip=kw["skip"], save_facts=kw["save_facts"],
        parallel=kw["parallel"], waivers=kw["waivers"], baseline=kw["baseline"],
        baseline_facts=kw["baseline_facts"], inventory_format=kw["inventory_format"],
        kubeadm_config=kw["kubeadm_config"], fail_on=kw["fail_on"],
    )
    if inventory:          # a fact file needs no connection options (nor their imports)
        req.ssh = _ssh_options(kw)
    progress = Progress(not kw["no_progress"] and kw["quiet"] == 0)
    try:
        report = run_scan(req, progress)
    finally:
        progress.close()
    if kw["verbose"]:
        for hf in report.hosts:
            for note in hf.notes:
                click.echo(f"{hf.host.name}: note: {note}", err=True)
    write_reports(report, specs, color=_color(sys.stdout), stdout=sys.stdout)
    sys.exit(exit_code(report, kw["fail_on"], drift_only=kw["fail_on_drift"]))


@cli.command()
@click.argument("inventory", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Fact file to write.")
@var_option
@connection_options
def collect(inventory: str, output: str, variables: dict[str, str], **kw: Any) -> None:
    """Collect facts from every host of INVENTORY into a fact file (no rules)."""
    from kaudit.facts.factfile import save_facts
    from kaudit.inventory import load_inventory
    from kaudit.scan import collect_facts as do_collect
    from kaudit.scan import now_iso

    started_at = now_iso()
    inv = load_inventory(inventory, variables, fmt=kw["inventory_format"],
                         kubeadm_config=kw["kubeadm_config"])
    for note in inv.notes:
        click.echo(f"kaudit: inventory: {note}", err=True)
    progress = Progress(not kw["no_progress"])
    try:
        hosts = do_collect(inv.hosts, inv.vars, _ssh_options(kw),
                           parallel=kw["parallel"], progress=progress)
    finally:
        progress.close()
    save_facts(output, hosts, dict(inv.vars), inventory_path=inventory,
               collected_at=started_at)
    bad = [h for h in hosts if h.status != "ok"]
    for h in bad:
        click.echo(f"{h.host.name}: {h.status}: {h.error}", err=True)
    click.echo(f"collected {len(hosts) - len(bad)}/{len(hosts)} hosts into {output}", err=True)
    sys.exit(EXIT_INCOMPLETE if bad else 0)


@cli.command()
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("-p", "--profile", metavar="NAME|PATH",
              help="Evaluate two fact files against this profile and compare findings too.")
@rules_dir_option
def diff(old: str, new: str, fmt: str, profile: str | None,
         rules_dirs: tuple[str, ...]) -> None:
    """What changed between two JSON reports or two fact files (exit 1: worse)."""
    from kaudit.results.diff import render_table, to_json
    from kaudit.scan import diff_files

    result = diff_files(old, new, profile=profile, rules_dirs=rules_dirs)
    click.echo(to_json(result) if fmt == "json" else render_table(result), nl=False)
    sys.exit(EXIT_FINDINGS if result.worse else 0)


@cli.group()
def rules() -> None:
    """List, show and validate rule packs."""


@rules.command("list")
@click.option("-p", "--profile", help="Only the rules this profile selects.")
@rules_dir_option
def rules_list(profile: str | None, rules_dirs: tuple[str, ...]) -> None:
    """List rules: id, severity, scope, title."""
    from tabulate import tabulate

    selected = _selected_rules(profile, rules_dirs)
    rows = [(r.id, r.severity, r.scope, ",".join(r.roles) or "all", r.title)
            for r in selected]
    click.echo(tabulate(rows, headers=["id", "severity", "scope", "roles", "title"]))
    click.echo(f"\n{len(rows)} rules", err=True)


def _selected_rules(profile: str | None, rules_dirs: tuple[str, ...]) -> list[Any]:
    from pathlib import Path

    from kaudit.catalog.profiles import apply_profile, load_profile
    from kaudit.catalog.rules import load_rules

    dirs = [Path(d) for d in rules_dirs]
    ruleset = load_rules(dirs)
    if profile is None:
        return list(ruleset.rules)
    selected, _ = apply_profile(ruleset, load_profile(profile, dirs))
    return selected


@rules.command("show")
@click.argument("rule_id")
@rules_dir_option
def rules_show(rule_id: str, rules_dirs: tuple[str, ...]) -> None:
    """Show one rule in full."""
    from kaudit.core.yamlio import dump_yaml

    for rule in _selected_rules(None, rules_dirs):
        if rule.id == rule_id:
            doc = {
                "id": rule.id, "title": rule.title, "pack": rule.pack,
                "severity": rule.severity, "scope": rule.scope,
                "roles": list(rule.roles) or ["all"], "phase": list(rule.phase),
                "tags": list(rule.tags), "source": rule.source,
                "rationale": rule.rationale, "check": rule.check,
                "remediation": rule.remediation,
            }
            if rule.applies:
                doc["applies"] = rule.applies
            click.echo(dump_yaml(doc), nl=False)
            return
    raise KauditError(f"no rule {rule_id!r} (see `kaudit rules list`)")


@rules.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
def rules_validate(paths: tuple[str, ...]) -> None:
    """Validate rule pack files or directories (together with the shipped packs)."""
    from pathlib import Path

    from kaudit.catalog.rules import load_rules, pack_files

    targets = [Path(p) for p in paths]
    # Validates every given pack and refuses an id defined twice (file:line of both).
    ruleset = load_rules(targets)
    given = {f.resolve() for t in targets for f in pack_files(t)}
    count = sum(1 for r in ruleset.rules
                if r.source and Path(r.source.rpartition(":")[0]).resolve() in given)
    click.echo(f"ok: {count} rules valid in {len(paths)} path(s)")


@cli.group()
def profiles() -> None:
    """List and show profiles."""


@profiles.command("list")
def profiles_list() -> None:
    """List shipped profiles."""
    from tabulate import tabulate

    from kaudit.catalog.profiles import list_profiles

    rows = [(p.name, ", ".join(p.extends) or "-", p.description) for p in list_profiles()]
    click.echo(tabulate(rows, headers=["profile", "extends", "description"]))


@profiles.command("show")
@click.argument("name")
@rules_dir_option
def profiles_show(name: str, rules_dirs: tuple[str, ...]) -> None:
    """Show a profile after `extends` is resolved: parameters and selected rules."""
    from pathlib import Path

    from kaudit.catalog.profiles import apply_profile, load_profile
    from kaudit.catalog.rules import load_rules
    from kaudit.core.yamlio import dump_yaml

    dirs = [Path(d) for d in rules_dirs]
    prof = load_profile(name, dirs)
    selected, params = apply_profile(load_rules(dirs), prof)
    doc = {
        "profile": prof.name, "description": prof.description, "extends": prof.extends,
        "params": params, "rules": [f"{r.id} ({r.severity})" for r in selected],
    }
    click.echo(dump_yaml(doc), nl=False)


@cli.group()
def inventory() -> None:
    """Inspect an inventory."""


@inventory.command("show")
@click.argument("path", type=click.Path(dir_okay=False))
@var_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def inventory_show(path: str, variables: dict[str, str], fmt: str, inventory_format: str,
                   kubeadm_config: str | None) -> None:
    """Show parsed hosts, roles and cluster vars, and where each var came from."""
    from tabulate import tabulate

    from kaudit.inventory import load_inventory

    inv = load_inventory(path, variables, fmt=inventory_format, kubeadm_config=kubeadm_config)
    if fmt == "json":
        click.echo(json.dumps({"format": inv.format,
                               "hosts": [h.to_dict() for h in inv.hosts], "vars": inv.vars,
                               "origins": inv.origins, "notes": inv.notes},
                              indent=2, default=str))
        return
    click.echo(f"format: {inv.format}")
    rows = [(h.name, h.address, h.ip or "", h.port or "", h.user or "", ",".join(h.roles),
             h.connection) for h in inv.hosts]
    click.echo(tabulate(rows, headers=["host", "address", "cluster ip", "port", "user",
                                       "roles", "connection"]))
    click.echo()
    names = sorted(set(inv.vars) | set(inv.origins))
    click.echo(tabulate([(k, str(inv.vars.get(k, "")), inv.origins.get(k, "")) for k in names],
                        headers=["cluster var", "value", "from"]))
    for note in inv.notes:
        click.echo(f"note: {note}")


def main() -> None:
    """Console-script entry point."""
    from kaudit.cli import gcpolicy

    gcpolicy.apply()
    try:
        cli(prog_name="kaudit")
    except BrokenPipeError:
        # `kaudit rules list | head`: the reader went away; say nothing.
        sys.stderr.close()
        sys.exit(0)
