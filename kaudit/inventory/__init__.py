"""Stage 1, inventory: an inventory file (or @local) -> hosts, roles and
canonical cluster vars. raw (what a parser yields) <- ini, groupvars;
clustervars and build validate; load is the entry point."""

from kaudit.inventory.clustervars import apply_overrides
from kaudit.inventory.load import LOCAL_INVENTORY, load_inventory, parse_inventory
from kaudit.inventory.raw import CLUSTER_VARS, MAX_GROUPS, MAX_RANGE_HOSTS, is_secret

__all__ = ["CLUSTER_VARS", "LOCAL_INVENTORY", "MAX_GROUPS", "MAX_RANGE_HOSTS", "apply_overrides",
           "is_secret", "load_inventory", "parse_inventory"]
