"""Run one Trainer on a background QThread and bring its events to the GUI thread, throttled.

Wiring is the canonical one (field notes, pitfall 2): a parentless QObject worker is moved to a
QThread; thread.started -> worker.run; worker.finished -> thread.quit (a direct connection: see
TrainingRun) and worker.deleteLater. Python owns the QThread, so instead of thread.deleteLater the
TrainingRun waits for the finished thread and then drops its last reference (see _on_thread_finished).
A TrainingRun (living on the GUI thread) owns both and keeps itself referenced in a module registry
until the thread has ended, so neither Python nor Qt can destroy a running QThread.

The trainer calls its on_event callback on the worker thread. The worker emits the core's own event
dataclasses (plain numbers, never tensors) as Qt signals; Qt queues them to the GUI thread. Step
events come about 50 per epoch and, on a fast GPU, hundreds per second, so they are coalesced: they are
collected in a list and emitted together at most every 100 ms (<= 10 GUI updates per second). Nothing
is dropped -- the charts need every point to match metrics.json -- and the latest step always arrives:
a pending batch is flushed before every epoch, log and finished event, and whenever the trainer checks
for a pause at the start of a batch once the interval has passed (so a slow step or a pause never
leaves it stuck).

Every run carries a generation number; a page ignores signals from any run but its current one,
so late signals of a finished or abandoned run cannot touch the next.
"""

from __future__ import annotations

import copy
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from cnnstudio.core.sweep.study import TrialEnded, TrialStarted, trial_line
from cnnstudio.core.training.control import RunControl
from cnnstudio.core.training.events import EpochEvent, LogEvent, RecoveredEvent, RunResult, StartedEvent, StepEvent

if TYPE_CHECKING:  # these import torch, which the training thread imports first: only their types here
    from cnnstudio.core.sweep.study import SweepSpec
    from cnnstudio.core.datasets.base import Dataset
    from cnnstudio.core.runs import History
    from cnnstudio.core.training.config import TrainConfig
    from cnnstudio.core.training.trainer import Trainer

@dataclass(frozen=True)
class SweepJob:
    """A sweep to train on the training thread instead of one run: its trials one after the other, each
    shown on the Train page as a run is (core/sweep/runner.py)."""

    sweep_dir: str
    spec: SweepSpec
    budget_minutes: float | None = None
    device: str = "auto"


STEP_INTERVAL_S = 0.1  # at most 10 step updates per second reach the GUI: smooth, and cheap for the GUI

# Runs whose thread has not ended yet: the registry keeps them (and so their QThreads) alive.
_active: set[TrainingRun] = set()
_generation = 0


def next_generation() -> int:
    global _generation
    _generation += 1
    return _generation


def active_runs() -> list[TrainingRun]:
    """Training runs whose thread is still alive."""
    return [run for run in _active if run.running]


def active_run_dirs() -> set[str]:
    """Run folders being written by a live training run (the Runs page refuses to delete those)."""
    return {run.run_dir for run in _active if run.running and run.run_dir}


def wait_for_runs(msecs: int = 60000) -> bool:
    """Stop every training run and wait for its thread: call before the application quits."""
    for run in list(_active):
        run.stop()
    ok = True
    for run in list(_active):
        ok = run.wait(msecs) and ok
    return ok


class _SignallingControl(RunControl):
    """RunControl that tells the worker when the trainer checks it (once per batch, on the worker thread)."""

    def __init__(self, on_check: Callable[[], None], on_paused: Callable[[bool], None]) -> None:
        super().__init__()
        self._on_check = on_check
        self._on_paused = on_paused

    def wait_while_paused(self) -> float:
        self._on_check()
        if self.paused and not self.stop_requested:
            self._on_paused(True)
            waited = super().wait_while_paused()
            self._on_paused(False)
            return waited
        return super().wait_while_paused()


class TrainingWorker(QObject):
    """Lives on the training thread. Signals carry (generation, payload); payloads are the core's events."""

    started = Signal(int, object, object)  # StartedEvent, history so far (a resumed run's) or None
    steps = Signal(int, object)  # list of StepEvent, oldest first (coalesced, never dropped)
    epoch = Signal(int, object)  # EpochEvent
    recovered = Signal(int, object)  # RecoveredEvent: the run went back to its last good state
    log = Signal(int, str)
    trial = Signal(int, object)  # TrialStarted: a sweep's next trial (core/sweep/study.py)
    pausedChanged = Signal(int, bool)  # True once the trainer really waits, False when it goes on
    done = Signal(int, object)  # the RunResult (core/training/events.py): how the run ended
    failed = Signal(int, str, str)  # message, details (a traceback for an unexpected error, else "")
    finished = Signal()  # the thread wiring: emitted last, always

    def __init__(self, generation: int, config: TrainConfig, dataset: Dataset | None = None,
                 resume_from: str | None = None, run_dir: str | None = None, find_lr: bool = False,
                 sweep: SweepJob | None = None):
        super().__init__()  # no parent: moveToThread refuses parented objects
        self.sweep = sweep
        self.generation = generation
        self.config = config
        # Run the learning-rate finder first and train at its suggestion (a network no measured recipe
        # fits: cnnstudio/core/training/recipes.py); never for a resumed run, whose rate is saved.
        self.find_lr = find_lr and resume_from is None
        self.dataset = dataset
        self.resume_from = resume_from
        self.run_dir = run_dir
        self.control = _SignallingControl(self._maybe_flush, self._paused)
        self._lock = threading.Lock()
        self._pending: list[StepEvent] = []
        self._last_emit = 0.0
        self.trainer: Trainer | None = None
        # How many step events came in and how many `steps` signals went out (the benchmark checks the rate).
        self.stats = {"step_events": 0, "step_signals": 0}

    # -- control (any thread) ---------------------------------------------------------------------
    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def stop(self) -> None:
        self.control.stop()

    # -- the run (worker thread) ------------------------------------------------------------------
    @Slot()
    def run(self) -> None:
        gen = self.generation
        try:
            from cnnstudio.core.training.trainer import Trainer  # imports torch: on this thread, not the GUI's

            if self.sweep is not None:
                self.done.emit(gen, self._run_sweep(self.sweep))
                return
            if self.find_lr and not self._find_learning_rate():
                return
            self.trainer = Trainer(self.config, dataset=self.dataset, run_dir=self.run_dir,
                                   resume_from=self.resume_from, on_event=self.on_event, control=self.control)
            result = self.trainer.run()
            self._flush()
            if not isinstance(result, RunResult):
                raise TypeError(f"the trainer returned {type(result).__name__}, not a RunResult")
            if result.status == "failed":
                self.failed.emit(gen, result.message or "training failed", "")
            self.done.emit(gen, result)
        except Exception as exc:  # noqa: BLE001 - a bug in the worker or the trainer: say so, never die silently
            details = traceback.format_exc()
            message = f"Training stopped unexpectedly: {type(exc).__name__}: {exc}"
            self._flush()
            self.failed.emit(gen, message, details)
            run_dir = getattr(self.trainer, "run_dir", None)
            self.done.emit(gen, RunResult("failed", message, run_dir=str(run_dir) if run_dir else None,
                                          details=details, history=getattr(self.trainer, "history", None)))
        finally:
            # The trainer holds the model and the data copies (on the GPU too): let them go now, even if
            # a Python reference to this worker lingers after the run.
            self.trainer = None
            self.dataset = None
            self.finished.emit()

    def _run_sweep(self, job: SweepJob) -> RunResult:
        """The sweep's trials, each reported as a run (its StartedEvent resets the charts); the result
        points at the best trial."""
        from cnnstudio.core.sweep.runner import SweepRunner

        runner = SweepRunner(job.sweep_dir, job.spec, data=self.dataset, budget_minutes=job.budget_minutes,
                             device=job.device, on_event=self.on_event, control=self.control)
        outcome = runner.run()
        self._flush()
        best = outcome.best
        done = sum(t.status in ("finished", "early-stopped", "pruned") for t in outcome.trials)
        pruned = sum(t.status == "pruned" for t in outcome.trials)
        text = (f"sweep of {job.spec.target} trials: {done} ended ({pruned} stopped early by the search)"
                + (f"; the best, {Path(best.run_dir).name}, reached {100 * (best.best_val_accuracy or 0):.1f} % "
                   f"validation accuracy" if best else "; none finished"))
        if not outcome.complete:
            text += (f"; stopped {outcome.stopped}: `cnnstudio sweep --out {outcome.sweep_dir}` continues it"
                     if outcome.stopped else "")
        checkpoint = str(Path(best.run_dir) / "best.pt") if best else None
        return RunResult("finished" if outcome.complete else "stopped", text, run_dir=outcome.sweep_dir,
                         checkpoint=checkpoint if checkpoint and Path(checkpoint).is_file() else None,
                         best_val_accuracy=best.best_val_accuracy if best else None,
                         test_accuracy=best.test_accuracy if best else None)

    def _find_learning_rate(self) -> bool:
        """The range test on this run's settings; the config then trains at its suggestion. False when the
        run ends here: stopped during the test, or no learning rate found (said as a failure)."""
        from cnnstudio.core.errors import CNNStudioError
        from cnnstudio.core.training.lr_find import LrFindCancelled, find_lr

        gen = self.generation
        self.log.emit(gen, "Finding a learning rate for this network first (a range test of at most 100 steps)…")
        try:
            found = find_lr(self.config, self.dataset, control=self.control)
            lr = found.chosen_lr()
        except LrFindCancelled:
            self.done.emit(gen, RunResult("stopped", "stopped while finding the learning rate, before training "
                                          "began"))
            return False
        except CNNStudioError as exc:
            self.failed.emit(gen, str(exc), "")
            self.done.emit(gen, RunResult("failed", str(exc)))
            return False
        self.config = copy.deepcopy(self.config)
        self.config.lr = lr
        text = found.summary()
        self.log.emit(gen, f"{text[:1].upper()}{text[1:]}.")
        return True

    def on_event(self, event: object) -> None:
        """The Trainer's event callback (on the training thread): steps are coalesced, the rest sent at once."""
        if isinstance(event, StepEvent):
            self.stats["step_events"] += 1
            with self._lock:
                self._pending.append(event)
            self._maybe_flush()
            return
        self._flush()  # the latest step always arrives before what follows it
        if isinstance(event, StartedEvent):
            history = getattr(self.trainer, "history", None)
            self.started.emit(self.generation, event, copy.deepcopy(history) if history else None)
        elif isinstance(event, EpochEvent):
            self.epoch.emit(self.generation, event)
        elif isinstance(event, RecoveredEvent):
            self.recovered.emit(self.generation, event)
        elif isinstance(event, LogEvent):
            self.log.emit(self.generation, str(event.message))
        elif isinstance(event, TrialStarted | TrialEnded):
            self.log.emit(self.generation, trial_line(event))
            if isinstance(event, TrialStarted):
                self.trial.emit(self.generation, event)
        # FinishedEvent: the RunResult run() returns is emitted as `done` after it.

    def _maybe_flush(self) -> None:
        if self._pending and time.monotonic() - self._last_emit >= STEP_INTERVAL_S:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            self._last_emit = time.monotonic()
            self.stats["step_signals"] += 1
            self.steps.emit(self.generation, batch)

    def _paused(self, paused: bool) -> None:
        if paused:
            self._flush()
        self.pausedChanged.emit(self.generation, paused)


class TrainingRun(QObject):
    """One training run on its own QThread, owned by the GUI thread. Connect to `worker`'s signals
    (they arrive queued on the GUI thread), then start()."""

    ended = Signal(int)  # the thread has finished: safe to start another run

    def __init__(self, config: TrainConfig, dataset: Dataset | None = None, resume_from: str | None = None,
                 run_dir: str | None = None, parent: QObject | None = None, find_lr: bool = False,
                 sweep: SweepJob | None = None):
        super().__init__(parent)
        self.generation = next_generation()
        self.worker = TrainingWorker(self.generation, config, dataset, resume_from, run_dir, find_lr, sweep)
        self._thread: QThread | None = QThread()
        self._thread.setObjectName(f"cnnstudio-training-{self.generation}")
        self.worker.moveToThread(self._thread)
        self._thread.started.connect(self.worker.run)
        # Direct: the QThread object lives on the GUI thread, so a queued quit() would wait for the GUI's
        # event loop, and a GUI thread blocked in wait() (closing the window) would never see it: deadlock.
        # quit() is thread-safe; calling it from the worker thread ends that thread's event loop.
        self.worker.finished.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self.worker.finished.connect(self.worker.deleteLater)
        # No thread.finished -> thread.deleteLater here: Python created this QThread and owns it, and
        # _on_thread_finished must still call wait() on it. It releases the thread itself, after wait().
        self._thread.finished.connect(self._on_thread_finished)
        self.worker.started.connect(self._on_started)
        self._control = self.worker.control  # plain Python: usable after the worker is deleted
        self.stats = self.worker.stats  # plain dict: readable after Qt has deleted the worker
        self.run_dir: str | None = run_dir or (str(Path(resume_from).parent) if resume_from else None)
        self._done = False
        self._started = False

    def start(self) -> TrainingRun:
        _active.add(self)
        self._started = True
        assert self._thread is not None, "the thread is dropped only once it has finished"
        self._thread.start()
        return self

    # -- control, from the GUI thread -------------------------------------------------------------
    def pause(self) -> None:
        self._control.pause()

    def resume(self) -> None:
        self._control.resume()

    def stop(self) -> None:
        self._control.stop()

    def cancel(self) -> None:  # tasks.wait_for_all() calls cancel() then wait() on what it holds
        self.stop()

    @property
    def paused(self) -> bool:
        return self._control.paused

    @property
    def stop_requested(self) -> bool:
        return self._control.stop_requested

    @property
    def running(self) -> bool:
        return self._started and not self._done

    def wait(self, msecs: int = 60000) -> bool:
        """Block until the thread has ended (True), or msecs passed (False)."""
        if self._done or self._thread is None:
            return True
        return self._thread.wait(msecs)

    def thread_alive(self) -> bool:
        return self._thread is not None and not self._done and self._thread.isRunning()

    @Slot(int, object, object)
    def _on_started(self, generation: int, event: StartedEvent, _history: History | None) -> None:
        if generation == self.generation and event.run_dir:
            self.run_dir = event.run_dir

    @Slot()
    def _on_thread_finished(self) -> None:
        # QThread emits finished() *before* the ending thread deletes its deferred objects (our worker's
        # deleteLater). Dropping our Python references now could let Python delete the worker here while
        # that thread deletes it too: a double delete. wait() returns once the thread is completely done
        # (a moment later); only then let go of the wrappers.
        if self._thread is not None:
            self._thread.wait()
        self._done = True
        self._thread = None  # the last reference: Python deletes the finished QThread, here on its own thread
        _active.discard(self)
        self.ended.emit(self.generation)
