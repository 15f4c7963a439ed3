"""Stage 2, collect: one SSH connection per host (or none, for local hosts),
the read-only probe on stdin, its raw output and the clock offset."""
