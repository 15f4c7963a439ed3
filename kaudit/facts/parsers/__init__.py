"""Per-section parsers of probe output; `kaudit.facts.parse` runs them in order."""
