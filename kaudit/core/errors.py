"""Error classes. Every user-facing error carries its exit code and, where
there is one, the file and line it is about; the CLI catches KauditError in
one place and prints `str(error)` without a traceback."""

from __future__ import annotations

# Exit codes of `kaudit scan` (SPEC §1). Named so no module writes a bare 2.
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3     # a host not scanned, or a selected rule not evaluated (error)
EXIT_INTERRUPTED = 130  # SIGINT: 128 + 2, as shells report it; no report written


class KauditError(Exception):
    """A problem the user can fix; printed as one line, no traceback."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = str(self.path)
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        return where + self.message


class InputError(KauditError):
    """Bad input file: inventory, rule pack, profile, waivers, fact file."""


class InventoryError(InputError):
    """The inventory cannot be read."""


class RuleError(InputError):
    """A rule pack or profile is invalid."""


class FactFileError(InputError):
    """A fact file or report of another version or shape."""
