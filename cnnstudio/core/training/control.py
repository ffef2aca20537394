"""Cooperative pause / resume / stop, checked by the trainer between batches."""

from __future__ import annotations

import threading
import time


class RunControl:
    """Thread-safe flags: any thread may pause, resume or stop; the training thread checks them."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.stop_reason = "by the user"  # how the run's result says it stopped: "stopped by the user at ..."

    def stop(self, reason: str | None = None) -> None:
        """Stop at the next batch; `reason` replaces "by the user" in the result's message (a sweep
        stopping a trial it pruned says so)."""
        if reason and not self._stop.is_set():
            self.stop_reason = reason
        self._stop.set()
        self._running.set()  # a paused run must wake up to see the stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> float:
        """Block while paused; return the seconds spent waiting (kept out of throughput and ETA)."""
        if self._running.is_set():
            return 0.0
        start = time.perf_counter()
        while not self._running.wait(timeout=0.1):
            pass
        return time.perf_counter() - start


class ChildControl(RunControl):
    """The control of one part of a larger job (a sweep's trial): it can be stopped on its own (the sweep
    prunes it, the time budget ends it), and it stops, pauses and resumes with its parent (the user's
    Stop, Pause and Resume of the whole job)."""

    def __init__(self, parent: RunControl) -> None:
        super().__init__()
        self.parent = parent

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set() or self.parent.stop_requested

    @property
    def paused(self) -> bool:
        return self.parent.paused

    def pause(self) -> None:
        self.parent.pause()

    def resume(self) -> None:
        self.parent.resume()

    def wait_while_paused(self) -> float:
        return self.parent.wait_while_paused()
