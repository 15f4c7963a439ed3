"""Stage 3, facts: probe output -> the fact tree (parse, parsers/), and fact
files that store both (factfile)."""
