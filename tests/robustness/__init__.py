"""Robustness and security matrix (GitHub issue "Hardening")."""
