"""Stage 1, inventory: an inventory file (or @local) -> hosts, roles and
canonical cluster vars."""
