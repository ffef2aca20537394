"""Train a sweep's trials: each one's config built as `cnnstudio train` builds it, trained by the Trainer
into its run folder, pruned on the trainer's ProbeEvents (halving), continued from last.pt after an
interruption. The study, its folder and what it recorded are core/sweep/study.py's."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.sweep.space import SweepError, SweepParam
from cnnstudio.core.sweep.study import (PROBE_FRACTIONS, SWEEP_FILE, TRIAL_FILE, SweepCallback, SweepOutcome,
                                        SweepSpec, TrialEnded, TrialRecord, TrialStarted, default_storage,
                                        make_sweep_dir, open_study, outcome, progress_counts, quiet_optuna, suggest,
                                        sweep_in, train_again)
from cnnstudio.core.training.control import ChildControl, RunControl

if TYPE_CHECKING:
    import optuna

    from cnnstudio.core.datasets.base import Dataset
    from cnnstudio.core.training.config import TrainConfig
    from cnnstudio.core.training.events import RunResult


# -- each trial's config: the one recommendation for (data, model), then the trial's settings ------------
class TrialConfigs:
    """Builds each trial's TrainConfig as `cnnstudio train` would for the same options: recommend() for the
    data and the trial's model, the sweep's fixed settings, then the trial's. Recommendations and the
    learning rates the finder chose are kept per model, so each is decided once."""

    def __init__(self, spec: SweepSpec, data: Dataset, device: str = "auto"):
        self.spec, self.data, self.device = spec, data, device
        self._found_lr: dict[tuple[str | None, int], float] = {}

    def config(self, settings: Mapping[str, Any]) -> tuple[TrainConfig, bool]:
        """(config, whether its learning rate must come from the finder)."""
        from cnnstudio.core.models.presets import resolve_spec
        from cnnstudio.core.training.config import AUGMENT_PRESETS, build_config
        from cnnstudio.core.training.recommend import recommend

        model = settings.get("model", self.spec.model)
        epochs = settings.get("epochs", self.spec.epochs)
        rec = recommend(self.spec.dataset, self.data, model, epochs=epochs)
        overrides: dict[str, Any] = {"dataset": self.spec.dataset, **self.spec.fixed, "device": self.device}
        if epochs is not None:
            overrides["epochs"] = epochs
        if model:
            spec = resolve_spec(model)  # a name that is no preset and no file is refused here, in one line
            if Path(model).suffix.lower() == ".json":
                overrides["spec"] = spec
        for name, value in settings.items():
            if name == "augment":
                if value != "default":
                    if value not in AUGMENT_PRESETS:
                        raise SweepError(f"augment={value}: not one of default, {', '.join(AUGMENT_PRESETS)}")
                    overrides["augment"] = replace(AUGMENT_PRESETS[value])
            elif name not in ("model", "epochs"):
                overrides[name] = value
        cfg = build_config(rec.config, overrides)
        return cfg, rec.lr_auto and "lr" not in settings and "lr" not in self.spec.fixed

    def check(self) -> None:
        """Every listed value (and each end of every range) builds a valid config: a bad one is refused
        before the first trial, in one line naming it."""
        first = {p.name: (p.values[0] if not p.is_range else _range_end(p, p.low)) for p in self.spec.params}
        for p in self.spec.params:
            values = p.values if not p.is_range else (_range_end(p, p.low), _range_end(p, p.high))
            for value in values:
                try:
                    self.config({**first, p.name: value})
                except CNNStudioError as exc:
                    raise SweepError(f"{p.name}={value}: {exc}") from None

    def finder_lr(self, cfg: TrainConfig) -> float:
        from cnnstudio.core.training.lr_find import find_lr

        key = (cfg.model if cfg.spec is None else json.dumps(cfg.spec, sort_keys=True), cfg.batch_size)
        if key not in self._found_lr:
            self._found_lr[key] = find_lr(cfg, self.data).chosen_lr()
        return self._found_lr[key]


def _range_end(param: SweepParam, value: float | None) -> Any:
    assert value is not None
    return int(value) if param.kind == "int" else float(value)


# -- the runner --------------------------------------------------------------------------------------------
class SweepRunner:
    """Train a sweep's trials one after the other in this process (other processes may share the study).

    stop() may be called from any thread: the trial in training stops at its next batch (saving last.pt)
    and is trained on when the sweep is continued."""

    def __init__(self, sweep_dir: str | os.PathLike[str], spec: SweepSpec | None = None, *,
                 data: Dataset | None = None, storage: str | None = None, budget_minutes: float | None = None,
                 device: str = "auto", on_event: SweepCallback | None = None,
                 clock: Callable[[], float] = time.monotonic, control: RunControl | None = None):
        self.sweep_dir = Path(sweep_dir)
        # Checked now, written once the data, every trial's settings and the storage are known good.
        self.spec, self._new_folder = sweep_in(self.sweep_dir, spec)
        self.storage_url = storage or default_storage(self.sweep_dir)
        self.data = data
        self.device = device
        self.budget_seconds = budget_minutes * 60 if budget_minutes is not None else None
        self._on_event = on_event
        self._clock = clock
        # The whole sweep's Pause, Resume and Stop (the app's training thread hands in its own); each trial
        # gets a ChildControl of it, which the sweep alone may stop (pruned, the budget spent).
        self.control = control or RunControl()
        self._stopping = ""
        self._control: RunControl | None = None
        # Called with the loaded data before the first trial (the CLI prints the sweep's estimate there).
        self.on_ready: Callable[[Dataset], None] | None = None

    @property
    def stopping(self) -> str:
        """Why the sweep is stopping ("" while it is not)."""
        return self._stopping

    def stop(self, reason: str = "by the user") -> None:
        self._stopping = self._stopping or reason
        control = self._control
        if control is not None:
            control.stop(reason)

    def _emit(self, event: Any) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def run(self) -> SweepOutcome:
        """Train trials until the sweep is complete, the budget is spent or stop() is called."""
        import optuna

        if self.data is None:
            from cnnstudio.core.datasets import load_dataset
            from cnnstudio.core.models.backbones import input_size
            from cnnstudio.core.models.presets import resolve_spec

            fixed = self.spec.fixed
            # A pretrained backbone sees pictures at its resolution: a folder is decoded at that size (as
            # `cnnstudio train --model` does).
            size = input_size(resolve_spec(self.spec.model)) if self.spec.model else None
            self.data = load_dataset(self.spec.dataset, image_size=size,
                                     data_dir=Path(fixed["data_dir"]) if fixed.get("data_dir") else None)
        configs = TrialConfigs(self.spec, self.data, self.device)
        configs.check()
        study = self._open_study()
        if self.on_ready is not None:
            self.on_ready(self.data)
        start = self._clock()
        while True:
            if self.control.stop_requested:
                self._stopping = self._stopping or "by the user"
            if self._stopping:
                break
            if self.budget_seconds is not None and self._clock() - start >= self.budget_seconds:
                self._stopping = "the time budget is spent"
                break
            done, running = progress_counts(study)
            waiting = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
            if done + running >= self.spec.target and not waiting:
                break
            ended: list[TrialRecord] = []

            def objective(trial: optuna.Trial, index: int = done + running + 1,
                          ended: list[TrialRecord] = ended) -> float:
                record = self._run_trial(study, trial, configs, index, start)
                ended.append(record)
                if record.status == "pruned":
                    raise optuna.TrialPruned()
                if record.status in ("finished", "early-stopped") and record.best_val_accuracy is not None:
                    return record.best_val_accuracy
                return math.nan  # failed or interrupted: Optuna records the trial as failed

            # One trial per call: inside optimize() the samplers may end the study (the grid's last point)
            # and the heartbeat beats; between calls this loop checks the stop, the budget and the count.
            with quiet_optuna():
                study.optimize(objective, n_trials=1)
            for record in ended:
                if record.status == "interrupted":
                    train_again(study, study.get_trials(deepcopy=False)[record.number])
                self._emit(TrialEnded(record, outcome(self.sweep_dir, self.spec, study).best))
        return outcome(self.sweep_dir, self.spec, study, self._stopping)

    def _open_study(self) -> optuna.Study:
        """The study, the sweep folder made first when it is new (SQLite keeps it there); a storage that
        cannot be opened leaves no folder behind."""
        if not self._new_folder:
            return open_study(self.spec, self.storage_url)
        made = not self.sweep_dir.exists()
        make_sweep_dir(self.sweep_dir, self.spec)
        try:
            study = open_study(self.spec, self.storage_url)
        except SweepError:
            for name in (SWEEP_FILE, "study.db"):
                (self.sweep_dir / name).unlink(missing_ok=True)
            if made:
                try:
                    self.sweep_dir.rmdir()  # only when nothing else is in it
                except OSError:
                    pass
            raise
        self._new_folder = False
        return study

    def _run_trial(self, study: optuna.Study, trial: optuna.Trial, configs: TrialConfigs, index: int,
                   start: float) -> TrialRecord:

        from cnnstudio.core.training.events import EpochEvent, ProbeEvent, StepEvent
        from cnnstudio.core.training.trainer import Trainer

        settings = {p.name: suggest(trial, p) for p in self.spec.params}
        run_dir, resume_from = self.sweep_dir / f"trial-{trial.number:03d}", None
        resume_of = trial.user_attrs.get("resume_of")
        if isinstance(resume_of, int):
            previous = study.get_trials(deepcopy=False)[resume_of]
            earlier = Path(str(previous.user_attrs.get("run_dir", "")))
            if earlier.name and (earlier / "last.pt").is_file():
                run_dir, resume_from = earlier, earlier / "last.pt"
                trial.set_user_attr("seconds_before", float(previous.user_attrs.get("seconds") or 0.0))
                for step, value in previous.intermediate_values.items():  # the pruner's view of it so far
                    trial.report(value, step)
        trial.set_user_attr("run_dir", str(run_dir))
        try:
            cfg, needs_finder = configs.config(settings)
            if needs_finder and resume_from is None:
                cfg = replace(cfg, lr=configs.finder_lr(cfg))
        except CNNStudioError as exc:
            return self._record(trial, settings, run_dir, "failed", message=str(exc))
        _write_trial_tag(run_dir, trial.number, settings, "running", self.sweep_dir)
        self._emit(TrialStarted(trial.number, index, self.spec.target, settings, str(run_dir),
                                resume_from is not None))
        control = ChildControl(self.control)
        self._control = control
        if self._stopping:
            control.stop(self._stopping)
        pruned = ""

        def on_event(event: Any) -> None:
            nonlocal pruned
            if isinstance(event, ProbeEvent) and not pruned:
                percent = round(100 * event.global_step / event.total_steps)
                trial.report(event.val_accuracy, percent)
                if trial.should_prune():
                    pruned = (f"pruned at {percent} % of its steps: its validation accuracy there, "
                              f"{100 * event.val_accuracy:.1f} %, was not among the best third measured there")
                    control.stop("by the sweep (pruned)")
            elif isinstance(event, StepEvent | EpochEvent) and self.budget_seconds is not None:
                if self._clock() - start >= self.budget_seconds:
                    self.stop("at the sweep's time budget")
            self._emit(event)

        probes = PROBE_FRACTIONS if self.spec.strategy == "halving" else ()
        t0 = time.perf_counter()
        result = Trainer(cfg, dataset=self.data, run_dir=run_dir, resume_from=resume_from, on_event=on_event,
                         control=control, probe_fractions=probes).run()
        self._control = None
        seconds = time.perf_counter() - t0 + float(trial.user_attrs.get("seconds_before", 0.0))
        status = {"stopped": "pruned" if pruned else "interrupted"}.get(result.status, result.status)
        return self._record(trial, settings, run_dir, status, result=result, seconds=seconds, message=pruned)

    def _record(self, trial: optuna.Trial, settings: dict[str, Any], run_dir: Path, status: str, *,
                message: str = "", result: RunResult | None = None, seconds: float | None = None) -> TrialRecord:
        """Keep how the trial ended on the study (what `cnnstudio sweep --json` and the Runs page read) and in
        its run folder's trial.json."""
        message = message or (result.message if result is not None else "")
        val = result.best_val_accuracy if result is not None else None
        test = result.test_accuracy if result is not None else None
        for key, value in (("status", status), ("message", message), ("test_accuracy", test),
                           ("best_val_accuracy", val), ("seconds", seconds)):
            trial.set_user_attr(key, value)
        if status not in ("finished", "early-stopped", "pruned", "interrupted"):
            trial.set_user_attr("failed", True)  # never trained again: it would fail again
        if run_dir.is_dir():
            _write_trial_tag(run_dir, trial.number, settings, status, self.sweep_dir)
        return TrialRecord(trial.number, str(run_dir), settings, status, val, test, seconds, message)


def _write_trial_tag(run_dir: Path, number: int, settings: Mapping[str, Any], status: str, sweep_dir: Path) -> None:
    """trial.json in the trial's run folder: which sweep it belongs to and what it tried."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp = run_dir / f".{TRIAL_FILE}.tmp"
        tmp.write_text(json.dumps({"sweep": sweep_dir.name, "trial": number, "settings": dict(settings),
                                   "status": status}, indent=2), encoding="utf-8")
        os.replace(tmp, run_dir / TRIAL_FILE)
    except OSError as exc:
        raise SweepError(f"cannot write {run_dir / TRIAL_FILE}: {exc.strerror or exc}") from None


