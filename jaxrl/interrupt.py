"""Graceful stops: SIGINT (Ctrl-C) and SIGTERM end the run at the next chunk boundary.

Inside `catch_stop_signals()`, the first SIGINT or SIGTERM only records the request (the host loop
then finishes its chunk, saves a checkpoint, flushes its logs and raises `TrainingInterrupted`);
the previous handlers are put back at once, so a second signal acts as usual (Ctrl-C twice aborts).
Signal handlers can only be set from the main thread; elsewhere this does nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading


class TrainingInterrupted(KeyboardInterrupt):
    """Raised after a SIGINT/SIGTERM stop has been saved; `signum` says which signal, `run_dir` where."""

    def __init__(self, message: str, signum: int, run_dir: str | None = None, step: int | None = None):
        super().__init__(message)
        self.signum = signum
        self.run_dir = run_dir
        self.step = step

    @property
    def exit_code(self) -> int:
        """The shell convention: 128 + signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + int(self.signum)


class StopRequest:
    signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""


@contextlib.contextmanager
def catch_stop_signals():
    """Context manager yielding a `StopRequest` whose `signum` is set by the first SIGINT/SIGTERM."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    signums = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in signums}

    def restore():
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)

    def handler(signum, frame):
        if stop.signum is None:
            stop.signum = signum
        restore()

    for s in signums:
        signal.signal(s, handler)
    try:
        yield stop
    finally:
        restore()
