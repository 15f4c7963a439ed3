"""Write kaudit/packs/trusted.json: the SHA-256 of every shipped rule pack and
profile. The scanner skips schema validation for a shipped file whose content
matches (the test suite validated exactly that content); run this after
editing rules/ or profiles/:

    python tools/trust_packs.py          # rewrite the manifest
    python tools/trust_packs.py --check  # exit 1 when it is stale
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "kaudit" / "packs" / "trusted.json"


def manifest() -> dict[str, object]:
    sums = {}
    for kind in ("rules", "profiles"):
        for path in sorted((ROOT / kind).glob("*.yaml")):
            text = path.read_text(encoding="utf-8")
            sums[f"{kind}/{path.name}"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return {"comment": "written by tools/trust_packs.py; checked by tests/test_catalog_trust.py",
            "sha256": sums}


def main(argv: list[str]) -> int:
    text = json.dumps(manifest(), indent=1, sort_keys=True) + "\n"
    if argv == ["--check"]:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run python tools/trust_packs.py")
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
