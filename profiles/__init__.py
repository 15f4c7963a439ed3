"""Shipped profiles (data only; installed as kaudit.packs.profiles)."""
