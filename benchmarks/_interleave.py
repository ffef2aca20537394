"""Compare the speed of two processes doing the same work by letting them take turns on the CPU.

On a shared VM the speed of one and the same training run drifts by tens of percent within minutes (a
neighbour's load, the host's caches and clocks), so two runs made one after the other differ by more
than the few percent in question, and whole-run rounds need hundreds of repeats to resolve +-0.02.
Here both processes run at once but never together: each is stopped (SIGSTOP) while the other runs a
slice of a few seconds (SIGCONT), alternately, for minutes. Two neighbouring slices see the same
machine, so each pair of slices gives one ratio that the drift hardly touches, and the median of many
pairs resolves small differences. A stopped process takes no CPU; the running one has every core, as
it would alone.

Each process reports its progress as lines `STEP <time.perf_counter()> <count> <break>` on stdout
(perf_counter is CLOCK_MONOTONIC on Linux: one clock for every process of the machine). A slice's rate
is the count gained between reports inside that slice over the time between them: an interval cut by a
stop is left out, and so is one the process flags as a break (for training, an epoch's end: evaluation
and checkpoints, which a short slice would hold or not by chance, whereas every training step is alike).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field


def _find_prctl():
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child may only call it
    except (OSError, AttributeError):
        return None


_PRCTL = _find_prctl() if os.name == "posix" else None


def _die_with_parent() -> None:
    """In the child, before it runs: if the controller dies (killed, crashed), the kernel kills this
    process too, rather than leaving it stopped for good. Linux only; elsewhere nothing."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class Contender:
    """One process taking part: its command, and what it reported and when it ran."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    cwd: str
    proc: subprocess.Popen | None = None
    reports: list[tuple[float, float, bool]] = field(default_factory=list)  # (perf_counter, count, break)
    slices: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of each running slice
    lines: list[str] = field(default_factory=list)  # every other line it printed (errors, notes)
    lock: threading.Lock = field(default_factory=threading.Lock)
    first_report: threading.Event = field(default_factory=threading.Event)
    reader: threading.Thread | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=self.env, cwd=self.cwd, bufsize=1, preexec_fn=_die_with_parent)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) in (3, 4) and parts[0] == "STEP":
                with self.lock:
                    self.reports.append((float(parts[1]), float(parts[2]), len(parts) == 4 and parts[3] == "1"))
                self.first_report.set()
            else:
                self.lines.append(line.rstrip())

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.proc is not None
            os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        if self.proc is not None:
            try:
                self.proc.kill()  # SIGKILL ends a stopped process too
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self.reader is not None:
            self.reader.join(10)  # every line written before the end is read: the last slice's reports

    def main_thread_cpu_s(self) -> float | None:
        """CPU seconds its main thread has used (Linux /proc), or None where that cannot be read."""
        if self.proc is None:
            return None
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        except (OSError, ValueError, IndexError):
            return None

    def slice_rates(self) -> list[float]:
        """Count per second within each slice, from the intervals between two reports of that slice:
        an interval cut by a stop is left out (its time is partly outside the slice), and so is one the
        process marked as a break (work that is not the measured loop, such as an epoch's end)."""
        with self.lock:
            reports = list(self.reports)
        rates = []
        for s, e in self.slices:
            inside = [r for r in reports if s <= r[0] <= e]
            counted = [(b[1] - a[1], b[0] - a[0]) for a, b in zip(inside, inside[1:]) if not b[2]]
            seconds = sum(d for _, d in counted)
            rates.append(sum(c for c, _ in counted) / seconds if seconds > 0 else float("nan"))
        return rates


def report(count: float, is_break: bool) -> None:
    """In a contender: one progress line of the protocol above (the moment, the count so far, and whether
    the interval before it was a break rather than the measured loop)."""
    print(f"STEP {time.perf_counter():.6f} {count:.1f} {int(is_break)}", flush=True)


def wait_until_reporting(c: Contender, timeout_s: float) -> None:
    """Start a contender and let it run alone until its first report, then stop it."""
    c.start()
    deadline = time.monotonic() + timeout_s
    while not c.first_report.wait(0.2):
        if not c.alive() or time.monotonic() > deadline:
            c.kill()
            tail = "\n".join(c.lines[-30:])
            code = c.proc.returncode if c.proc else None
            raise RuntimeError(f"{c.name} did not start reporting (exit {code}):\n{tail}")
    c.signal(signal.SIGSTOP)


def take_turns(a: Contender, b: Contender, seconds: float, slice_s: float, warmup_slices: int = 2,
               on_pair=None) -> tuple[list[float], list[float]]:
    """Alternate a and b in slices of slice_s for about `seconds` (each gets half), the first of each pair
    alternating too. Returns each one's count-per-second of every measured slice, pair by pair; the
    first warmup_slices pairs (first steps after start-up: allocations, kernel choice) are left out."""
    pairs = warmup_slices + max(2, int(seconds / (2 * slice_s)))
    try:
        for k in range(pairs):
            for c in ((a, b) if k % 2 == 0 else (b, a)):
                if not c.alive():
                    tail = "\n".join(c.lines[-30:])
                    raise RuntimeError(f"{c.name} ended early (exit {c.proc.returncode if c.proc else None}):\n{tail}")
                start = time.perf_counter()
                c.signal(signal.SIGCONT)
                time.sleep(slice_s)
                c.signal(signal.SIGSTOP)
                c.slices.append((start, time.perf_counter()))
            if on_pair is not None and k >= warmup_slices:
                on_pair(k - warmup_slices + 1, pairs - warmup_slices)
    finally:
        a.kill()
        b.kill()
    ra, rb = a.slice_rates(), b.slice_rates()
    return ra[warmup_slices:], rb[warmup_slices:]
