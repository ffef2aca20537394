"""How often the live charts redraw: as often as the GUI thread's CPU budget allows.

Where training uses every core, each millisecond the GUI thread spends is taken from the training
threads (and, through their barriers, from both), so the chart interval adapts: it grows while the GUI
thread uses more than GUI_CPU_BUDGET of a core and shrinks back when it uses less than half of that.
At 1.5 % the app trained at 0.996x the speed of the same Trainer on a plain thread (2 cores, 6 rounds;
0.971x at 4 %), with charts every 0.5-1 s there; a machine with time to spare keeps them at 200 ms.
"""

from __future__ import annotations

import time
from collections.abc import Callable

CHART_INTERVAL_MS = 200
CHART_MAX_INTERVAL_MS = 1000
GUI_CPU_BUDGET = 0.015


class ChartPacing:
    """The chart interval, adapted to the CPU the GUI thread used since the previous redraw.

    The clocks are parameters so a test can drive them: wall time (monotonic) and this thread's own CPU
    time (thread_time: the training threads do not count)."""

    def __init__(self, wall: Callable[[], float] = time.monotonic, cpu: Callable[[], float] = time.thread_time):
        self._wall, self._cpu = wall, cpu
        self.interval_ms = CHART_INTERVAL_MS
        self.last = 0.0  # wall time of the last redraw (0: none yet)
        self._last_cpu = 0.0

    def reset(self) -> None:
        self.interval_ms, self.last, self._last_cpu = CHART_INTERVAL_MS, 0.0, 0.0

    def wait_ms(self) -> float:
        """How long until the next redraw is due (<= 0: now)."""
        return self.interval_ms - 1000 * (self._wall() - self.last)

    def redrew(self) -> None:
        """Call after each redraw: measures the GUI thread's share since the previous one."""
        now, cpu = self._wall(), self._cpu()
        if self.last:
            share = (cpu - self._last_cpu) / max(1e-3, now - self.last)
            if share > GUI_CPU_BUDGET:
                self.interval_ms = min(CHART_MAX_INTERVAL_MS, int(self.interval_ms * 1.5))
            elif share < GUI_CPU_BUDGET / 2:
                self.interval_ms = max(CHART_INTERVAL_MS, int(self.interval_ms / 1.5))
        self.last, self._last_cpu = now, cpu
