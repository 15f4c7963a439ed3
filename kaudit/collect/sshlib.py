"""paramiko, imported without invoke.

paramiko.config imports invoke at import time (with asyncio and unittest.mock
behind it; its cost is in bench/RESULTS.md) for one purpose: running the commands of `Match exec`
lines in ssh_config. Every connecting kaudit command paid for it. kaudit
imports paramiko with invoke hidden and hands invoke to paramiko.config only
when an ssh_config file has a `Match exec` line.
"""

from __future__ import annotations

import re
import sys
from types import ModuleType
from typing import Any

_MATCH_EXEC = re.compile(r"^[ \t]*match\b.*\bexec\b", re.IGNORECASE | re.MULTILINE)


def paramiko() -> ModuleType:
    """The paramiko module (imported on first use, without invoke)."""
    loaded = sys.modules.get("paramiko")
    if loaded is not None:
        return loaded
    hide = "invoke" not in sys.modules
    if hide:
        sys.modules["invoke"] = None  # type: ignore[assignment]  # import -> ImportError
    try:
        import paramiko as mod
    finally:
        if hide and "invoke" in sys.modules and sys.modules["invoke"] is None:
            del sys.modules["invoke"]
    return mod


def needs_match_exec(config_text: str) -> bool:
    return _MATCH_EXEC.search(config_text) is not None


def enable_match_exec() -> None:
    """Give paramiko.config the invoke module it runs `Match exec` commands with
    (when invoke is installed; otherwise paramiko reports it at lookup, as ever)."""
    config: Any = paramiko().config
    if getattr(config, "invoke", None) is not None:
        return
    try:
        import invoke
    except ImportError:
        return
    config.invoke = invoke
