"""The command line: options, commands, and the process-wide settings (GC
policy) that belong to a program rather than to library code."""

from kaudit.cli.commands import cli, main

__all__ = ["cli", "main"]
