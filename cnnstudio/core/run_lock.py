"""One training per run folder: the folder is locked while a process trains into it, and a finished run
is never trained over unless it is being continued.

The lock is an advisory OS lock on a hidden file in the run folder (fcntl.flock on POSIX, msvcrt.locking
on Windows), the kind pip's and conda's caches use: the operating system drops it when the process ends
however it ends (kill -9, a crash, a power cut on a local disk), so a stale lock from a dead process
never blocks the next run and nothing has to guess from a PID whether its owner is alive. The holder
writes its PID and start time into the file only so that the refusal can say who holds it.

The CLI and the app's Train page both train through core.training.trainer.Trainer, which claims the
folder here before it writes anything into it, so both get the same refusal as one line.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.run_liveness import LOCK_NAME, lock_holder, read_note, try_lock, unlock
from cnnstudio.core.runs import RUN_FILES

__all__ = ["LOCK_NAME", "RunFolderBusy", "RunFolderTaken", "RunLock", "check_run_folder", "claim_run_folder",
           "existing_run_files", "lock_run_folder"]
# A folder found locked is tried again for this long before it counts as busy: the Runs page's probe
# (run_liveness.lock_holder) holds a lock for an instant, and a trainer starting then must not take it
# for another training.
CONTENDED_TRIES = 10
CONTENDED_WAIT_S = 0.02


class RunFolderBusy(CNNStudioError):
    """Another process is training into the run folder."""


class RunFolderTaken(CNNStudioError):
    """The folder already holds a run (or files a run would write) and this training does not continue it."""


def existing_run_files(run_dir: Path) -> list[str]:
    """The files of RUN_FILES already in `run_dir`: what a new run there would overwrite."""
    try:
        return [name for name in RUN_FILES if os.path.lexists(run_dir / name)]
    except OSError:
        return []


def check_run_folder(run_dir: str | os.PathLike[str], resume_from: str | os.PathLike[str] | None = None) -> None:
    """Refuse a run folder another process trains into, or one that already holds a run, unless this
    training continues that very run (its checkpoint lives in the folder). Cheap, and it creates
    nothing: the CLI calls it before loading any data; the trainer claims the folder for real."""
    run_dir = Path(run_dir)
    holder = _busy(run_dir)
    if holder is not None:
        raise RunFolderBusy(_busy_message(run_dir, holder))
    _check_files(run_dir, resume_from)


def _check_files(run_dir: Path, resume_from: str | os.PathLike[str] | None) -> None:
    found = existing_run_files(run_dir)
    if not found:
        return
    if resume_from is not None and _same_dir(Path(resume_from).parent, run_dir):
        return
    if "last.pt" in found:
        raise RunFolderTaken(f"{run_dir} already holds a run ({', '.join(found)}); train into a new folder, or "
                             f"continue it with --resume {run_dir / 'last.pt'}")
    raise RunFolderTaken(f"{run_dir} already holds {', '.join(found)}, which a new run would overwrite; train into "
                         "a new folder")


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@dataclass
class RunLock:
    """A held lock on one run folder; release() (or the process ending) frees it."""

    path: Path
    _file: IO[str] | None = None

    def release(self) -> None:
        """Remove the lock file, then unlock: a process that opened the old file meanwhile finds, once it
        holds that lock, that the name no longer points to it, and tries again (see _acquire)."""
        f, self._file = self._file, None
        if f is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        try:
            unlock(f)
        except OSError:
            pass
        try:
            f.close()
        except OSError:
            pass

    @property
    def held(self) -> bool:
        return self._file is not None


def claim_run_folder(run_dir: str | os.PathLike[str], resume_from: str | os.PathLike[str] | None = None) -> RunLock:
    """Lock `run_dir` (which must exist) for this training, refusing a folder another process trains into
    (RunFolderBusy) or one that holds a run this training does not continue (RunFolderTaken). A refused
    folder is left exactly as it was: no lock file is created in it."""
    run_dir = Path(run_dir)
    check_run_folder(run_dir, resume_from)
    lock = lock_run_folder(run_dir)
    try:
        _check_files(run_dir, resume_from)  # again under the lock: a run may have finished meanwhile
    except CNNStudioError:
        lock.release()
        raise
    return lock


def lock_run_folder(run_dir: str | os.PathLike[str]) -> RunLock:
    """Lock `run_dir` (which must exist) for this process; RunFolderBusy (one line) if another holds it."""
    path = Path(run_dir) / LOCK_NAME
    for _ in range(5):  # a lock file removed by its releasing holder between our open and our lock
        try:
            # "a+": never truncates on open, so a process that fails to get the lock cannot wipe the
            # holder's PID; the holder rewrites the content once it holds the lock.
            f = open(path, "a+", encoding="utf-8")
        except OSError as exc:
            raise CNNStudioError(f"cannot lock the run folder {run_dir}: {exc.strerror or exc}") from None
        if not _lock_contended(f):
            holder = read_note(f).describe()
            f.close()
            raise RunFolderBusy(_busy_message(run_dir, holder))
        try:
            current = os.stat(path).st_ino == os.fstat(f.fileno()).st_ino
        except OSError:
            current = False
        if current:
            break
        unlock(f)
        f.close()
    else:
        raise RunFolderBusy(_busy_message(run_dir, ""))
    try:
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()} {socket.gethostname()} {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        f.flush()
    except OSError:
        pass  # the lock holds without the note (a full disk); only the refusal's wording is poorer
    return RunLock(path, f)


def _lock_contended(f: IO[str]) -> bool:
    """Take the lock, trying again briefly while it is held (a probe's instant); False if it stays held."""
    for attempt in range(CONTENDED_TRIES):
        try:
            try_lock(f)
            return True
        except OSError:
            if attempt + 1 < CONTENDED_TRIES:
                time.sleep(CONTENDED_WAIT_S)
    return False


def _busy(run_dir: Path) -> str | None:
    """None when no process holds the folder's lock; else who holds it (possibly ""). Creates nothing."""
    holder = lock_holder(run_dir)
    return None if holder is None else holder.describe()


def _busy_message(run_dir: str | os.PathLike[str], holder: str) -> str:
    return f"{run_dir} is in use by another training{holder}; wait for it to end, or train into another folder"
