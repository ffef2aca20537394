"""Ctrl-C on the command line: the first stops the work cleanly (after the current batch, saving last.pt),
the second aborts. `cnnstudio train` and `cnnstudio sweep` both stop this way."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def first_ctrl_c_stops(stop: Callable[[], None], stopping: Callable[[], bool], message: str) -> Iterator[None]:
    """While inside: Ctrl-C prints `message` and calls `stop()`; once `stopping()`, another Ctrl-C raises
    KeyboardInterrupt. The previous handler comes back afterwards (nothing changes off the main thread)."""
    def on_sigint(signum: int, frame: Any) -> None:
        if stopping():
            raise KeyboardInterrupt
        print(f"\n{message}", file=sys.stderr)
        stop()

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread: Python lets only the main thread handle signals
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
