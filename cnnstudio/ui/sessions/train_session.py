"""The Train page's session: the run in progress, what it reports, and whether Start may be pressed.

It owns the TrainingRun (cnnstudio/ui/training_worker.py) and filters its signals to the current run
(late signals of an earlier run never reach the view), keeps the run's progress (steps, best
validation accuracy, the latest step), and gathers the result and any failure until the thread has
ended. Events reach the view as the core's dataclasses (StartedEvent, StepEvent, EpochEvent). The
decisions the view only shows live here too: the config a Start would use (one builder, the core's),
what blocks a Start, and which precision a device choice means.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.text import clock_text
from cnnstudio.core.training.config import TrainConfig, build_config, default_config
from cnnstudio.ui.state import AppState
from cnnstudio.ui.training_worker import TrainingRun, wait_for_runs


def device_short_name(device: dict[str, Any]) -> str:
    if device["id"].startswith("cuda"):
        return f"GPU {device['id'].split(':')[-1]} ({device['name']})"
    if device["id"] == "mps":
        return "Apple GPU (MPS)"
    return "CPU"


def device_title(device: dict[str, Any]) -> str:
    did = device["id"]
    if did.startswith("cuda"):
        mem = device.get("memory_bytes")
        mem_text = f", {mem / 2 ** 30:.0f} GB" if mem else ""
        return f"GPU {did.split(':')[-1]}: {device['name']}{mem_text}"
    if did == "mps":
        return f"{device['name']} (MPS)"
    detail = device.get("detail") or ""
    return f"CPU: {device['name']}" + (f" ({detail})" if detail else "")


def format_duration(seconds: float | None) -> str:
    return clock_text(seconds)


def format_percent(value: float | None) -> str:
    return "--" if value is None else f"{100 * value:.1f} %"


@dataclass(frozen=True)
class RunEnd:
    """What the Train page says when a run is over."""

    status: str  # finished, early-stopped, stopped or failed
    banner: str
    kind: str  # the banner's kind: success, warning or error
    status_text: str
    log_line: str


def describe_end(result: dict[str, Any], failure: tuple[str, str] | None, seconds: float) -> RunEnd:
    status = result.get("status", "failed")
    took = format_duration(seconds)
    saved = (f"Saved as run '{Path(result['run_dir']).name}': reopen it and compare it with other runs on the "
             "Runs page (4 Runs).") if result.get("run_dir") else ""
    if status in ("finished", "early-stopped"):
        test, best = result.get("test_accuracy"), result.get("best_val_accuracy")
        parts = []
        if test is not None:
            parts.append(f"test accuracy {format_percent(test)}")
        if best is not None:
            parts.append(f"best validation accuracy {format_percent(best)} (epoch {result.get('best_epoch')})")
        summary = ", ".join(parts) or result.get("message", "")
        head = "Finished" if status == "finished" else "Stopped early (no more improvement)"
        text = f"{head} in {took}: {summary}."
        if result.get("checkpoint"):
            text += " The best checkpoint is now used by Evaluate, Inspect and Draw."
        return RunEnd(status, text, "success", saved, text)
    if status == "stopped" and not result.get("run_dir"):  # stopped before the run began (the finder)
        text = f"Stopped after {took}, before training began: nothing was saved."
        return RunEnd(status, text, "warning", f"{str(result.get('message') or '').capitalize()}.", text)
    if status == "stopped":
        text = f"Stopped after {took}. The state is saved in last.pt: use 'Continue a run…' to go on."
        return RunEnd(status, text, "warning", f"{str(result.get('message') or '').capitalize()}. {saved}", text)
    message = failure[0] if failure else str(result.get("message") or "training failed")
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


APP_DATASET: Any = object()  # start(): train on the dataset the app has loaded


class TrainSession(QObject):
    started = Signal(object, object)  # StartedEvent, history so far (a resumed run's) or None
    steps = Signal(object)  # list of StepEvent, oldest first
    epoch = Signal(object)  # EpochEvent
    recovered = Signal(object)  # RecoveredEvent
    log = Signal(str)
    pausedChanged = Signal(bool)
    ended = Signal(object, object)  # the result dict, failure (message, details) or None

    def __init__(self, state: AppState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.devices: list[dict[str, Any]] = []
        self.run: TrainingRun | None = None
        self.resuming_from: str | None = None
        self.run_info: dict[str, Any] = {}  # model and dataset names of the run, for the charts
        self.current_step = 0
        self.total_steps = 0
        self.best_val: float | None = None
        self.last_step: Any = None  # the latest StepEvent
        self.started_at = 0.0
        self._generation = 0
        self._result: dict[str, Any] | None = None
        self._failure: tuple[str, str] | None = None

    # -- state ----------------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.run is not None and self.run.running

    def is_paused(self) -> bool:
        return self.is_running() and self.run is not None and self.run.paused

    @property
    def stop_requested(self) -> bool:
        return self.run is not None and self.run.stop_requested

    # -- decisions ------------------------------------------------------------------------------------
    def build_config(self, form: dict[str, Any], augmentation: Any = None,
                     overrides: dict[str, Any] | None = None) -> TrainConfig:
        """The TrainConfig a Start would use: the dataset's defaults, the form, the model spec, the
        augmentation, then `overrides` (TrainConfig field names). CNNStudioError if invalid."""
        import copy

        changes: dict[str, Any] = dict(form)
        changes["dataset"] = self.state.dataset_name
        base = default_config(self.state.dataset_name, data=self.state.dataset, spec=self.state.spec)
        changes["augment"] = augmentation if augmentation is not None else base.augment
        spec = copy.deepcopy(self.state.spec) if self.state.spec is not None else None
        if spec is not None:
            changes["spec"] = spec
            changes["model"] = str(spec.get("name") or "custom")
        changes.update(overrides or {})
        return build_config(base, changes)

    def resume_config(self, epochs: int, device: str, overrides: dict[str, Any] | None = None) -> TrainConfig:
        """For a resumed run only epochs (at least the saved number) and device matter."""
        request = {"dataset": self.state.dataset_name, "epochs": epochs, "device": device, **(overrides or {})}
        return build_config(TrainConfig(), request)

    def device_id(self, choice: str | None) -> str:
        """The concrete device a choice means ("auto" resolves to the best one listed)."""
        choice = choice or "auto"
        if choice == "auto":
            return self.devices[0]["id"] if self.devices else "cpu"
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

    def start_blocker(self, precision_problem: str | None) -> str | None:
        """None when Start may be pressed, else the sentence that says why not."""
        if self.is_running():
            return "Training is running."
        if self.state.dataset is None:
            return "Load a dataset first: choose one on the Data page (1  Data)."
        if self.state.spec is None:
            return "Choose a model first, on the Model page (2  Model)."
        problem = self.spec_problem()
        if problem:
            return f"The model cannot be trained: {problem} Fix it on the Model page."
        return self.weights_problem() or precision_problem

    # -- a run ----------------------------------------------------------------------------------------
    def lr_from_finder(self, cfg: TrainConfig) -> bool:
        """Whether a new run of `cfg` should take its learning rate from the finder: no measured recipe fits
        the model (recipes.py: a deep custom network without normalisation) and the learning rate is still
        the one recommended (a rate the user typed is theirs)."""
        from cnnstudio.core.training.recommend import recommend

        rec = recommend(self.state.dataset_name, self.state.dataset, spec=self.state.spec)
        return rec.lr_auto and cfg.lr == rec.config.lr

    def start(self, cfg: TrainConfig, resume_from: str | None, dataset: Any = APP_DATASET,
              find_lr: bool = False) -> TrainingRun:
        """Start a run on the app's dataset, or on `dataset` (a queued run's own; None: the trainer
        loads cfg.dataset itself); `find_lr`: the learning-rate finder chooses cfg.lr first."""
        dataset = self.state.dataset if dataset is APP_DATASET else dataset
        if dataset is not None and _needs_larger_pictures(cfg, dataset):
            dataset = None  # the trainer decodes the folder again, at the backbone's resolution
        if resume_from is not None:
            saved = saved_dataset_name(resume_from)
            if saved is not None and saved != self.state.dataset_name:
                dataset = None  # the trainer loads the checkpoint's own dataset
        run = TrainingRun(cfg, dataset=dataset, resume_from=resume_from, find_lr=find_lr)
        w = run.worker
        w.started.connect(self.receive_started)
        w.steps.connect(self.receive_steps)
        w.epoch.connect(self.receive_epoch)
        w.recovered.connect(self.receive_recovered)
        w.log.connect(lambda gen, text: self.log.emit(text) if gen == self._generation else None)
        w.pausedChanged.connect(lambda gen, p: self.pausedChanged.emit(p) if gen == self._generation else None)
        w.done.connect(self.receive_result)
        w.failed.connect(self.receive_failure)
        run.ended.connect(self.receive_end)
        self.run, self._generation = run, run.generation
        self._result = self._failure = None
        self.resuming_from = resume_from
        self.run_info = {"model": cfg.model, "dataset": cfg.dataset}
        self.best_val = self.last_step = None
        self.current_step = self.total_steps = 0
        self.started_at = time.monotonic()
        run.start()
        self.state.set_training(True)
        return run

    def pause(self) -> bool:
        if self.is_running() and not self.run.paused:
            self.run.pause()
            return True
        return False

    def resume(self) -> bool:
        if self.is_running() and self.run.paused:
            self.run.resume()
            return True
        return False

    def stop(self) -> bool:
        """Ask the run to stop; it saves last.pt within one batch."""
        if self.is_running() and not self.run.stop_requested:
            self.run.stop()
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

    def receive_started(self, generation: int, event: Any, history: Any) -> None:
        if generation != self._generation:
            return
        self.total_steps = event.epochs * event.steps_per_epoch
        if history and history.get("steps", {}).get("step"):
            self.current_step = int(history["steps"]["step"][-1])
        vals = [v for v in (history or {}).get("val_accuracy", []) if v is not None]
        self.best_val = max(vals) if vals else None
        self.started.emit(event, history)

    def receive_steps(self, generation: int, steps: list) -> None:
        if generation != self._generation or not steps:
            return
        self.last_step = steps[-1]
        self.current_step = self.last_step.global_step
        self.total_steps = self.last_step.total_steps
        self.steps.emit(steps)

    def receive_epoch(self, generation: int, event: Any) -> None:
        if generation != self._generation:
            return
        if event.val_accuracy is not None:
            self.best_val = max(self.best_val or 0.0, event.val_accuracy)
        self.epoch.emit(event)

    def receive_recovered(self, generation: int, event: Any) -> None:
        if generation != self._generation:
            return
        self.current_step = event.step  # the steps after it are trained again
        self.recovered.emit(event)

    def receive_result(self, generation: int, result: dict) -> None:
        if generation == self._generation:
            self._result = result

    def receive_failure(self, generation: int, message: str, details: str) -> None:
        if generation == self._generation:
            self._failure = (message, details)

    def receive_end(self, generation: int) -> None:
        if generation != self._generation:
            return
        result = self._result or {"status": "failed", "message": "the training thread ended without a result",
                                  "run_dir": self.run.run_dir if self.run else None, "checkpoint": None}
        failure = self._failure
        if failure is None and result.get("status") == "failed":
            failure = (str(result.get("message") or "training failed"), str(result.get("details") or ""))
        self.run = None
        self.state.set_training(False)
        self.ended.emit(result, failure)


def _needs_larger_pictures(cfg: TrainConfig, dataset: Any) -> bool:
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
