"""Is a process training into this run folder right now? The OS lock that core/run_lock.py takes says so.

A trainer (the CLI's, the app's, a torchrun rank 0) holds an advisory OS lock on a hidden file in its run
folder for as long as it trains (core/run_lock.py claims it before anything is written). The operating
system drops that lock when the process ends, however it ends (kill -9, a crash, a power cut on a local
disk), so a held lock means a live writer and a free one an abandoned or finished folder: no heartbeat
to keep fresh, no guessing from a PID or a file's age whether its owner is alive, and it works alike for
a run in another process, on another machine sharing the folder, or in this very process.

This module only reads: it is below both core/runs.py (which lists a locked folder as "training") and
core/run_lock.py (which takes the lock), so neither imports the other for it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

LOCK_NAME = ".cnnstudio-train.lock"


@dataclass(frozen=True)
class LockHolder:
    """Who holds a run folder's lock, from the note the holder wrote when it took it (any part may be
    unknown: a holder that could not write its note on a full disk)."""

    pid: int | None = None
    host: str = ""
    since: str = ""  # "2026-12-07 14:03:22", the holder's local time
    taken_at: float = 0.0  # the lock file's mtime: when the holder took the lock (0: unknown)

    def describe(self) -> str:
        """" (process 123 on host, since 2026-12-07 14:03:22)" for a refusal, or "" when unknown."""
        if self.pid is None:
            return ""
        return f" (process {self.pid} on {self.host}, since {self.since})"


def lock_holder(run_dir: str | os.PathLike[str]) -> LockHolder | None:
    """None when no process trains into `run_dir`; else who does. Creates nothing, never raises.

    The probe takes a shared lock for an instant; a trainer taking the folder at that very instant
    retries (run_lock.lock_run_folder) rather than mistaking the probe for another training."""
    path = Path(run_dir) / LOCK_NAME
    try:
        f = open(path, encoding="utf-8")
    except OSError:
        return None  # no lock file (or none readable): nobody holds it
    with f:
        try:
            try_lock(f, shared=True)
        except OSError:
            return read_note(f)
        unlock(f)
        return None


def read_note(f: IO[str]) -> LockHolder:
    """The holder's note: "PID HOST DATE TIME" (any part missing reads as unknown)."""
    try:
        taken_at = os.fstat(f.fileno()).st_mtime
        f.seek(0)
        words = f.read(200).split()
    except (OSError, ValueError):
        return LockHolder()
    if len(words) >= 4 and words[0].isdigit() and len(words[0]) <= 12:
        return LockHolder(int(words[0]), words[1][:64], f"{words[2][:10]} {words[3][:8]}", taken_at)
    return LockHolder(taken_at=taken_at)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def try_lock(f: IO[str], shared: bool = False) -> None:
        """Lock the file without waiting; OSError when another holds it. Windows has no shared byte-range
        lock in msvcrt: a probe there locks exclusively for its instant (the trainer retries)."""
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)

    def unlock(f: IO[str]) -> None:
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def try_lock(f: IO[str], shared: bool = False) -> None:
        """Lock the file without waiting (shared: a reader's lock); OSError when another holds it."""
        fcntl.flock(f.fileno(), (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)

    def unlock(f: IO[str]) -> None:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
