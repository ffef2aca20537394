"""The Train page's session: starting and queueing runs, the run in progress, what it reports, and
whether Start may be pressed.

It decides what a Start, a "Continue a run…", a "Train next" or the queue's next run trains (one
builder, the core's; the learning-rate finder for a network no measured recipe fits), owns the
TrainingRun (cnnstudio/ui/training_worker.py) and filters its signals to the current run (late signals
of an earlier run never reach the view), keeps the run's progress (steps, best validation accuracy, the
latest step), gathers the RunResult and any failure until the thread has ended, and then starts the
queue's next run. Everything reaches the view as named values: the core's event dataclasses, Launch,
RunResult, RunEnd. The view passes the form's values in and shows what comes out.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Final

from PySide6.QtCore import QObject, QTimer, Signal

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.sweep.space import settings_text
from cnnstudio.core.text import clock_text, percent_text, plural
from cnnstudio.core.training.config import Augmentation, ConfigValues, TrainConfig, augmentation_text, build_config
from cnnstudio.core.training.device import DeviceInfo
from cnnstudio.core.training.events import EpochEvent, RecoveredEvent, RunResult, StartedEvent, StepEvent
from cnnstudio.ui.sessions.train_queue import config_summary
from cnnstudio.ui.training_worker import SweepJob, TrainingRun, wait_for_runs

if TYPE_CHECKING:
    from cnnstudio.core.datasets.base import Dataset
    from cnnstudio.core.runs import History
    from cnnstudio.core.sweep.study import TrialStarted
    from cnnstudio.ui.sessions.sweep_session import SweepSession
    from cnnstudio.ui.state import AppState

QUEUE_GAP_MS = 400  # between queued runs: the finished run's signals and the Runs page settle first


def format_duration(seconds: float | None) -> str:
    return clock_text(seconds)


def format_percent(value: float | None) -> str:
    return percent_text(value)


@dataclass(frozen=True)
class RunEnd:
    """What the Train page says when a run is over."""

    status: str  # finished, early-stopped, stopped or failed
    banner: str
    kind: str  # the banner's kind: success, warning or error
    status_text: str
    log_line: str


@dataclass(frozen=True)
class RunStart:
    """A run has begun training: the core's StartedEvent, and the metrics history so far (a resumed run's,
    which the charts show first; the core's normalised form, as RunResult carries it), else None."""

    event: StartedEvent
    history: History | None


@dataclass(frozen=True)
class Launch:
    """A run the session has just started, for the view to show."""

    config: TrainConfig
    resume_from: str | None  # the checkpoint a continued run goes on from
    find_lr: bool  # the learning-rate finder chooses config.lr first
    show_config: bool  # what runs differs from the form: overrides or a queued run changed it
    queued: bool = False  # from the queue: the form stays the user's, for the runs they line up next


def describe_end(result: RunResult, failure: tuple[str, str] | None, seconds: float) -> RunEnd:
    status = result.status
    took = format_duration(seconds)
    saved = (f"Saved as run '{Path(result.run_dir).name}': reopen it and compare it with other runs on the "
             "Runs page (4 Runs).") if result.run_dir else ""
    if result.ended_well:
        test, best = result.test_accuracy, result.best_val_accuracy
        parts = []
        if test is not None:
            parts.append(f"test accuracy {format_percent(test)}")
        if best is not None:
            parts.append(f"best validation accuracy {format_percent(best)}"
                         + (f" (epoch {result.best_epoch})" if result.best_epoch is not None else ""))
        summary = ", ".join(parts) or result.message
        head = "Finished" if status == "finished" else "Stopped early (no more improvement)"
        text = f"{head} in {took}: {summary}."
        if result.checkpoint:
            text += " The best checkpoint is now used by Evaluate, Inspect and Draw."
        return RunEnd(status, text, "success", saved, text)
    if status == "stopped" and not result.run_dir:  # stopped before the run began (the finder)
        text = f"Stopped after {took}, before training began: nothing was saved."
        return RunEnd(status, text, "warning", f"{result.message.capitalize()}.", text)
    if status == "stopped":
        text = f"Stopped after {took}. The state is saved in last.pt: use 'Continue a run…' to go on."
        return RunEnd(status, text, "warning", f"{result.message.capitalize()}. {saved}", text)
    message = failure[0] if failure else (result.message or "training failed")
    text = f"Training failed: {message}"
    # The banner above says why; the line under the progress bar does not repeat it (it would be clipped).
    return RunEnd("failed", text, "error", f"Failed after {took}.", f"FAILED: {message}")


def saved_dataset_name(checkpoint: str) -> str | None:
    """The dataset a run folder's config.json names (to know whether the app's dataset can be reused)."""
    try:
        doc = json.loads((Path(checkpoint).parent / "config.json").read_text(encoding="utf-8"))
        return doc["config"]["dataset"]
    except Exception:  # noqa: BLE001 - no readable config: the trainer loads the checkpoint's own dataset
        return None


class _AppDataset(Enum):
    APP = "the dataset the app has loaded"


APP_DATASET: Final = _AppDataset.APP  # start(): train on the dataset the app has loaded


class TrainSession(QObject):
    started = Signal(object)  # RunStart
    steps = Signal(object)  # list of StepEvent, oldest first
    epoch = Signal(object)  # EpochEvent
    recovered = Signal(object)  # RecoveredEvent
    log = Signal(str)
    trialStarted = Signal(object)  # TrialStarted: a sweep's next trial, shown as what trains now
    pausedChanged = Signal(bool)
    ended = Signal(object, object)  # RunResult, failure (message, details) or None; the thread has ended
    launched = Signal(object)  # Launch: a run has just started
    refused = Signal(str)  # why Start (or Train next) cannot be pressed now: for the banner
    rejected = Signal(str, str)  # (title, message): settings or a checkpoint that cannot be used
    runMoved = Signal(object)  # RunEnd: how the last run ended, told again after its folder was renamed

    def __init__(self, state: AppState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.devices: list[DeviceInfo] = []  # what PyTorch found, best first (empty until it has loaded)
        self.run: TrainingRun | None = None
        self.sweeping = False  # the run is a sweep (start_sweep): each trial's start begins the charts again
        self.trial: TrialStarted | None = None  # the sweep's trial in training
        self.resuming_from: str | None = None
        self.run_model = ""  # the model name of the run, for the charts
        self.current_step = 0
        self.total_steps = 0
        self.best_val: float | None = None
        self.last_step: StepEvent | None = None  # the latest
        self.started_at = 0.0
        self.ended_at = 0.0  # when the last run's thread ended (time.monotonic)
        self.last_result: RunResult | None = None  # how the last run ended
        self.run_config: TrainConfig | None = None  # what the run in progress trains
        self.run_title = ""  # the title of its dataset
        self.editing: int | None = None  # the queued entry whose settings the form holds (Edit), if any
        self._generation = 0
        self._result: RunResult | None = None
        self._failure: tuple[str, str] | None = None
        state.runRenamed.connect(self._on_run_renamed)

    def _on_run_renamed(self, old: str, new: str) -> None:
        """A run folder was renamed (never a training one): the last run's result and the checkpoint a
        continued run went on from name the new folder."""
        def moved(path: str | None) -> str | None:
            return str(Path(new) / Path(path).name) if path and Path(path).parent == Path(old) else path

        self.resuming_from = moved(self.resuming_from)
        result = self.last_result
        if result is not None and result.run_dir and Path(result.run_dir) == Path(old):
            self.last_result = replace(result, run_dir=new, checkpoint=moved(result.checkpoint),
                                       last_checkpoint=moved(result.last_checkpoint))
            if result.status != "failed":  # a failure's account names no folder
                self.runMoved.emit(describe_end(self.last_result, None, self.ended_at - self.started_at))

    # -- state ----------------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.run is not None and self.run.running

    def is_paused(self) -> bool:
        return self.is_running() and self.run is not None and self.run.paused

    @property
    def stop_requested(self) -> bool:
        return self.run is not None and self.run.stop_requested

    # -- decisions ------------------------------------------------------------------------------------
    def augmentation(self) -> Augmentation:
        """What the Data page chose, else the dataset's recommended augmentation."""
        aug = getattr(self.state, "augmentation", None)
        if isinstance(aug, Augmentation):
            return copy.deepcopy(aug)
        if isinstance(aug, dict):
            return Augmentation.from_dict(aug)
        return copy.deepcopy(self.state.recommendation.config.augment)

    def build_config(self, form: ConfigValues, augmentation: Augmentation | None = None,
                     overrides: ConfigValues | None = None) -> TrainConfig:
        """The TrainConfig a Start would use: the recommended settings (AppState.recommendation), the
        form, the model spec, the augmentation, then `overrides` (TrainConfig field names). CNNStudioError
        if invalid."""
        changes: ConfigValues = dict(form)
        changes["dataset"] = self.state.dataset_name
        base = self.state.recommendation.config
        changes["augment"] = augmentation if augmentation is not None else base.augment
        spec = copy.deepcopy(self.state.spec) if self.state.spec is not None else None
        if spec is not None:
            changes["spec"] = spec
            changes["model"] = str(spec.get("name") or "custom")
        changes.update(overrides or {})
        return build_config(base, changes)

    def resume_config(self, epochs: int, device: str, overrides: ConfigValues | None = None) -> TrainConfig:
        """For a resumed run only epochs (at least the saved number) and device matter."""
        request: ConfigValues = {"dataset": self.state.dataset_name, "epochs": epochs, "device": device,
                               **(overrides or {})}
        return build_config(TrainConfig(), request)

    def device_id(self, choice: str | None) -> str:
        """The concrete device a choice means ("auto" resolves to the best one listed)."""
        choice = choice or "auto"
        if choice == "auto":
            return self.devices[0].id if self.devices else "cpu"
        return choice

    def resolved_precision(self, device_choice: str | None, requested: str | None) -> tuple[str | None, str | None]:
        """(precision, None) or (None, why it cannot be used); (None, None) while unknown.

        torch is consulted only once the devices are known: before that it may be half-imported by
        another thread, and touching it here would block the GUI thread on the import lock for seconds."""
        requested = requested or "auto"
        device = self.device_id(device_choice)
        if device == "cpu" and requested == "fp16":
            return None, "fp16 training is not supported on the CPU; choose bf16 or fp32."
        if not self.devices:
            return (None if requested == "auto" else requested), None
        try:
            import torch

            from cnnstudio.core.training.device import resolve_precision

            return resolve_precision(requested, torch.device(device)), None
        except CNNStudioError as exc:
            return None, str(exc)
        except Exception:  # noqa: BLE001 - an unusual torch build: let the trainer decide
            return None, None

    def spec_problem(self) -> str | None:
        """What is wrong with the model spec for the loaded data (naming the layer), or None."""
        spec, ds = self.state.spec, self.state.dataset
        if spec is None:
            return None
        error = None
        if ds is not None:
            try:
                from cnnstudio.core.models.spec import infer_shapes

                error = infer_shapes(spec, ds.input_shape, ds.num_classes).error
            except Exception as exc:  # noqa: BLE001 - a spec so broken that inference itself fails
                error = str(exc)
        if error:
            return error.rstrip(".") + "."
        if not self.state.spec_valid:
            return "the Model page reports an error in it."
        return None

    def weights_problem(self) -> str | None:
        """The sentence saying that a pretrained backbone of the spec has no weights file here, or None.

        Known only once PyTorch has loaded (the devices are listed): finding the file needs torchvision's
        weights table, and importing it on the GUI thread before then would block the window."""
        spec = self.state.spec
        layers = [layer for layer in (spec or {}).get("layers", []) if isinstance(layer, dict)
                  and layer.get("type") == "backbone" and layer.get("weights", "imagenet") == "imagenet"]
        if not layers or not (self.devices or "torchvision" in sys.modules):
            return None
        try:
            from cnnstudio.core.models.backbones import BACKBONES, find_weights

            for layer in layers:
                arch = str(layer.get("arch"))
                if find_weights(arch) is None:
                    return (f"The ImageNet weights of {BACKBONES[arch].title} are not on this computer: download "
                            "or import them on the Model page (2  Model), or choose a model trained from scratch.")
        except Exception:  # noqa: BLE001 - an unknown backbone: the spec check names it; the trainer decides
            return None
        return None

    def form_config(self, form: ConfigValues, overrides: ConfigValues | None = None) -> TrainConfig:
        """The TrainConfig a Start from the form (plus overrides) would use, with the augmentation chosen."""
        return self.build_config(form, self.augmentation(), overrides)

    def form_blocker(self, form: ConfigValues, queued: bool = False) -> str | None:
        """What blocks a Start (or, `queued`, a Train next) with the form's device and precision, or None."""
        device, precision = form.get("device"), form.get("precision")
        problem = self.resolved_precision(device if isinstance(device, str) else None,
                                          precision if isinstance(precision, str) else None)[1]
        return self.queue_blocker(problem) if queued else self.start_blocker(problem)

    def start_blocker(self, precision_problem: str | None) -> str | None:
        """None when Start may be pressed, else the sentence that says why not."""
        if self.is_running():
            return "Training is running."
        return self.queue_blocker(precision_problem)

    def queue_blocker(self, precision_problem: str | None) -> str | None:
        """None when these settings may be queued ("Train next", also while a run trains), else why not."""
        if self.state.dataset is None:
            return "Load a dataset first: choose one on the Data page (1  Data)."
        if self.state.spec is None:
            return "Choose a model first, on the Model page (2  Model)."
        problem = self.spec_problem()
        if problem:
            return f"The model cannot be trained: {problem} Fix it on the Model page."
        return self.weights_problem() or precision_problem

    def running_summary(self) -> str | None:
        """What the run in progress trains, in a few lines (None when nothing trains)."""
        cfg = self.run_config
        if not self.is_running() or cfg is None:
            return None
        if self.resuming_from:  # its settings are the checkpoint's own: only the length and device are asked
            return (f"Continuing the run {Path(self.resuming_from).parent.name} to {plural(cfg.epochs, 'epoch')} "
                    "in all, with its own settings.")
        if self.sweeping:
            trial = self.trial
            now = (f"trial {trial.index} of {trial.total}: {settings_text(trial.settings)}" if trial
                   else "preparing the first trial")
            return (f"A sweep ({self.run_title}), {now}. Every setting it does not vary is as below "
                    f"(the form when the sweep started): {config_summary(cfg, self.run_title)}")
        extra = f", label smoothing {cfg.label_smoothing:g}" if cfg.label_smoothing else ""
        device = "".join(f"; {name} {value}" for name, value in (("device", cfg.device), ("precision", cfg.precision))
                         if value != "auto")
        return (f"{config_summary(cfg, self.run_title)}\n{cfg.schedule} schedule, weight decay {cfg.weight_decay:g}"
                f"{extra}; augmentation: {augmentation_text(cfg.augment)}{device}")

    def progress_line(self, s: StepEvent) -> str | None:
        """The line under the progress bar at step `s` (None while pausing or stopping: that line stays)."""
        if self.is_paused() or self.stop_requested:
            return None
        best = f"  ·  best validation accuracy so far {format_percent(self.best_val)}" if self.best_val else ""
        return (f"Training loss {s.loss:.4f}, accuracy {format_percent(s.accuracy)} (recent steps)  ·  "
                f"elapsed {format_duration(s.elapsed_seconds)}{best}")

    # -- starting and queueing -------------------------------------------------------------------------
    def lr_from_finder(self, cfg: TrainConfig) -> bool:
        """Whether a new run of `cfg` should take its learning rate from the finder: no measured recipe fits
        the model (recipes.py: a deep custom network without normalisation) and the learning rate is still
        the one recommended (a rate the user typed is theirs)."""
        rec = self.state.recommendation
        return rec.lr_auto and cfg.lr == rec.config.lr

    def _form_run(self, form: ConfigValues, overrides: ConfigValues | None, queued: bool = False) -> TrainConfig | None:
        """The config of a new run from the form (to start now, or `queued`), or None once `refused` or
        `rejected` said why not."""
        blocker = self.form_blocker(form, queued)
        if blocker:
            self.refused.emit(blocker)
            return None
        try:
            return self.form_config(form, overrides)
        except (CNNStudioError, TypeError, ValueError) as exc:
            self.rejected.emit("These settings cannot be used", str(exc))
            return None

    def start_new(self, form: ConfigValues, overrides: ConfigValues | None = None) -> bool:
        """Start a new run from the form's values (plus overrides, TrainConfig fields) on the app's data.
        False when it cannot (the reason goes out as `refused` or `rejected`)."""
        if self.is_running():
            return False
        self.state.queue.set_held(False)  # a run started by hand releases a queue held after a stop
        self.editing = None  # the form's settings train now: a later Train next queues a new run
        cfg = self._form_run(form, overrides)
        if cfg is None:
            return False
        self._launch(cfg, None, APP_DATASET, self.lr_from_finder(cfg), show_config=bool(overrides))
        return True

    def start_sweep(self, sweep: SweepSession, budget_minutes: float | None = None) -> bool:
        """Train the sweep the dialog checked, its trials one after the other on the training thread, each
        shown as a run; False when it cannot start now."""
        cfg = sweep.config  # what trains when the sweep varies nothing: the form's settings
        if self.is_running() or sweep.spec is None or cfg is None:
            return False
        from cnnstudio.core.sweep.study import new_sweep_dir

        job = SweepJob(str(new_sweep_dir(sweep.spec)), sweep.spec, budget_minutes, sweep.device)
        self.editing = None
        self.start(cfg, None, APP_DATASET, sweep=job)
        self.sweeping = True
        self.run_title = f"sweep of {sweep.spec.target} trials"
        self.log.emit(f"Sweep: {' '.join(sweep.spec.to_dict()['params'])} ({sweep.spec.strategy}); trials in "
                      f"{job.sweep_dir}")
        self.launched.emit(Launch(cfg, None, False, show_config=False))
        return True

    def continue_run(self, path: str, epochs: int, device: str,
                     overrides: ConfigValues | None = None) -> bool:
        """Continue the run a checkpoint (last.pt) belongs to, for `epochs` in all, on `device`. A missing
        file or bad settings end in `rejected`; a bad checkpoint in a failed run (the trainer checks it)."""
        p = Path(path)
        if not p.is_file():
            self.rejected.emit("Cannot continue from this checkpoint", f"{p} does not exist or is not a file.")
            return False
        if self.is_running():
            return False
        self.state.queue.set_held(False)
        try:
            cfg = self.resume_config(epochs, device, overrides)
        except (CNNStudioError, TypeError, ValueError) as exc:
            self.rejected.emit("These settings cannot be used", str(exc))
            return False
        self._launch(cfg, str(p), APP_DATASET, False, show_config=False)
        return True

    def queue_current(self, form: ConfigValues, overrides: ConfigValues | None = None) -> bool:
        """Add a run of the form's settings (plus overrides) to the queue, with the dataset loaded now, also
        while a run trains; while an entry is being edited, its settings are replaced in its place. False
        when these settings cannot train (the reason goes out as `refused` or `rejected`)."""
        cfg = self._form_run(form, overrides, queued=True)
        if cfg is None:
            return False
        queue, ds = self.state.queue, self.state.dataset
        title = getattr(ds, "title", None) or self.state.dataset_name
        old = queue.get(self.editing) if self.editing is not None else None
        self.editing = None
        if old is not None:  # the form's settings on the entry's own data, model and augmentation
            try:
                cfg = build_config(old.config, {**form, **(overrides or {})})
            except (CNNStudioError, TypeError, ValueError) as exc:
                self.rejected.emit("These settings cannot be used", str(exc))
                return False
            entry = queue.replace(old.id, cfg, old.dataset, old.dataset_title, old.find_lr and cfg.lr == old.config.lr)
            assert entry is not None, "a waiting entry, found just above"
            self.log.emit(f"Queued #{queue.entries.index(entry) + 1} changed: {entry.summary()}")
        else:
            entry = queue.add(cfg, ds, title, find_lr=self.lr_from_finder(cfg))
            self.log.emit(f"Queued #{len(queue)}: {entry.summary()}")
        then = ("they train when the current run ends" if self.is_running() else
                "Start queue trains them; Start trains the form's settings first, then them")
        self.state.message.emit(f"Queued: {entry.summary()}. Press Train next again to queue more; {then}.")
        return True

    def edit_queued(self, entry_id: int) -> TrainConfig | None:
        """Begin editing a waiting entry: its settings (for the form), None if it is no longer waiting or
        stale. The next Train next replaces them in place; cancel_edit() keeps them."""
        entry = self.state.queue.get(entry_id)
        if entry is None or entry.stale:
            return None
        self.editing = entry_id
        return entry.config

    def cancel_edit(self) -> None:
        self.editing = None

    def editing_position(self) -> int | None:
        """The queue position (1, 2...) of the entry being edited, while it still waits."""
        entry = self.state.queue.get(self.editing) if self.editing is not None else None
        return None if entry is None else self.state.queue.entries.index(entry) + 1

    def start_queue(self) -> bool:
        """Start the queue's first run now (the queue is released if it was held)."""
        self.state.queue.set_held(False)
        if self.is_running():
            return False  # the queue goes on when the current run ends
        return self.start_next_queued()

    def start_next_queued(self) -> bool:
        """Start the queue's next run, if there is one and nothing is training."""
        if self.is_running():
            return False
        entry = self.state.queue.take_next()
        if entry is None:
            return False
        self.log.emit(f"From the queue: {entry.summary()} ({len(self.state.queue)} more waiting)")
        if self.editing == entry.id:
            self.editing = None  # it starts as it was queued: the form's edits would queue a new run
        self._launch(entry.config, None, entry.dataset, entry.find_lr, show_config=True, queued=True,
                     title=entry.dataset_title)
        return True

    def finder_request(self, form: ConfigValues) -> tuple[TrainConfig, Dataset | None]:
        """The config and the data the "Find learning rate" dialog tests for the form's settings (None as
        the data: the finder loads it itself). CNNStudioError saying why not."""
        blocker = self.form_blocker(form)
        if blocker:
            raise CNNStudioError(blocker)
        cfg = self.form_config(form)
        dataset = self.state.dataset
        if dataset is not None and _needs_larger_pictures(cfg, dataset):
            dataset = None  # the finder decodes the folder again, at the backbone's resolution
        return cfg, dataset

    def _launch(self, cfg: TrainConfig, resume_from: str | None, dataset: Dataset | _AppDataset | None, find_lr: bool,
                show_config: bool, queued: bool = False, title: str = "") -> None:
        self.start(cfg, resume_from, dataset=dataset, find_lr=find_lr)
        self.run_title = title or getattr(self.state.dataset, "title", None) or cfg.dataset
        self.launched.emit(Launch(cfg, resume_from, find_lr, show_config, queued))

    # -- a run ----------------------------------------------------------------------------------------
    def start(self, cfg: TrainConfig, resume_from: str | None, dataset: Dataset | _AppDataset | None = APP_DATASET,
              find_lr: bool = False, sweep: SweepJob | None = None) -> TrainingRun:
        """Start a run on the app's dataset, or on `dataset` (a queued run's own; None: the trainer
        loads cfg.dataset itself); `find_lr`: the learning-rate finder chooses cfg.lr first."""
        data = self.state.dataset if isinstance(dataset, _AppDataset) else dataset
        if data is not None and _needs_larger_pictures(cfg, data):
            data = None  # the trainer decodes the folder again, at the backbone's resolution
        if resume_from is not None:
            saved = saved_dataset_name(resume_from)
            if saved is not None and saved != self.state.dataset_name:
                data = None  # the trainer loads the checkpoint's own dataset
        run = TrainingRun(cfg, dataset=data, resume_from=resume_from, find_lr=find_lr, sweep=sweep)
        w = run.worker
        w.started.connect(self.receive_started)
        w.steps.connect(self.receive_steps)
        w.epoch.connect(self.receive_epoch)
        w.recovered.connect(self.receive_recovered)
        w.log.connect(lambda gen, text: self.log.emit(text) if gen == self._generation else None)
        w.trial.connect(self.receive_trial)
        w.pausedChanged.connect(lambda gen, p: self.pausedChanged.emit(p) if gen == self._generation else None)
        w.done.connect(self.receive_result)
        w.failed.connect(self.receive_failure)
        run.ended.connect(self.receive_end)
        self.run, self._generation = run, run.generation
        self.sweeping, self.trial = False, None  # start_sweep sets it again right after
        self._result = self._failure = None
        self.resuming_from = resume_from
        self.run_model, self.run_config = cfg.model, cfg
        self.best_val = self.last_step = None
        self.current_step = self.total_steps = 0
        self.started_at = time.monotonic()
        run.start()
        self.state.set_training(True)
        return run

    def pause(self) -> bool:
        run = self.run
        if run is not None and run.running and not run.paused:  # is_running(), spelt out for the type
            run.pause()
            return True
        return False

    def resume(self) -> bool:
        run = self.run
        if run is not None and run.running and run.paused:
            run.resume()
            return True
        return False

    def stop(self) -> bool:
        """Ask the run to stop; it saves last.pt within one batch."""
        run = self.run
        if run is not None and run.running and not run.stop_requested:
            run.stop()
            return True
        return False

    def shutdown(self) -> None:
        """Stop a running run and wait for its thread (it saves last.pt)."""
        run = self.run
        if run is not None and run.running:
            run.stop()
            run.wait(120000)
        wait_for_runs(120000)

    # -- what the worker reports (queued to the GUI thread) -------------------------------------------
    # Each input carries the run's generation: anything from an earlier run is ignored, so a late signal
    # of a finished or abandoned run can never touch the next.
    @property
    def generation(self) -> int:
        """The current (or last) run's generation number."""
        return self._generation

    def receive_started(self, generation: int, event: StartedEvent, history: History | None) -> None:
        if generation != self._generation:
            return
        self.total_steps = event.epochs * event.steps_per_epoch
        if history and history.get("steps", {}).get("step"):
            self.current_step = int(history["steps"]["step"][-1])
        vals = [v for v in (history or {}).get("val_accuracy", []) if v is not None]
        self.best_val = max(vals) if vals else None
        self.started.emit(RunStart(event, history))

    def receive_trial(self, generation: int, event: TrialStarted) -> None:
        if generation == self._generation:
            self.trial = event
            self.trialStarted.emit(event)

    def receive_steps(self, generation: int, steps: list[StepEvent]) -> None:
        if generation != self._generation or not steps:
            return
        self.last_step = steps[-1]
        self.current_step = self.last_step.global_step
        self.total_steps = self.last_step.total_steps
        self.steps.emit(steps)

    def receive_epoch(self, generation: int, event: EpochEvent) -> None:
        if generation != self._generation:
            return
        if event.val_accuracy is not None:
            self.best_val = max(self.best_val or 0.0, event.val_accuracy)
        self.epoch.emit(event)

    def receive_recovered(self, generation: int, event: RecoveredEvent) -> None:
        if generation != self._generation:
            return
        self.current_step = event.step  # the steps after it are trained again
        self.recovered.emit(event)

    def receive_result(self, generation: int, result: RunResult) -> None:
        if generation == self._generation:
            self._result = result

    def receive_failure(self, generation: int, message: str, details: str) -> None:
        if generation == self._generation:
            self._failure = (message, details)

    def receive_end(self, generation: int) -> None:
        if generation != self._generation:
            return
        result = self._result or RunResult("failed", "the training thread ended without a result",
                                           run_dir=self.run.run_dir if self.run else None)
        failure = self._failure
        if failure is None and result.status == "failed":
            failure = (result.message or "training failed", result.details)
        self.run = None
        self.last_result, self.ended_at = result, time.monotonic()
        self.state.set_training(False)
        self.ended.emit(result, failure)
        queue = self.state.queue
        if len(queue):
            if result.status == "stopped":
                # Stop means stop: nothing else starts behind the user's back (closing the window stops too).
                queue.set_held(True)
                self.log.emit(f"The queue is held ({len(queue)} waiting): Start queue on the Runs page goes on.")
            else:
                # A failed run does not block an unattended queue: the next one starts.
                QTimer.singleShot(QUEUE_GAP_MS, self.start_next_queued)


def _needs_larger_pictures(cfg: TrainConfig, dataset: Dataset) -> bool:
    """A pretrained backbone on a folder of pictures loaded smaller than its resolution (the Data page
    chose a size for scratch networks): better pictures are decoded for the run than upsampled."""
    from cnnstudio.core.models.backbones import input_size
    from cnnstudio.core.models.presets import resolve_spec

    try:
        size = input_size(cfg.spec if cfg.spec is not None else resolve_spec(cfg.model))
    except CNNStudioError:
        return False
    report = getattr(dataset, "report", None)
    return bool(size and report is not None and report.files_seen and dataset.input_shape[1] < size)
