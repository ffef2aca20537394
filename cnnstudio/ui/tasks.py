"""Run a function on a background QThread and get its result, progress or error back on the GUI thread.

The wiring is the canonical one (superqt's new_worker_qthread): the worker object is moved to a
QThread, thread.started runs it, its finished signal quits the thread and deletes both later, and the
Task keeps references until then (a QThread destroyed while running aborts the whole process).
Workers never touch widgets: they emit plain Python values, and Qt queues them to the GUI thread.

Shutting down is the mechanism's job, not each page's: shutdown() closes the gate first (a task asked
for afterwards - say by a page reacting to the last epoch's checkpoint while the window closes - is
refused and never gets a thread), then cancels and waits for every running task. Without the gate such a
late task outlived app.exec(); Python's teardown then deleted its worker while the thread still ran
("Signal source has been deleted") and destroyed the running QThread, which aborts the process.
Tasks take no QObject parent for the same reason: a parent deleted with its page would delete the Task
(and with it the slot that releases the thread) while the thread still runs. The registry owns them.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from cnnstudio.core.errors import CNNStudioError, DownloadCancelled
from cnnstudio.ui.torch_threads import use_one_torch_thread

# Tasks still running, so Python does not collect them (and their QThreads) mid-flight.
_running: set["Task"] = set()
# False from shutdown() on: no new thread is started (reopen() turns it back on for a new main window).
_accepting = True


class _Worker(QObject):
    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str, str)  # user message, details (traceback for unexpected errors, else "")
    cancelled = Signal()
    finished = Signal()

    def __init__(self, fn: Callable[..., Any], with_progress: bool):
        super().__init__()
        self._fn = fn
        self._with_progress = with_progress
        self.cancel_requested = False

    @Slot()
    def run(self) -> None:
        try:
            # Background tasks (loading, evaluation, inspection, prediction) leave the cores to training.
            use_one_torch_thread()
            if self._with_progress:
                result = self._fn(self.progress.emit, lambda: self.cancel_requested)
            else:
                result = self._fn()
        except DownloadCancelled:
            self.cancelled.emit()
        except CNNStudioError as exc:
            self.failed.emit(str(exc), "")
        except Exception as exc:  # a bug: say so plainly, keep the traceback for "Details"
            self.failed.emit(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        else:
            if self.cancel_requested:
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)
        finally:
            self.finished.emit()


class Task(QObject):
    """One background call. Connect to the signals, then start().

    fn is called as fn() or, with with_progress=True, as fn(report, is_cancelled) where report(value)
    emits `progress` and is_cancelled() turns True after cancel().
    """

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, fn: Callable[..., Any], with_progress: bool = False, parent: QObject | None = None):
        # `parent` is accepted for callers' convenience and deliberately not used (see the module notes).
        super().__init__()
        self._thread = QThread()
        self._worker = _Worker(fn, with_progress)  # no parent: moveToThread refuses parented objects
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self.progress)
        self._worker.succeeded.connect(self.succeeded)
        self._worker.failed.connect(self.failed)
        self._worker.cancelled.connect(self.cancelled)
        # Direct: quit() is thread-safe, and a queued quit would wait for the GUI thread - which, inside
        # wait() / wait_for_all() on window close, is blocked waiting for this thread: a 30 s hang.
        self._worker.finished.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        # No worker.deleteLater: the worker belongs to its Python wrapper, and deleting it on the worker
        # thread races Shiboken's wrapper bookkeeping (PySide6 6.12: a segfault in
        # Shiboken::Object::destroy about once in a few hundred tasks). _on_thread_finished releases it
        # on the GUI thread once the thread has ended.
        self._thread.finished.connect(self._on_thread_finished)
        self._done = False
        self.refused = False

    def start(self) -> "Task":
        if not _accepting:
            # The application is shutting down: this work would outlive the event loop. It never runs;
            # `refused` tells a caller that cares, and no signal of it ever fires.
            self._done = True
            self.refused = True
            self._worker = None
            self._thread = None
            return self
        _running.add(self)
        self._thread.start()
        return self

    def cancel(self) -> None:
        if not self._done:
            self._worker.cancel_requested = True

    @property
    def running(self) -> bool:
        return not self._done

    def wait(self, msecs: int = 30000) -> bool:
        """Block until the thread ends (used on application exit)."""
        if self._done or self._thread is None:
            return True
        return self._thread.wait(msecs)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._done = True
        self._thread.wait()  # `finished` is emitted just before the thread really ends
        self._worker = None  # deleted here, on the GUI thread, now that its thread is gone
        self._thread.deleteLater()
        self.finished.emit()
        # Released from the event loop, not inside this slot: the registry may hold the last reference,
        # and a QObject must not be destroyed while Qt is still delivering a signal to it.
        QTimer.singleShot(0, lambda: _running.discard(self))


def run_in_background(fn: Callable[..., Any], on_success: Callable[[Any], None] | None = None,
                      on_error: Callable[[str, str], None] | None = None,
                      on_progress: Callable[[Any], None] | None = None, with_progress: bool = False,
                      parent: QObject | None = None) -> Task:
    task = Task(fn, with_progress=with_progress or on_progress is not None, parent=parent)
    if on_success:
        task.succeeded.connect(on_success)
    if on_error:
        task.failed.connect(on_error)
    if on_progress:
        task.progress.connect(on_progress)
    return task.start()


def wait_for_all(msecs: int = 30000) -> bool:
    """Cancel and wait for every running task; True when all of them ended within msecs each."""
    for task in list(_running):
        task.cancel()
    ok = True
    for task in list(_running):
        ok = task.wait(msecs) and ok
    return ok


def shutdown(msecs: int = 30000) -> bool:
    """Refuse new tasks from now on, then cancel and wait for the running ones. Call when the main
    window closes and again once the event loop has ended; safe to call any number of times."""
    global _accepting
    _accepting = False
    return wait_for_all(msecs)


def reopen() -> None:
    """Accept tasks again (a new main window in the same process: tests, the self-test)."""
    global _accepting
    _accepting = True


def accepting() -> bool:
    return _accepting
