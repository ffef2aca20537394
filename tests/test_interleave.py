"""benchmarks/_interleave.py: the turn-taking comparison behind the in-app / headless speed figure."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _interleave import Contender, take_turns, wait_until_reporting


def test_slice_rates_count_only_whole_intervals_inside_a_slice_and_skip_breaks():
    c = Contender("x", [], {}, ".")
    c.slices = [(0.0, 1.0), (2.0, 3.0)]
    c.reports = [
        (0.1, 1, False), (0.3, 3, False), (0.5, 5, False),  # 2 steps per 0.2 s: 10 a second
        (0.7, 6, True),  # after an epoch's end: not a training interval
        (0.9, 8, False),  # 2 more in 0.2 s
        (2.2, 9, False),  # the interval from 0.9 spans the stop: left out
        (2.6, 13, False),  # 4 in 0.4 s
    ]
    first, second = c.slice_rates()
    assert first == pytest.approx(6 / 0.6)
    assert second == pytest.approx(4 / 0.4)


_COUNTER = """
import time
n = 0
while True:
    t = time.perf_counter()
    while time.perf_counter() - t < 0.005:  # a step of CPU work
        pass
    n += 1
    print(f"STEP {time.perf_counter():.6f} {n} 0", flush=True)
"""


@pytest.mark.skipif(not hasattr(os, "kill") or sys.platform == "win32", reason="needs SIGSTOP / SIGCONT")
def test_contenders_make_progress_only_in_their_own_turns():
    a = Contender("a", [sys.executable, "-c", _COUNTER], dict(os.environ), ".")
    b = Contender("b", [sys.executable, "-c", _COUNTER], dict(os.environ), ".")
    try:
        wait_until_reporting(a, timeout_s=60)
        wait_until_reporting(b, timeout_s=60)
        rates_a, rates_b = take_turns(a, b, seconds=1.2, slice_s=0.15, warmup_slices=1)
    finally:
        a.kill()
        b.kill()
    assert len(rates_a) == len(rates_b) == 4
    assert not a.alive() and not b.alive()  # both ended with the measurement
    assert all(r > 0 for r in rates_a + rates_b)
    # The stop is real: every step a contender reported after its first turn began falls inside one of
    # its turns (a few ms of grace for the signal to land), never in the other's.
    for c in (a, b):
        begun = [t for t, _, _ in c.reports if t >= c.slices[0][0]]
        assert len(begun) > 20
        outside = [t for t in begun if not any(s - 0.002 <= t <= e + 0.01 for s, e in c.slices)]
        assert outside == []
