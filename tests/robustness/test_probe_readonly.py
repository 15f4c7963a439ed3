"""The probe stays read-only: the read-only-root and nothing-written tests of
tests/test_probe.py run as part of the matrix (imported, not copied)."""

from test_probe import (  # noqa: F401  (pytest collects imported tests and fixtures)
    local_run,
    test_hostile_args_are_ignored_by_the_script,
    test_probe_writes_nothing_to_tmp_or_home,
    test_read_only_root_gives_same_facts,
)
