"""Running the probe on this machine (`ansible_connection=local`, `@local`): a
subprocess with the same time and output limits as an SSH run."""

from __future__ import annotations

import contextlib
import os
import selectors
import shlex
import signal
import subprocess
import time

from kaudit.collect.options import _READ_CHUNK, CollectError, ProbeRun, SshOptions, _Output


def _run_local(script: bytes, command: str, opts: SshOptions, deadline: float) -> ProbeRun:
    """Run the probe on this machine: argv from the (quoted) command, no shell."""
    argv = shlex.split(command)
    output = _Output(opts.max_output)
    output.t0 = time.time()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        raise CollectError("error", f"cannot run {argv[0]}: {e.strerror}") from None
    assert proc.stdin and proc.stdout and proc.stderr
    pending = memoryview(script)
    sel = selectors.DefaultSelector()
    try:
        for f in (proc.stdin, proc.stdout, proc.stderr):
            os.set_blocking(f.fileno(), False)
        sel.register(proc.stdin, selectors.EVENT_WRITE)
        sel.register(proc.stdout, selectors.EVENT_READ)
        sel.register(proc.stderr, selectors.EVENT_READ)
        if not pending:
            sel.unregister(proc.stdin)
            proc.stdin.close()
        open_reads = 2
        while open_reads and not output.truncated:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CollectError("timeout", f"probe did not finish within {opts.timeout:g}s")
            for key, _ in sel.select(remaining):
                if key.fileobj is proc.stdin:
                    try:
                        n = os.write(proc.stdin.fileno(), pending[:_READ_CHUNK])
                    except BrokenPipeError:
                        n = len(pending)
                    pending = pending[n:]
                    if not pending:
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                data = os.read(key.fd, _READ_CHUNK)
                if not data:
                    sel.unregister(key.fileobj)
                    open_reads -= 1
                    continue
                output.feed(data, stderr=key.fileobj is proc.stderr)
        status: int | None = None
        if not output.truncated:
            try:
                status = proc.wait(max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                raise CollectError("timeout", f"probe did not exit within "
                                              f"{opts.timeout:g}s") from None
        return output.result(status)
    finally:
        sel.close()
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for f in (proc.stdin, proc.stdout, proc.stderr):
            f.close()
        proc.wait()


