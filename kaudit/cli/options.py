"""Click options defined once and stacked as decorators (pip-tools style)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from kaudit.core.model import SEVERITIES

F = TypeVar("F", bound=Callable[..., Any])


def _kv(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", ctx=ctx, param=param)
        out[key.strip()] = value.strip()
    return out


def _positive(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and value <= 0:
        raise click.BadParameter("must be greater than 0", ctx=ctx, param=param)
    return value


def stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """Apply several click decorators in reading order."""
    def apply(func: F) -> F:
        for deco in reversed(decorators):
            func = deco(func)
        return func
    return apply


connection_options = stack(
    click.option("-j", "--parallel", type=int, default=50, show_default=True,
                 callback=_positive, help="Hosts scanned at once."),
    click.option("--timeout", type=float, default=60.0, show_default=True, callback=_positive,
                 help="Seconds per host for connect + probe."),
    click.option("-u", "--user", help="SSH user (inventory vars win)."),
    click.option("-i", "--identity", multiple=True, type=click.Path(dir_okay=False),
                 help="Private key file (repeatable)."),
    click.option("--port", type=click.IntRange(1, 65535), help="SSH port (inventory vars win)."),
    click.option("--ssh-config", type=click.Path(dir_okay=False),
                 help="OpenSSH client config (default ~/.ssh/config)."),
    click.option("--jump", metavar="[USER@]HOST[:PORT]", help="Jump host for every connection."),
    click.option("--sudo", is_flag=True, help="Run the probe with `sudo -n`."),
    click.option("--known-hosts", type=click.Path(dir_okay=False),
                 help="known_hosts file (default ~/.ssh/known_hosts)."),
    click.option("--accept-new-host-keys", is_flag=True,
                 help="Trust and record unknown host keys (changed keys are always refused)."),
    click.option("--no-progress", is_flag=True, help="No progress display on stderr."),
)

var_option = stack(
    click.option("--var", "variables", multiple=True, callback=_kv, metavar="KEY=VALUE",
                 help="Override a cluster var (repeatable)."),
    click.option("--inventory-format", type=click.Choice(["auto", "ini", "yaml", "kubekey"]),
                 default="auto", show_default=True,
                 help="Inventory format; auto detects INI, Ansible YAML or KubeKey by content."),
    click.option("--kubeadm-config", type=click.Path(dir_okay=False),
                 help="kubeadm.yaml (ClusterConfiguration, InitConfiguration) as the cluster "
                      "plan: pod/service CIDRs, VIP and port, version."),
)

rules_dir_option = click.option(
    "--rules", "rules_dirs", multiple=True, type=click.Path(exists=True, file_okay=False),
    help="Extra directory of rule packs (repeatable).")

scan_options = stack(
    click.option("-p", "--profile", required=True, metavar="NAME|PATH",
                 help="Profile: prod-ha, lab, baseline or a YAML file."),
    click.option("-r", "--report", "reports", multiple=True, metavar="FORMAT[:PATH]",
                 help="Report format and file (repeatable; no PATH = stdout). "
                      "Default: terminal."),
    click.option("--phase", type=click.Choice(["auto", "preflight", "installed"]),
                 default="auto", show_default=True,
                 help="Which rules apply: before or after Kubernetes is installed."),
    var_option,
    rules_dir_option,
    click.option("--only", multiple=True, metavar="ID|TAG",
                 help="Run only matching rules (id, glob, pack or tag; repeatable)."),
    click.option("--skip", multiple=True, metavar="ID|TAG",
                 help="Skip matching rules (repeatable)."),
    click.option("--waivers", type=click.Path(dir_okay=False), help="Waivers YAML file."),
    click.option("--fail-on", type=click.Choice(list(SEVERITIES)), default="low",
                 show_default=True,
                 help="Lowest severity whose failure makes the exit code 1."),
    click.option("--fail-on-drift", is_flag=True,
                 help="With --baseline: only new failures fail the run."),
    click.option("--save-facts", type=click.Path(dir_okay=False),
                 help="Also write the collected facts to this file."),
    click.option("--facts", "facts_path", type=click.Path(dir_okay=False),
                 help="Evaluate a saved fact file instead of connecting."),
    click.option("--baseline", type=click.Path(dir_okay=False),
                 help="Earlier JSON report: mark results new / resolved / unchanged."),
    click.option("--baseline-facts", type=click.Path(dir_okay=False),
                 help="Earlier fact file (--save-facts): rules compare counters with it "
                      "(etcd leader changes)."),
    click.option("-q", "--quiet", count=True, help="Less output on stderr."),
    click.option("-v", "--verbose", count=True, help="More output on stderr."),
)
