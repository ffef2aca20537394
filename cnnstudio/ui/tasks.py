"""Background work for the UI: one shared thread pool, results back on the GUI thread as Qt signals.

Two shapes of work, one mechanism under both:

- Task: one call (load a dataset, probe the devices, evaluate a model), with progress and a
  cooperative cancel. `run_in_background()` is the short form.
- LatestRunner: a stream of calls where only the newest matters (predict the drawing after each stroke,
  inspect the chosen input, load the model just picked). At most one call in flight and one pending per
  runner; a newer submission replaces the pending one, which then never runs, and (unless it says
  otherwise) makes the in-flight one stale: its result is dropped, never delivered. This replaces the
  per-page generation counters and pending flags.

Every call runs on one ThreadPoolExecutor whose threads are reused (no QThread per call: fewer OpenMP
pools competing with training, and no worker QObject to delete from a foreign thread). A worker never
touches a widget. Completion crosses to the GUI thread through one long-lived relay QObject created on
the GUI thread: its signal carries a closure, and Qt queues it because the emitting thread is another.

Shutting down is the mechanism's job, not each page's: shutdown() closes the gate first (a call asked for
afterwards - say by a page reacting to the last epoch's checkpoint while the window closes - is refused
and never runs), then cancels and waits for every call in flight. Before the gate, such a late call
outlived app.exec() and Python's teardown destroyed its still-running thread, aborting the process.
"""

from __future__ import annotations

import concurrent.futures
import sys
import threading
import traceback
from dataclasses import dataclass
from collections.abc import Callable
from typing import Generic, TypeVar, cast

import shiboken6
from PySide6.QtCore import QObject, Signal, Slot

from cnnstudio.core.errors import CNNStudioError, DownloadCancelled
from cnnstudio.ui.torch_threads import use_one_torch_thread

# Two threads: a long call (evaluating a model) does not hold up a quick one (the next prediction). More
# would only compete with training for the cores.
POOL_THREADS = 2

# What a background call returns, carried through to its on_success unchanged; what its report() sends.
T = TypeVar("T")
P = TypeVar("P")
# The two arguments a call made with progress receives: report(value), and is_cancelled().
Report = Callable[[P], None]
IsCancelled = Callable[[], bool]

_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
# Calls not finished yet (their futures), so shutdown() can wait for them, and Tasks, which the
# registry keeps alive until their result has been delivered.
_futures: set[concurrent.futures.Future] = set()
_running: set[Task] = set()
_accepting = True  # False from shutdown() on; reopen() turns it back on for a new main window


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="cnnstudio-task",
                                                          initializer=_init_thread)
        return _pool


def _init_thread() -> None:
    try:
        # Background calls (loading, evaluation, inspection, prediction) leave the cores to training.
        use_one_torch_thread()
    except Exception:  # noqa: BLE001 - torch missing: the call itself will say so
        pass


class _Relay(QObject):
    """Runs closures on the thread it lives on (the GUI thread); emitted from workers, so queued."""

    call = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.call.connect(self._run)

    @Slot(object)
    def _run(self, fn: Callable[[], None]) -> None:
        fn()


_relay: _Relay | None = None


def _to_gui(fn: Callable[[], None]) -> None:
    relay = _relay
    assert relay is not None, "_submit creates the relay before any work that reports here runs"
    relay.call.emit(fn)


def _submit(work: Callable[[], None]) -> concurrent.futures.Future:
    """Run `work` on the pool (called on the GUI thread, which owns the relay)."""
    global _relay
    if _relay is None:
        _relay = _Relay()
    future = _executor().submit(work)
    _futures.add(future)
    future.add_done_callback(_futures.discard)
    return future


@dataclass(frozen=True)
class Failure:
    """A call that raised: `message` is for the user; `details` holds a traceback only for a bug."""

    message: str
    details: str = ""


@dataclass(frozen=True)
class _Outcome(Generic[T]):
    """How a call ended: kind "ok" with its `value`, "cancelled", or "failed" with its `failure`."""

    kind: str
    value: T | None = None
    failure: Failure | None = None

    def result(self) -> T:
        return cast(T, self.value)  # kind "ok": the call's own return value (which may be None)


def _call(fn: Callable[..., T], *args: object) -> _Outcome[T]:
    """How fn(*args) ended: never raises."""
    # Threads are reused: a call that raised torch's thread count (a training run in the self-test)
    # must not leave it raised for the small calls after it. Cheap: a read, and a write only then.
    try:
        torch = sys.modules.get("torch")
        if torch is not None and torch.get_num_threads() != 1:
            torch.set_num_threads(1)
    except Exception:  # noqa: BLE001 - torch half-imported by another thread: the next call sees it
        pass
    try:
        return _Outcome("ok", fn(*args))
    except DownloadCancelled:
        return _Outcome("cancelled")
    except CNNStudioError as exc:
        return _Outcome("failed", failure=Failure(str(exc)))
    except Exception as exc:  # noqa: BLE001 - a bug: say so plainly, keep the traceback for "Details"
        return _Outcome("failed", failure=Failure(f"{type(exc).__name__}: {exc}", traceback.format_exc()))


class Task(QObject):
    """One background call. Connect to the signals, then start().

    fn is called as fn() or, with with_progress=True, as fn(report, is_cancelled) where report(value)
    emits `progress` (only when the value changed) and is_cancelled() turns True after cancel().
    """

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str, str)  # user message, details (a traceback for unexpected errors, else "")
    cancelled = Signal()
    finished = Signal()

    def __init__(self, fn: Callable[..., object], with_progress: bool = False, parent: QObject | None = None):
        # `parent` is accepted for callers' convenience and not used: the registry owns a running Task,
        # so a page deleted mid-call cannot delete it (and the slot that delivers its end) with it.
        super().__init__()
        self._fn = fn
        self._with_progress = with_progress
        self._cancel = threading.Event()
        self._future: concurrent.futures.Future | None = None
        self._done = False
        self._last_progress: object = object()
        self.refused = False

    def start(self) -> Task:
        if not _accepting:
            # The application is shutting down: this work would outlive the event loop. It never runs;
            # `refused` tells a caller that cares, and no signal of it fires.
            self._done = self.refused = True
            return self
        _running.add(self)
        self._future = _submit(self._work)
        return self

    def _work(self) -> None:
        if self._with_progress:
            outcome = _call(self._fn, self._report, self._cancel.is_set)
        else:
            outcome = _call(self._fn)
        _to_gui(lambda: self._deliver(outcome) if shiboken6.isValid(self) else None)

    def _report(self, value: object) -> None:
        if value != self._last_progress:  # Orange3's rule: a signal only when the shown value changes
            self._last_progress = value
            _to_gui(lambda: None if self._done else self.progress.emit(value))

    def _deliver(self, outcome: _Outcome[object]) -> None:
        self._done = True
        _running.discard(self)
        if outcome.kind == "ok" and not self._cancel.is_set():
            self.succeeded.emit(outcome.value)
        elif outcome.failure is not None and not self._cancel.is_set():
            self.failed.emit(outcome.failure.message, outcome.failure.details)
        else:
            self.cancelled.emit()
        self.finished.emit()

    def cancel(self) -> None:
        if not self._done:
            self._cancel.set()

    @property
    def running(self) -> bool:
        return not self._done

    def wait(self, msecs: int = 30000) -> bool:
        """Block until the call has returned (its result is then on its way to the GUI thread)."""
        if self._future is None:
            return True
        done, _ = concurrent.futures.wait([self._future], timeout=msecs / 1000)
        return bool(done)


def run_in_background(fn: Callable[..., T], on_success: Callable[[T], None] | None = None,
                      on_error: Callable[[str, str], None] | None = None,
                      on_progress: Callable[[P], None] | None = None, with_progress: bool = False,
                      parent: QObject | None = None) -> Task:
    """Start fn in the background: on_success(fn's result) or on_error(message, details) on the GUI thread;
    with on_progress (or with_progress), fn is called as fn(report, is_cancelled) and report(value) reaches
    on_progress."""
    task = Task(fn, with_progress=with_progress or on_progress is not None, parent=parent)
    if on_success:
        task.succeeded.connect(on_success)
    if on_error:
        task.failed.connect(on_error)
    if on_progress:
        task.progress.connect(on_progress)
    return task.start()


@dataclass
class _Job(Generic[T, P]):
    ticket: int
    fn: Callable[..., T]
    on_success: Callable[[T], None] | None
    on_error: Callable[[Failure], None] | None
    on_progress: Callable[[P], None] | None = None
    on_cancelled: Callable[[], None] | None = None


@dataclass(frozen=True)
class _Deferred(Generic[T]):
    make: Callable[[], Callable[[], T] | None]


class LatestRunner(QObject):
    """Runs a stream of calls where only the newest matters; see the module notes.

    submit(fn, on_success, on_error): fn() runs on the pool; on_success(result) or on_error(Failure) run
    on the GUI thread, only if nothing made the call stale by then. `supersede=False` keeps the in-flight
    result wanted (the drawing's prediction: each stroke's answer is shown as it comes, the newest pending
    stroke still runs next). discard() makes everything submitted so far stale (the model changed).
    submit_latest(make) takes a factory instead, called on the GUI thread only when the call starts: a
    burst of requests while one runs costs nothing until the newest one's input is really needed.
    """

    busyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ticket = 0
        self._wanted_from = 0  # results of tickets below this are stale
        self._inflight: _Job[object, object] | None = None
        self._pending: _Job[object, object] | None = None
        self._closed = False
        self._user_cancelled = -1

    @property
    def busy(self) -> bool:
        return self._inflight is not None

    def submit(self, fn: Callable[..., T], on_success: Callable[[T], None] | None = None,
               on_error: Callable[[Failure], None] | None = None, *, supersede: bool = True,
               on_progress: Callable[[P], None] | None = None,
               on_cancelled: Callable[[], None] | None = None) -> int:
        """Queue fn as the newest call; returns its ticket.

        With on_progress, fn is called as fn(report, is_cancelled): report(value) reaches on_progress on
        the GUI thread (only changed values, only while the call is current), and is_cancelled() turns
        True once the call is stale, so a long call (an evaluation) stops spending the CPU on it.
        """
        self._ticket += 1
        if supersede:
            self._wanted_from = self._ticket
        # Held untyped from here on: the job only ever hands fn's own result to fn's own on_success.
        job = cast(_Job[object, object], _Job(self._ticket, fn, on_success, on_error, on_progress, on_cancelled))
        if self._closed or not _accepting:
            return job.ticket
        if self._inflight is None:
            self._start(job)
        else:
            self._pending = job  # an older pending call is replaced: it never runs
        return job.ticket

    def submit_latest(self, make: Callable[[], Callable[[], T] | None],
                      on_success: Callable[[T], None] | None = None,
                      on_error: Callable[[Failure], None] | None = None, *, supersede: bool = True) -> int:
        """Like submit, but `make()` builds the call when it starts (None: nothing to do after all)."""
        deferred = cast(Callable[..., T], _Deferred(make))  # _start builds the call from it
        return self.submit(deferred, on_success, on_error, supersede=supersede)

    def discard(self) -> None:
        """Drop whatever is pending and make the in-flight result stale."""
        self._pending = None
        self._wanted_from = self._ticket + 1

    def cancel(self) -> bool:
        """The user's Cancel: the call in flight stops at its next check (is_cancelled) and its
        on_cancelled runs when it has; a pending call is dropped. False when nothing was running."""
        if self._inflight is None:
            return False
        self._user_cancelled = self._inflight.ticket
        self.discard()
        return True

    def is_current(self, ticket: int) -> bool:
        return ticket >= self._wanted_from and not self._closed

    def close(self) -> None:
        """No more calls: the pending one is dropped, the in-flight result will be."""
        self.discard()
        self._closed = True

    def _start(self, job: _Job[object, object]) -> None:
        if isinstance(job.fn, _Deferred):
            fn = job.fn.make()
            if fn is None:
                if self._inflight is None:
                    self.busyChanged.emit(False)
                return
            job = _Job(job.ticket, fn, job.on_success, job.on_error, job.on_progress, job.on_cancelled)
        was_busy = self._inflight is not None
        self._inflight = job
        _submit(lambda: self._work(job))
        if not was_busy:
            self.busyChanged.emit(True)

    def _work(self, job: _Job[object, object]) -> None:
        if job.on_progress is None:
            outcome = _call(job.fn)
        else:
            last: list[object] = [object()]
            on_progress = job.on_progress

            def report(value: object) -> None:
                if value != last[0]:
                    last[0] = value
                    _to_gui(lambda: on_progress(value) if self.is_current(job.ticket) else None)

            # Read from the worker: plain ints, and a stale answer only costs one more chunk of work.
            outcome = _call(job.fn, report, lambda: not self.is_current(job.ticket) or not _accepting)
        # A runner deleted with its owner (a page closed while the call ran) delivers nothing: its owner's
        # signals are gone too ("Signal source has been deleted" was raised here when a window closed
        # while a Train page estimate was still being measured).
        _to_gui(lambda: self._finish(job, outcome) if shiboken6.isValid(self) else None)

    def _finish(self, job: _Job[object, object], outcome: _Outcome[object]) -> None:
        self._inflight = None
        if job.ticket == self._user_cancelled and not self._closed:
            if job.on_cancelled is not None:
                job.on_cancelled()
        elif self.is_current(job.ticket):
            if outcome.kind == "ok" and job.on_success is not None:
                job.on_success(outcome.result())
            elif outcome.failure is not None and job.on_error is not None:
                job.on_error(outcome.failure)
        pending, self._pending = self._pending, None
        if pending is not None and not self._closed and _accepting:
            self._start(pending)
        else:
            self.busyChanged.emit(False)


def wait_for_all(msecs: int = 30000) -> bool:
    """Cancel every Task and wait for every call in flight; True when all ended within msecs."""
    for task in list(_running):
        task.cancel()
    pending = list(_futures)
    if not pending:
        return True
    _, not_done = concurrent.futures.wait(pending, timeout=msecs / 1000)
    return not not_done


def shutdown(msecs: int = 30000) -> bool:
    """Refuse new calls from now on, then cancel and wait for the running ones. Call when the main
    window closes and again once the event loop has ended; safe to call any number of times."""
    global _accepting
    _accepting = False
    return wait_for_all(msecs)


def reopen() -> None:
    """Accept calls again (a new main window in the same process: tests, the self-test)."""
    global _accepting
    _accepting = True


def accepting() -> bool:
    return _accepting


def idle() -> bool:
    """No call in flight and no result waiting to be delivered (tests wait for this)."""
    return not _futures and not _running
