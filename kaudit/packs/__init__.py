"""Shipped data: rule packs and profiles (mapped from the repository top level)."""
