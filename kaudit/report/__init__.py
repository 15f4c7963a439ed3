"""Report writers: `-r FORMAT[:PATH]` parsing, rendering and atomic output."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

from kaudit.core.atomic import atomic_write
from kaudit.core.errors import KauditError
from kaudit.core.model import Report
from kaudit.report.json_report import to_json
from kaudit.report.junit import to_junit
from kaudit.report.terminal import render_terminal

FORMATS: tuple[str, ...] = ("terminal", "json", "junit", "prometheus", "html")
STDOUT = "-"


def parse_report_spec(spec: str) -> tuple[str, str | None]:
    """'junit:out.xml' -> ('junit', 'out.xml'); 'json' or 'json:-' -> ('json', None).

    Raises ValueError, which click turns into a BadParameter when this
    function is an option's `type`."""
    fmt, sep, path = spec.partition(":")
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r} in {spec!r}; "
                         f"use one of {', '.join(FORMATS)} (FORMAT[:PATH])")
    if not sep:
        return fmt, None
    if not path:
        raise ValueError(f"empty path in {spec!r}; write {fmt} for stdout or {fmt}:PATH")
    return fmt, None if path == STDOUT else path


def check_specs(specs: list[tuple[str, str | None]]) -> None:
    """Refuse, before anything is scanned, report specs that cannot all be written."""
    to_stdout = [fmt for fmt, path in specs if path is None]
    if len(to_stdout) > 1:
        raise ValueError(f"only one report can go to stdout, got {', '.join(to_stdout)}; "
                         "give the others a path (FORMAT:PATH)")
    seen: dict[str, str] = {}
    for fmt, path in specs:
        if path is None:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise ValueError(f"{seen[key]} and {fmt} reports both write to {path}")
        seen[key] = fmt
        if Path(path).is_dir():
            raise ValueError(f"{path} is a directory; give a file name ({fmt}:{path}/report)")
        parent = Path(path).parent
        if not parent.is_dir():
            raise ValueError(f"directory {parent} does not exist (for {fmt}:{path})")


def render(report: Report, fmt: str, *, color: bool) -> str:
    """The report as text in one of FORMATS; color only affects `terminal`."""
    if fmt == "terminal":
        return render_terminal(report, color=color)
    if fmt == "json":
        return to_json(report)
    if fmt == "junit":
        return to_junit(report)
    if fmt == "prometheus":
        from kaudit.report.prometheus import to_prometheus

        return to_prometheus(report)
    if fmt == "html":
        from kaudit.report.html import to_html

        return to_html(report)
    raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")


def _write_stdout(stdout: TextIO, text: str) -> None:
    try:
        stdout.write(text)
    except UnicodeEncodeError:
        # A non-UTF-8 locale: degrade characters rather than lose the report.
        encoding = getattr(stdout, "encoding", None) or "ascii"
        stdout.write(text.encode(encoding, "replace").decode(encoding))
    stdout.flush()


def write_reports(report: Report, specs: list[tuple[str, str | None]], *, color: bool,
                  stdout: TextIO) -> None:
    """Write every requested report: files atomically (never colored), at most
    one to `stdout` (colored when `color`). Everything is rendered before the
    first file is replaced, so an interrupt while rendering leaves no report of
    this run beside the old ones."""
    rendered = [(fmt, path, render(report, fmt, color=color if path is None else False))
                for fmt, path in specs]
    for fmt, path, text in rendered:
        if path is None:
            _write_stdout(stdout, text)
            continue
        try:
            atomic_write(path, text)
        except OSError as exc:
            raise KauditError(f"cannot write {fmt} report: {exc.strerror or exc}",
                              path=path) from None
