"""HTML report render time in headless Chromium: a report of N hosts (the
recorded fleet cloned by bench/offline.py) against a blank page, so Chromium's
own start-up is measured and subtracted. Goal: 1,000 hosts render in < 2 s
and the file is < 3 MB.

    python bench/html_render.py [--hosts 1000] [--runs 3] [--kaudit PATH]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from offline import build

CHROMIUM = "/usr/bin/chromium"


def _render(page: Path, profile: Path) -> float:
    t0 = time.monotonic()
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                    "--window-size=1400,1000", "--dump-dom", page.as_uri()],
                   capture_output=True, timeout=300, check=True)
    return time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kaudit", help="kaudit console script (default: beside this Python)")
    a = ap.parse_args(argv)
    kaudit = a.kaudit or str(Path(sys.executable).parent / "kaudit")
    work = Path(tempfile.mkdtemp(prefix="kaudit-html-"))
    try:
        facts, page, blank = work / "facts.json", work / "report.html", work / "blank.html"
        build(a.hosts, facts)
        subprocess.run([kaudit, "scan", "-p", "prod-ha", "--facts", str(facts), "-q",
                        "-r", f"html:{page}"], capture_output=True, timeout=300)
        blank.write_text("<!DOCTYPE html><html><body>x</body></html>\n")
        times: dict[str, list[float]] = {"blank": [], "report": []}
        for i in range(a.runs):           # interleaved, a fresh profile each time
            for name, path in (("blank", blank), ("report", page)):
                profile = work / f"profile-{name}-{i}"
                times[name].append(_render(path, profile))
                shutil.rmtree(profile, ignore_errors=True)
        blank_s = statistics.median(times["blank"])
        report_s = statistics.median(times["report"])
        size_mb = page.stat().st_size / 1e6
        print(f"html: {a.hosts} hosts, {size_mb:.2f} MB; Chromium median of {a.runs}: "
              f"blank page {blank_s:.2f}s, report {report_s:.2f}s, "
              f"render {report_s - blank_s:.2f}s (goal < 2 s, < 3 MB)")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
