"""Per-section parsers of probe output; `kaudit.parse` runs them in order."""
