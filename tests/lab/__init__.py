"""End-to-end lab: HA fleets of booted hosts (systemd-nspawn from a shared Debian root) in
network namespaces (see __main__ for by-hand use)."""

from .core import PREFIX, Disk, Lab, down_all
from .fleet import FLEETS_DIR, Fleet, HostSpec, load_fleet
from .run import LabError, run, unmet

__all__ = ["FLEETS_DIR", "PREFIX", "Disk", "Fleet", "HostSpec", "Lab", "LabError",
           "down_all", "load_fleet", "run", "unmet"]
