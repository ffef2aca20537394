"""Progress within an epoch as one terminal line, redrawn in place: what `cnnstudio train` shows on stderr.

    epoch 1/2  step 120/235  1,850 img/s  loss 0.512  ETA 0:41

The line is written with a carriage return and erased to its end (so a shorter line leaves no tail of
the longer one) and cut to the terminal's width (a wrapped line could not be redrawn in place). It is
redrawn at most every `interval` seconds (4 times a second by default: the trainer reports about 50
steps an epoch, which on a fast machine is hundreds a second), always for an epoch's first and last
step. The clock is a parameter so a test can drive it, and the writer one so the caller decides where
the line goes and whether at all (only on a terminal: a pipe or a log file gets none of it).

Qt-free and command-free: `cnnstudio train` uses it per run, and a command that trains several runs
(a sweep) the same way per trial, with a `prefix` ("trial 3/10") in front.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from cnnstudio.core.text import clock_text
from cnnstudio.core.training.events import StepEvent

INTERVAL_S = 0.25
ERASE_TO_END = "\x1b[K"
MIN_COLUMNS = 20  # a narrower width is taken as unknown (a pseudo-terminal whose size was never set reads 0)


def step_text(event: StepEvent, prefix: str = "") -> str:
    """The line for one step event: epoch, step within it, images a second, loss and the run's ETA."""
    loss = f"{event.loss:.3f}" if math.isfinite(event.loss) else str(event.loss)
    parts = [f"epoch {event.epoch}/{event.epochs}", f"step {event.step}/{event.steps_per_epoch}",
             f"{event.samples_per_second:,.0f} img/s", f"loss {loss}", f"ETA {clock_text(event.eta_seconds)}"]
    return "  ".join(([prefix] if prefix else []) + parts)


class ProgressLine:
    """One line redrawn in place. step(event) draws when due; clear() erases it before a line of its own
    is printed (an epoch's summary, a note) and at the end. Public: prefix, step, clear, shown."""

    def __init__(self, write: Callable[[str], None], clock: Callable[[], float] = time.monotonic,
                 interval: float = INTERVAL_S, columns: int | None = None, prefix: str = ""):
        self._write, self._clock, self.interval = write, clock, interval
        self.columns = columns if columns is not None and columns >= MIN_COLUMNS else None  # None: not cut
        self.prefix = prefix
        self.shown = False  # a line is on the screen (clear() erases it)
        self._last: float | None = None  # clock of the last draw

    def step(self, event: StepEvent) -> bool:
        """Draw the line for `event` if it is due; True when drawn."""
        now = self._clock()
        edge = event.step in (1, event.steps_per_epoch)
        if not edge and self._last is not None and now - self._last < self.interval:
            return False
        self._last = now
        text = step_text(event, self.prefix)
        if self.columns is not None and len(text) >= self.columns:
            text = text[:max(1, self.columns - 1)]  # the last column would wrap on some terminals
        self._write(f"\r{text}{ERASE_TO_END}")
        self.shown = True
        return True

    def clear(self) -> None:
        """Erase the line (nothing if none is shown), leaving the cursor at the start of it."""
        if self.shown:
            self._write(f"\r{ERASE_TO_END}")
            self.shown = False
