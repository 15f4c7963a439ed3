"""Shipped rule packs (data only; installed as kaudit.packs.rules)."""
