"""Parallel fan-out of the probe over all hosts; one failing, slow or hostile
host never affects the others."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from kaudit.collect.probe import END, HEADER
from kaudit.collect.ssh import CollectError, HostKeyStore, ProbeRun, SshOptions, run_probe
from kaudit.core.errors import InputError
from kaudit.core.model import Host, HostFacts
from kaudit.core.sanitize import one_line as clean

Progress = Callable[[int, int, int], None]
Parser = Callable[[bytes], tuple[dict[str, Any], list[str]]]


def collect_probe(hosts: Sequence[Host], script: bytes, command: str, opts: SshOptions,
                  parse: Parser, *, parallel: int = 50,
                  progress: Progress | None = None) -> list[HostFacts]:
    """Run `command` with `script` on stdin on every host and parse its output."""
    if not hosts:
        return []
    if any(h.connection != "local" for h in hosts):
        opts.config()  # a bad --ssh-config is a usage error before anything connects
    hostkeys = HostKeyStore(opts.known_hosts, opts.accept_new_host_keys)
    workers = max(1, min(parallel, len(hosts)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kaudit-collect")
    try:
        gathered = _gather(pool, hosts, script, command, opts, hostkeys, parse, progress)
    except BaseException:
        # Ctrl-C: do not wait for hosts still connecting (a `with` would).
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return gathered


def _gather(pool: ThreadPoolExecutor, hosts: Sequence[Host], script: bytes, command: str,
            opts: SshOptions, hostkeys: HostKeyStore, parse: Parser,
            progress: Progress | None) -> list[HostFacts]:
    results: list[HostFacts | None] = [None] * len(hosts)
    failed = 0
    futures = {pool.submit(_one, h, script, command, opts, hostkeys, parse): i
               for i, h in enumerate(hosts)}
    for done, fut in enumerate(as_completed(futures), 1):
        i = futures[fut]
        try:
            hf = fut.result()
        except Exception as e:  # _one catches everything; this is the last guard
            hf = HostFacts(host=hosts[i], status="error",
                           error=f"{type(e).__name__}: {clean(e)}")
        results[i] = hf
        failed += hf.status != "ok"
        if progress is not None:
            progress(done, len(hosts), failed)
    return [r for r in results if r is not None]


def _one(host: Host, script: bytes, command: str, opts: SshOptions, hostkeys: HostKeyStore,
         parse: Parser) -> HostFacts:
    start = time.monotonic()
    hf = HostFacts(host=host)
    try:
        run = run_probe(host, script, command, opts, hostkeys)
        _fill(hf, run, parse, opts.max_output)
    except CollectError as e:
        hf.status, hf.error = e.status, e.message  # type: ignore[assignment]
    except InputError as e:
        hf.status, hf.error = "error", str(e)
    except Exception as e:
        hf.status, hf.error = "error", f"{type(e).__name__}: {clean(e)}"
    hf.duration_s = round(time.monotonic() - start, 3)
    return hf


def _fill(hf: HostFacts, run: ProbeRun, parse: Parser, cap: int) -> None:
    hf.raw = run.stdout.decode("utf-8", errors="replace")
    hf.notes.extend(run.notes)
    if not run.stdout.startswith(HEADER.encode() + b" "):
        hf.status = "error"
        err = clean(run.stderr.decode("utf-8", "replace"), 200) or "no output"
        hf.error = f"probe did not run (exit status {run.exit_status}): {err}"
        return
    # The bytes, not the decoded text: the parser notes output that is not UTF-8.
    facts, notes = parse(run.stdout)
    hf.facts = facts
    hf.notes.extend(notes)
    if run.clock_offset_s is not None and run.clock_uncertainty_s is not None:
        hf.facts["clock"] = {"offset_s": round(run.clock_offset_s, 6),
                             "uncertainty_s": round(run.clock_uncertainty_s, 6)}
    if run.truncated:
        hf.status = "error"
        hf.error = f"probe output exceeded {cap} bytes; truncated (facts are incomplete)"
    elif b"\n" + END.encode() + b" " not in run.stdout:
        # A connection cut or a killed probe leaves partial facts: never call that ok.
        hf.status = "error"
        hf.error = (f"connection closed before the probe finished (no end marker after "
                    f"{len(run.stdout)} bytes; facts are incomplete)")
    elif run.exit_status not in (0, None):
        hf.notes.append(f"probe exited with status {run.exit_status}")
