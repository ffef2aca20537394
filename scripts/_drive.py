"""Driving a running Qt app from a script: let it work for a while, or until something is true.

Shared by scripts/screenshots.py and scripts/walkthrough.py, which step the app from the outside
instead of entering app.exec().
"""

from __future__ import annotations

import time
from collections.abc import Callable


def pump(app, seconds: float) -> None:
    """Process the app's events for `seconds` (timers fire, threads' signals arrive, windows paint)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def wait_until(app, condition: Callable[[], object], timeout: float, what: str,
               on_timeout: Callable[[], None] | None = None) -> None:
    """Process events until `condition()` is true; SystemExit naming `what` after `timeout` seconds."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            if on_timeout is not None:
                on_timeout()
            raise SystemExit(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.02)
