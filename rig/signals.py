"""The signals that end a process, handled alike wherever the rig runs a device.

A closed terminal or a lost SSH session sends SIGHUP; ``kill`` sends SIGTERM; Ctrl-C
SIGINT; Ctrl-\\ SIGQUIT; a CPU or file-size limit SIGXCPU or SIGXFSZ; the user signals and
the timers terminate too unless handled. Every one of them, left to its default, ends the
process without the device's force-exit, so a queued trial would run on with no host.
SIGKILL and SIGSTOP cannot be caught: against those the lick-port board has its watchdog,
and the Bpod compiler refuses machines that could hold a valve open past its maximum.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

TERMINATING = tuple(
    getattr(signal, name)
    for name in (
        "SIGHUP", "SIGINT", "SIGTERM", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM",
        "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF",
    )
    if hasattr(signal, name)
)  # fmt: skip


def on_terminating_signals(handler: Callable[[], object]) -> None:
    """From now on, every catchable terminating signal calls ``handler`` (main thread)."""
    for s in TERMINATING:
        signal.signal(s, lambda *_: handler())


@contextmanager
def handled_signals(handler: Callable[[], object]) -> Iterator[None]:
    """Within the block, every terminating signal calls ``handler``; the previous handlers
    come back after it. Only the main thread can install handlers: elsewhere, nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in TERMINATING}
    on_terminating_signals(handler)
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
