"""The training engine: one Trainer that the CLI, the app's QThread worker and torchrun all drive.

Speed comes from keeping the whole dataset as uint8 tensors on the training device and indexing batches
from it (no DataLoader, no per-sample Python), normalising and augmenting whole batches there,
channels_last, bf16/fp16 autocast where the hardware does it natively, and reading the loss back
only when an event is due (a .item() per step would stall a GPU's queue).
"""

from __future__ import annotations

import json
import math
import os
import time
import traceback
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from collections.abc import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F

from cnnstudio import __version__
from cnnstudio.core import paths
from cnnstudio.core.checkpoint import (describe_write_failure, fit_problem, load_checkpoint, save_checkpoint,
                                      validate_resume_state)
from cnnstudio.core.datasets import load_dataset
from cnnstudio.core.datasets.base import Dataset
from cnnstudio.core.datasets.disk_images import DiskImages
from cnnstudio.core.errors import CheckpointError, CNNStudioError, TrainingError
from cnnstudio.core.metrics import Evaluation, evaluate
from cnnstudio.core.models.backbones import BACKBONE_LR_SCALE, backbones_in, input_size, prepare_backbones
from cnnstudio.core.models.builder import build_model, training_graph
from cnnstudio.core.models.presets import resolve_spec
from cnnstudio.core.run_lock import RunLock, claim_run_folder
from cnnstudio.core.runs import empty_history, load_result, remove_orphaned_temp_files
from cnnstudio.core.text import plural
from cnnstudio.core.training import distributed as dist_utils
from cnnstudio.core.training.augment import BatchPreprocessor
from cnnstudio.core.training.config import TrainConfig, resumed_config
from cnnstudio.core.training.control import RunControl
from cnnstudio.core.training.device import (autocast_dtype, configure_threads, resolve_device,
                                            resolve_precision)
from cnnstudio.core.training.events import (EpochEvent, FinishedEvent, LogEvent, ProbeEvent, RecoveredEvent,
                                            RunResult, StartedEvent, StepEvent)
from cnnstudio.core.training.recovery import MAX_RECOVERIES, RecoveryGuard, chance_loss, floor_loss, stuck_threshold
from cnnstudio.core.training.schedule import lr_factor

if TYPE_CHECKING:
    from cnnstudio.core.training.features import FeatureBatches

EventCallback = Callable[[Any], None]


def new_run_dir(dataset_name: str, model_name: str) -> Path:
    return paths.new_dated_folder(f"{dataset_name}-{model_name}")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and a rename; a full disk is a TrainingError naming the file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise TrainingError(describe_write_failure(path, exc)) from None


# A training loss this many times that of a uniform guess (ln C) means the weights blew up: no run that
# is learning gets there, and carrying on only writes checkpoints of a broken model.
DIVERGED_LOSS_FACTOR = 100.0


class Trainer:
    """Train one run. Construct, then call run() on the thread that should do the work.

    pause(), resume() and stop() may be called from any thread and take effect within one batch.
    """

    def __init__(self, config: TrainConfig, *, dataset: Dataset | None = None,
                 run_dir: str | os.PathLike[str] | None = None,
                 resume_from: str | os.PathLike[str] | None = None,
                 on_event: EventCallback | None = None, control: RunControl | None = None,
                 probe_fractions: Iterable[float] = ()):
        self.config = config
        self.dataset = dataset
        self.run_dir = Path(run_dir) if run_dir else None
        self.resume_from = Path(resume_from) if resume_from else None
        self.control = control or RunControl()
        self._on_event = on_event
        self.dist = dist_utils.current()
        self.history = empty_history()
        self.started = False  # True once StartedEvent went out: a failure before it is a refused setup
        self._lock: RunLock | None = None  # held while this trainer writes into run_dir (core/run_lock.py)
        # Fractions of the run's steps after which the validation set is measured (a ProbeEvent each): a
        # sweep's pruner compares trials there. Evaluation leaves the weights, the optimizer and every
        # random stream untouched, so a probed run trains exactly as one without probes.
        self.probe_fractions = tuple(probe_fractions)
        self._probe_steps: frozenset[int] = frozenset()

    # -- control, from any thread ---------------------------------------------------------------
    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def stop(self) -> None:
        self.control.stop()

    # -- events -----------------------------------------------------------------------------------
    def emit(self, event: Any) -> None:
        if self._on_event is not None and self.dist.is_main:
            self._on_event(event)

    def log(self, message: str) -> None:
        self.emit(LogEvent(message))

    def _weights_progress(self, done: int, total: int) -> None:
        """A backbone's weights downloading: a log line at every tenth (the run has not started yet)."""
        if total <= 0:  # size not known (yet): nothing true to say ("0.0 of 0.0 MB" was printed)
            return
        tenth = int(10 * done / total)
        if tenth != getattr(self, "_weights_tenth", -1):
            self._weights_tenth = tenth
            self.log(f"downloading ImageNet weights: {done / 1e6:.1f} of {total / 1e6:.1f} MB")

    # -- the run ----------------------------------------------------------------------------------
    def run(self) -> RunResult:
        """Train; return how it ended (also written to result.json). Never raises for user errors:
        the result's status is "failed" and its message says why; unexpected errors are re-raised
        after the FinishedEvent so a traceback reaches the log, not the user's face."""
        try:
            result = self._run()
        except CNNStudioError as exc:
            result = self._fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - an internal bug: report it clearly, keep the details in train.log
            detail = traceback.format_exc()
            self._write_log(detail)
            result = self._fail(f"training failed unexpectedly: {type(exc).__name__}: {exc}")
        finally:
            if self._lock is not None:
                self._lock.release()
        return result

    def _claim_folder(self) -> None:
        """Create and lock the run folder before anything is written into it: one training per folder, and
        never a new run over a finished one (core/run_lock.py). Held until run() returns."""
        if self._lock is None and self.dist.is_main:
            assert self.run_dir is not None, "both callers set run_dir before claiming it"
            _make_run_folder(self.run_dir)
            self._lock = claim_run_folder(self.run_dir, self.resume_from)

    def _records_failure(self) -> bool:
        """Whether a failure may be written into result.json: only in a folder this trainer holds, and, when
        continuing a run, only once training began and never over a finished run's result (a failed
        resume leaves the run as it was; the reason still goes to the user and to train.log)."""
        if self._lock is None:
            return False
        if self.resume_from is None:
            return True
        assert self.run_dir is not None, "a held lock is on run_dir"
        try:
            previous = (load_result(self.run_dir) or {}).get("status")
        except CNNStudioError:
            previous = None
        return self.started and previous not in ("finished", "early-stopped")

    def _fail(self, message: str) -> RunResult:
        """The failed result: written to result.json (so the Runs page shows why), logged, emitted.

        `phase` says whether the run was refused before it started ("setup": bad settings, data or
        checkpoint) or failed while training ("training": diverged, out of memory, disk full)."""
        result = RunResult("failed", message, run_dir=str(self.run_dir) if self.run_dir else None,
                           phase="training" if self.started else "setup", epochs=len(self.history["epoch"]),
                           best_val_accuracy=_best(self.history["val_accuracy"]),
                           recoveries=tuple(self.history.get("recoveries", [])), history=self.history)
        self._write_log(message)
        if self.run_dir is not None and self.dist.is_main and self._records_failure():
            try:
                write_json_atomic(self.run_dir / "result.json", result.to_dict())
            except CNNStudioError:
                pass  # the disk that failed the run may refuse this too; the message still reaches the user
        self.emit(FinishedEvent("failed", message, result))
        return result

    def _write_log(self, text: str) -> None:
        """Append to train.log; never raises (it runs inside error handling, where a second error from a
        full disk or a vanished folder would hide the first)."""
        if self.run_dir is None or not self.dist.is_main or self._lock is None:  # not a folder this run holds
            return
        try:
            if self.run_dir.is_dir():
                with open(self.run_dir / "train.log", "a", encoding="utf-8") as f:
                    f.write(f"[{datetime.now().isoformat(timespec='seconds')}] {text}\n")
        except OSError:
            pass

    def _run(self) -> RunResult:
        """Prepare, train epoch by epoch, then finish: the steps torchvision's reference keeps apart."""
        run = self._prepare()
        self._probe_steps = frozenset(max(1, math.ceil(f * run.total_steps)) for f in self.probe_fractions)
        status, message = "finished", ""
        try:
            epoch = run.start_epoch
            while epoch < run.cfg.epochs:
                try:
                    self._train_one_epoch(run, epoch)
                    early = self._end_epoch(run, epoch)
                except _Diverged as problem:
                    epoch = self._recover(run, problem)  # back to the last good state, or TrainingError
                    continue
                if early:
                    status, message = "early-stopped", early
                    break
                epoch += 1
        except _Stopped as stop:
            status, message = "stopped", str(stop)
        except torch.OutOfMemoryError as exc:
            # The traceback's frames hold the batch's activations: clear them, then empty the cache.
            traceback.clear_frames(exc.__traceback__)
            run.release_batch()
            cfg = run.cfg
            raise TrainingError(f"out of {run.device.type.upper()} memory with batch size {cfg.batch_size}. Try a "
                                f"smaller batch (e.g. {max(1, cfg.batch_size // 2)}) or a smaller model. "
                                "The last good checkpoint is kept.") from None
        return self._finish(run, status, message)

    @contextmanager
    def prepared(self) -> Iterator[_RunState]:
        """The run's pieces exactly as training prepares them (data on the device, model, optimizer,
        preprocessing, precision), for a short experiment such as the learning-rate finder; the run
        folder is released afterwards."""
        try:
            yield self._prepare()
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    # -- step 1: configuration, data, model, optimizer, resumed state --------------------------------
    def _prepare(self) -> _RunState:
        cfg = self.config
        ckpt = None
        if self.resume_from is not None:
            ckpt = load_checkpoint(self.resume_from)
            validate_resume_state(ckpt, self.resume_from)
            if not isinstance(ckpt.get("config"), dict) or not ckpt["config"].get("dataset"):
                raise CNNStudioError(f"cannot continue from {self.resume_from}: it holds no training "
                                     "configuration (a model exported for prediction, not a run's last.pt)")
            try:
                saved = TrainConfig.from_dict(ckpt["config"])
            except (TypeError, ValueError) as exc:
                raise CNNStudioError(f"cannot continue from {self.resume_from}: its training configuration "
                                     f"is damaged ({exc})") from None
            cfg = resumed_config(saved, cfg)
            self.history = ckpt.get("history") or empty_history()
            if self.run_dir is None:
                self.run_dir = self.resume_from.parent
            self._claim_folder()
            # Saves killed half-way (a crash, kill -9) leave hidden temporary files; this run owns the folder.
            remove_orphaned_temp_files(self.run_dir)
        cfg.validate()
        self.config = cfg

        ds = self.dataset
        spec = cfg.spec if cfg.spec is not None else resolve_spec(cfg.model)
        if ds is None:
            ds = load_dataset(cfg.dataset, data_dir=Path(cfg.data_dir) if cfg.data_dir else None,
                              image_size=input_size(spec))
            self.dataset = ds
        cfg.spec = spec
        if ckpt is not None:
            problem = fit_problem(ckpt, ds)
            if problem:
                raise CNNStudioError(f"cannot continue from {self.resume_from}: {problem}")
        torch.manual_seed(cfg.seed)  # the same seed gives the same initial weights
        model = build_model(spec, ds.input_shape, ds.num_classes)
        # A pretrained backbone gets the data's normalisation and, unless a checkpoint's weights follow,
        # its ImageNet weights (found in the weights folder or downloaded, with the download's progress).
        for note in prepare_backbones(model, ds.mean, ds.std, load_weights=ckpt is None,
                                      progress=self._weights_progress, cancel=lambda: self.control.stop_requested):
            self.emit(LogEvent(note))

        if self.dist.enabled:
            assert self.dist.device is not None, "init_from_env sets the device of a distributed run"
            device = self.dist.device
        else:
            device = resolve_device(cfg.device)
        precision = resolve_precision(cfg.precision, device)
        threads = configure_threads(device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True

        # -- data: split once, deterministically, then keep it on the device as uint8 ----------
        n_all = ds.train_images.shape[0]
        if cfg.limit_train:
            n_all = min(n_all, cfg.limit_train)
        order = torch.randperm(n_all, generator=torch.Generator().manual_seed(cfg.seed))
        n_val = int(round(cfg.val_split * n_all)) if cfg.val_split > 0 else 0
        if n_val and n_all - n_val < 1:
            raise CNNStudioError("the validation split leaves no training samples")
        val_idx, train_idx = order[:n_val].sort().values, order[n_val:].sort().values
        model = model.to(device).to(memory_format=torch.channels_last)
        optimizer = make_optimizer(cfg, model, device)
        run = _RunState(
            cfg=cfg, ds=ds, spec=spec, device=device, precision=precision, amp_dtype=autocast_dtype(precision),
            threads=threads, model=model, ddp_model=self.dist.wrap(training_graph(model)), optimizer=optimizer,
            scaler=torch.amp.GradScaler(device.type) if precision == "fp16" else None,
            pre=BatchPreprocessor(ds.mean, ds.std, device, channels_last=True), train_idx=train_idx,
            train_x=_rows_on(ds.train_images, train_idx, device), train_y=ds.train_labels[train_idx].to(device),
            val_x=_rows_on(ds.train_images, val_idx, device), val_y=ds.train_labels[val_idx],
            aug_gen=torch.Generator().manual_seed(cfg.seed + 1))
        if cfg.class_weights:
            run.class_weight = class_weights(run.train_y, ds.num_classes)
        self._features_only(run)
        # Batches of one shard: each rank takes its slice of every epoch's permutation.
        run.steps_per_epoch = max(1, math.ceil(self.dist.shard_size(run.n_train) / cfg.batch_size))
        run.total_steps = run.steps_per_epoch * cfg.epochs
        run.log_every = cfg.log_every or max(1, run.steps_per_epoch // 50)
        run.diverged_loss = DIVERGED_LOSS_FACTOR * max(1.0, math.log(ds.num_classes))
        run.lr = cfg.lr
        if ckpt is not None:
            run.restore(ckpt)
        run.guard = self._recovery_guard(run, ckpt)

        if self.run_dir is None:
            self.run_dir = new_run_dir(ds.name, str(spec.get("name") or cfg.model))
        run.run_dir = self.run_dir
        self._claim_folder()
        params = sum(p.numel() for p in model.parameters())
        run.meta = {
            "app_version": __version__, "torch_version": str(torch.__version__),
            "dataset": {"name": ds.name, "title": ds.title, "source": ds.source,
                        "train_samples": run.n_train, "val_samples": int(run.val_x.shape[0]),
                        "test_samples": int(ds.test_images.shape[0]),
                        "skipped_files": ds.report.files_skipped if ds.report else 0},
            "device": str(device), "precision": precision, "threads": threads, "params": params,
            "world_size": self.dist.world_size,
        }
        if self.dist.is_main:
            write_json_atomic(run.run_dir / "config.json", {"config": cfg.to_dict(), **run.meta})
        self.started = True
        self.emit(StartedEvent(str(run.run_dir), str(device), device_name(device), precision, threads, run.n_train,
                               int(run.val_x.shape[0]), int(ds.test_images.shape[0]), cfg.epochs,
                               run.steps_per_epoch, run.start_epoch, params))
        run.clock_start = time.perf_counter()
        # A resumed run's clock goes on from where its history ends, so time axes stay continuous.
        ends = [t[-1] for t in (self.history.get("steps", {}).get("time"), self.history.get("time")) if t]
        run.time_offset = float(max(ends, default=0.0))
        return run

    # -- step 2: one epoch of optimisation ---------------------------------------------------------
    def _train_one_epoch(self, run: _RunState, epoch: int) -> None:
        cfg, device = run.cfg, run.device
        run.model.train()
        epoch_start = time.perf_counter()
        epoch_paused = 0.0
        perm = self.dist.shard(
            torch.randperm(run.n_train, generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)))
        sample_log = os.environ.get("CNNSTUDIO_SAMPLE_LOG")
        if sample_log:
            # Diagnostics (tests of the distributed path): which dataset rows this rank trains on.
            torch.save(run.train_idx[perm], Path(sample_log) / f"rank{self.dist.rank}-epoch{epoch + 1}.pt")
        # Batches index the rows where they are: on the device, or on the CPU for pictures read from disk.
        on_disk = isinstance(run.train_x, DiskImages)
        batches = torch.tensor_split(perm if on_disk else perm.to(device, non_blocking=True), run.steps_per_epoch)
        loss_acc = torch.zeros((), device=device)
        correct_acc = torch.zeros((), device=device, dtype=torch.long)
        seen_acc = 0
        interval_start, interval_paused = time.perf_counter(), 0.0
        first_batch = run.start_batch if epoch == run.start_epoch else 0
        interval_first = first_batch  # the first batch of the current reporting interval
        if first_batch == 0:
            run.partial = {"loss_sum": 0.0, "correct": 0, "seen": 0}
        # Training seconds this epoch spent before a stop and resume: the epoch's images/s counts
        # every image of the epoch, so it must count every second too.
        prior_seconds = float(run.partial.get("seconds", 0.0)) if first_batch else 0.0
        for b in range(first_batch, run.steps_per_epoch):
            waited = self.control.wait_while_paused()
            run.paused_total += waited
            epoch_paused += waited
            interval_paused += waited
            if self._stop_agreed(b, run.log_every):
                # Fold the unread sums into the partial epoch so a resume continues them.
                run.partial = _merge_partial(run.partial, loss_acc, correct_acc, seen_acc)
                run.partial["seconds"] = prior_seconds + time.perf_counter() - epoch_start - epoch_paused
                self._save(run, "last.pt", self._payload(run, epoch, b))
                if self.dist.is_main:
                    # The steps so far, so the Runs page shows the curves the Train page showed.
                    write_json_atomic(run.run_dir / "metrics.json", self.history)
                raise _Stopped(f"stopped {self.control.stop_reason} at step {run.global_step:,} of {run.total_steps:,} "
                               f"(epoch {epoch + 1}, step {b} of {run.steps_per_epoch})")
            # A recovery's factor scales the whole schedule, so one-cycle and cosine keep their shape.
            run.lr = cfg.lr * run.recovery.lr_factor * lr_factor(cfg.schedule, run.global_step, run.total_steps,
                                                                 run.steps_per_epoch, cfg.warmup_epochs,
                                                                 cfg.step_size, cfg.epochs)
            for g in run.optimizer.param_groups:
                g["lr"] = run.lr * g.get("lr_scale", 1.0)
            loss, logits = forward_loss(run, batches[b])
            optimizer_step(run, loss)
            y = run.y
            bs = y.shape[0]
            loss_acc += loss.detach().float() * bs
            correct_acc += (logits.detach().argmax(1) == y).sum()
            seen_acc += bs
            run.global_step += 1
            if (b + 1) % run.log_every == 0 or b + 1 == run.steps_per_epoch:
                # The only host sync of the step loop: once per event, not once per step.
                loss_sum, correct = self.dist.all_reduce_sums(loss_acc, correct_acc)
                seen = self.dist.all_reduce_count(seen_acc)
                self._check_step_loss(run, loss_sum / max(1, seen), epoch, b)
                run.partial = {"loss_sum": run.partial["loss_sum"] + loss_sum,
                               "correct": run.partial["correct"] + correct, "seen": run.partial["seen"] + seen}
                now = time.perf_counter()
                dt = max(1e-9, now - interval_start - interval_paused)
                elapsed = now - run.clock_start - run.paused_total
                # images/s and the ETA come from one smoothed rate, so they always agree: the ETA is
                # the images still to train divided by the images/s shown.
                rate = seen / dt
                run.rate = rate if run.rate is None else 0.7 * run.rate + 0.3 * rate
                images_left = (run.total_steps - run.global_step) * (seen / max(1, b + 1 - interval_first))
                steps = self.history["steps"]
                steps["step"].append(run.global_step)
                steps["loss"].append(loss_sum / max(1, seen))
                steps["accuracy"].append(correct / max(1, seen))
                steps["lr"].append(run.lr)
                if len(steps.get("time", ())) == len(steps["step"]) - 1:  # not in a resumed pre-0.6 run
                    steps.setdefault("time", []).append(round(run.time_offset + elapsed, 3))
                self.emit(StepEvent(epoch + 1, cfg.epochs, b + 1, run.steps_per_epoch, run.global_step,
                                    run.total_steps, loss_sum / max(1, seen), correct / max(1, seen), run.lr,
                                    run.rate, images_left / max(1e-9, run.rate), elapsed))
                if b + 1 < run.steps_per_epoch and run.recovery.snapshot_due(run.global_step, steps["loss"][-1]):
                    run.partial["seconds"] = prior_seconds + time.perf_counter() - epoch_start - epoch_paused
                    run.recovery.take(run, epoch, b + 1, self.history)
                loss_acc.zero_()
                correct_acc.zero_()
                seen_acc = 0
                interval_start, interval_paused = time.perf_counter(), 0.0
                interval_first = b + 1
            if run.global_step in self._probe_steps:
                probe_seconds = self._probe(run)  # not training time: kept out of images/s and the ETA
                run.paused_total += probe_seconds
                epoch_paused += probe_seconds
                interval_paused += probe_seconds
        run.start_batch = 0
        run.epoch_seconds = prior_seconds + time.perf_counter() - epoch_start - epoch_paused

    def _check_step_loss(self, run: _RunState, step_loss: float, epoch: int, batch: int) -> None:
        problem = run.recovery.step_problem(step_loss, run.global_step)
        if problem is not None:
            what, stuck = problem
            raise _Diverged(f"the training loss {what} at epoch {epoch + 1}, step {batch + 1}", run.global_step,
                            stuck)

    def _recovery_guard(self, run: _RunState, ckpt: dict[str, Any] | None) -> RecoveryGuard:
        """The run's recovery (training/recovery.py), with a first snapshot: the state it starts from."""
        cfg, ds = run.cfg, run.ds
        chance = chance_loss(run.train_y, ds.num_classes, cfg.label_smoothing, balanced=cfg.class_weights)
        warmup = int(cfg.warmup_epochs * run.steps_per_epoch)
        if cfg.schedule == "onecycle" and not warmup:
            warmup = int(0.25 * run.total_steps)  # one-cycle's rise (training/schedule.py)
        floor = floor_loss(ds.num_classes, cfg.label_smoothing)
        guard = RecoveryGuard(enabled=cfg.recover, explode_loss=run.diverged_loss,
                              stuck_loss=stuck_threshold(chance, floor), chance=chance, warmup_end=warmup,
                              floor=floor, last_good_step=run.global_step, last_progress_step=run.global_step)
        guard.load(ckpt.get("recovery") if ckpt else None, self.history.setdefault("recoveries", []))
        self.history["recoveries"] = guard.records  # one list: metrics.json and checkpoints carry it
        if cfg.recover:
            guard.take(run, run.start_epoch, run.start_batch, self.history)
        return guard

    def _recover(self, run: _RunState, problem: _Diverged) -> int:
        """Go back to the last good state with a lower learning rate; return the epoch to go on with.
        Without recovery (or after the last one allowed) the run stops with the clear message."""
        guard = run.recovery
        if not guard.can_recover():
            raise TrainingError(self._diverged(problem.what, stuck=problem.stuck))
        record = guard.recover(run, self.history, problem.what, problem.step)
        line = (f"recovered: {problem.what}; went back to step {record['step']:,} (epoch {record['epoch']}) and "
                f"lowered the learning rate to x{record['lr_factor']:.3g} of the schedule's "
                f"(recovery {len(guard.records)} of {MAX_RECOVERIES}; --no-recover turns this off)")
        self._write_log(line)
        self.log(line)
        if self.dist.is_main:
            write_json_atomic(run.run_dir / "metrics.json", self.history)
        self.emit(RecoveredEvent(record["epoch"], record["step"], record["detected_at_step"], record["reason"],
                                 record["lr_factor"], len(guard.records)))
        return run.start_epoch

    # -- step 3: validate, record, checkpoint, early stopping -----------------------------------------
    def _probe(self, run: _RunState) -> float:
        """Measure the validation set now (a ProbeEvent); return the seconds it took."""
        if not run.val_x.shape[0] or self.dist.enabled:
            return 0.0
        start = time.perf_counter()
        ev = self._evaluate(run.head if run.head is not None else run.model, run.val_x, run.val_y, run.pre,
                            run.device, run.amp_dtype, run.ds.classes)  # back in training mode afterwards
        self.emit(ProbeEvent(run.global_step, run.total_steps, ev.accuracy, ev.loss))
        return time.perf_counter() - start

    def _end_epoch(self, run: _RunState, epoch: int) -> str:
        """Returns the early-stopping message when training should stop here, else ""."""
        cfg = run.cfg
        partial = run.partial
        train_loss = partial["loss_sum"] / max(1, partial["seen"])
        train_acc = partial["correct"] / max(1, partial["seen"])
        val_loss = val_acc = None
        if run.val_x.shape[0]:
            ev = self._evaluate(run.head if run.head is not None else run.model, run.val_x, run.val_y, run.pre,
                                run.device, run.amp_dtype, run.ds.classes)
            val_loss, val_acc = ev.loss, ev.accuracy
            if not math.isfinite(val_loss):
                raise _Diverged(f"the validation loss became {'NaN' if math.isnan(val_loss) else 'infinite'} "
                                f"after epoch {epoch + 1}", run.global_step)
        if not _weights_finite(run.model):
            raise _Diverged(f"the weights hold NaN or infinite values after epoch {epoch + 1}", run.global_step)
        metric = _monitor_value(cfg.monitor, val_loss, val_acc, train_loss, train_acc)
        tiebreak = _tiebreak_value(cfg.monitor, val_loss)
        is_best = _improves(metric, tiebreak, run.best_metric, run.best_tiebreak)
        if is_best:
            run.best_metric, run.best_tiebreak, run.best_epoch, run.bad_epochs = metric, tiebreak, epoch + 1, 0
        else:
            run.bad_epochs += 1
        h = self.history
        h["epoch"].append(epoch + 1)
        h["train_loss"].append(train_loss)
        h["train_accuracy"].append(train_acc)
        h["val_loss"].append(val_loss)
        h["val_accuracy"].append(val_acc)
        h["lr"].append(run.lr)
        h["seconds"].append(run.epoch_seconds)
        h["samples_per_second"].append(partial["seen"] / max(1e-9, run.epoch_seconds))
        if len(h.get("time", ())) == len(h["epoch"]) - 1:
            elapsed = run.time_offset + time.perf_counter() - run.clock_start - run.paused_total
            h.setdefault("time", []).append(round(elapsed, 3))
        run.partial = {"loss_sum": 0.0, "correct": 0, "seen": 0}
        payload = self._payload(run, epoch + 1, 0)
        last = self._save(run, "last.pt", payload)
        if is_best:
            self._save(run, "best.pt", payload)
        if self.dist.is_main:
            write_json_atomic(run.run_dir / "metrics.json", self.history)
        self.emit(EpochEvent(epoch + 1, cfg.epochs, train_loss, train_acc, val_loss, val_acc, run.lr,
                             run.epoch_seconds, h["samples_per_second"][-1], is_best, str(last)))
        if run.recovery.enabled and run.recovery.good(h["steps"]["loss"][-1] if h["steps"]["loss"] else train_loss):
            run.recovery.take(run, epoch + 1, 0, h)  # each epoch's end is a state to go back to
        if cfg.early_stopping_patience and run.bad_epochs >= cfg.early_stopping_patience and epoch + 1 < cfg.epochs:
            return (f"stopped early after epoch {epoch + 1}: {cfg.monitor} did not improve for "
                    f"{plural(run.bad_epochs, 'epoch')} (best at epoch {run.best_epoch})")
        return ""

    def _payload(self, run: _RunState, epoch: int, batch_in_epoch: int) -> dict[str, Any]:
        """The checkpoint: self-describing model, and every state a resume needs to continue bit for bit."""
        ds, device = run.ds, run.device
        rng: dict[str, Any] = {"torch": torch.get_rng_state(), "aug": run.aug_gen.get_state()}
        if device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "model_spec": run.spec, "classes": list(ds.classes), "input_shape": list(ds.input_shape),
            "mean": list(ds.mean), "std": list(ds.std), "framing": ds.framing.to_dict(),
            "config": run.cfg.to_dict(), "history": self.history, "meta": run.meta,
            "model_state": {k: v.detach().cpu() for k, v in run.model.state_dict().items()},
            "optimizer_state": run.optimizer.state_dict(),
            "scaler_state": run.scaler.state_dict() if run.scaler is not None else None,
            "epoch": epoch, "batch_in_epoch": batch_in_epoch, "global_step": run.global_step,
            "epoch_partial": dict(run.partial), "best_metric": run.best_metric, "best_epoch": run.best_epoch,
            "best_tiebreak": run.best_tiebreak, "bad_epochs": run.bad_epochs, "rng": rng,
            "recovery": run.guard.state() if run.guard is not None else None,
        }

    def _save(self, run: _RunState, name: str, payload: dict[str, Any]) -> Path:
        path = run.run_dir / name
        if self.dist.is_main:
            save_checkpoint(payload, path)
        return path

    # -- step 4: test the checkpoint people will use, write the result ---------------------------------
    def _finish(self, run: _RunState, status: str, message: str) -> RunResult:
        ds, run_dir = run.ds, run.run_dir
        # best.pt is missing when a last.pt was resumed in a folder without one and no epoch beat the
        # checkpoint's best: then the model as it ends is what there is to test and to point people to.
        has_best = (run_dir / "best.pt").exists()
        result = RunResult(
            status, message, run_dir=str(run_dir),
            checkpoint=str(run_dir / ("best.pt" if has_best else "last.pt"))
            if has_best or (run_dir / "last.pt").exists() else None,
            last_checkpoint=str(run_dir / "last.pt"),
            epochs=len(self.history["epoch"]), global_step=run.global_step, total_steps=run.total_steps,
            device=str(run.device), precision=run.precision,
            threads=run.threads, world_size=self.dist.world_size,
            best_val_accuracy=_best(self.history["val_accuracy"]),
            best_epoch=run.best_epoch,
            train_samples_per_second=_mean_rate(self.history),
            skipped_files=run.meta["dataset"]["skipped_files"],
            recoveries=tuple(self.history.get("recoveries", [])),
            history=self.history,
        )
        if status != "stopped" and ds.test_images.shape[0] and self.dist.is_main:
            # Report the test accuracy of the checkpoint we point people to: best.pt. Only rank 0 has
            # it (on several nodes the run folder need not be shared), and only rank 0 reports.
            if has_best:
                run.model.load_state_dict(load_checkpoint(run_dir / "best.pt")["model_state"])
            ev = self._evaluate(run.model, ds.test_images, ds.test_labels, run.image_pre or run.pre, run.device,
                                run.amp_dtype, ds.classes)
            result = replace(result, test_accuracy=ev.accuracy, test_loss=ev.loss)
        if self.dist.is_main:
            write_json_atomic(run_dir / "result.json", result.to_dict())
        self.emit(FinishedEvent(status, message or f"{status}: {plural(len(self.history['epoch']), 'epoch')}", result))
        return result

    def _diverged(self, what: str, stuck: bool = False) -> str:
        cfg = self.config
        n = len(self.history.get("recoveries") or [])
        lr = cfg.lr * (self.history["recoveries"][-1]["lr_factor"] if n else 1.0)
        after = f" after {plural(n, 'recovery', 'recoveries')} (the last at learning rate {lr:.3g})" if n else ""
        if stuck and n:
            # Lower rates did not help either: the rate is not what holds it back (measured on a folder of
            # photo-like pictures, docs/benchmarks.md "Recipes that follow the model": small networks
            # without BatchNorm sat at chance through 5 epochs at every rate tried, where bn-cnn4 learnt).
            return (f"{what}{after}: training is not learning, and lower learning rates did not help. These "
                    "pictures may need a longer run, a network with normalisation layers (such as bn-cnn4), or "
                    "a look at their labels (Review). The last good checkpoint is kept.")
        return (f"{what}{after}: training {'is not learning' if stuck else 'diverged'}. Try a lower learning rate "
                f"(now {cfg.lr:g}; e.g. {lr / 10:g}). The last good checkpoint is kept.")

    def _stop_agreed(self, batch: int, log_every: int) -> bool:
        """A stop must be seen by every rank at the same batch; alone, check at every batch."""
        if not self.dist.enabled:
            return self.control.stop_requested
        if batch % log_every:
            return False
        return self.dist.any_flag(self.control.stop_requested)

    def _features_only(self, run: _RunState) -> None:
        """A frozen backbone: train the head on each picture's features, computed once (and cached).

        The run then steps and validates the head alone on vectors; the checkpoint still holds the
        whole model, and the test accuracy is measured on the pictures with the whole model."""
        from cnnstudio.core.training.features import EmbeddingCache, FeatureBatches, backbone_key, embed
        from cnnstudio.core.training.features import features_mode_backbone

        backbone = features_mode_backbone(run.model)
        if backbone is None:
            return
        cache = EmbeddingCache(backbone_key(backbone))
        start = time.perf_counter()
        total = int(run.train_x.shape[0] + run.val_x.shape[0])
        run.train_x, hits_train = embed(backbone, run.train_x, run.pre.normalise, run.device, cache)
        run.val_x, hits_val = embed(backbone, run.val_x, run.pre.normalise, run.device, cache)
        hits = hits_train + hits_val
        self.log(f"features only: {total:,} pictures through {type(backbone).__name__} {backbone.arch} in "
                 f"{time.perf_counter() - start:.1f} s ({hits:,} from the cache); the head trains on them"
                 + ("; augmentation is not used in this mode" if run.cfg.augment.enabled else ""))
        assert isinstance(run.model, torch.nn.Sequential), "a features-only model is a Sequential"
        run.head = run.model[1:]  # the same modules: the head's steps are the whole model's
        assert isinstance(run.pre, BatchPreprocessor), "the pictures' preprocessor, set when the run was prepared"
        run.image_pre, run.pre = run.pre, FeatureBatches()
        run.ddp_model = self.dist.wrap(run.head)

    def _evaluate(self, model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor,
                  pre: BatchPreprocessor | FeatureBatches, device: torch.device, amp_dtype: torch.dtype | None,
                  classes: list[str]) -> Evaluation:
        result = evaluate(model, images, labels, classes, pre.normalise, device, amp_dtype,
                          self.config.eval_batch_size)
        assert result is not None, "evaluate returns None only when cancelled, and no `cancelled` is given"
        return result


def forward_loss(run: _RunState, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch (these rows) preprocessed and augmented as training does, through the model under the
    run's precision: (loss, logits). Shared by the training loop and the learning-rate finder."""
    cfg = run.cfg
    run.x = x = run.pre.augment(run.train_x[idx].to(run.device, non_blocking=True), cfg.augment, run.aug_gen)
    run.y = y = run.train_y[idx]
    with torch.autocast(run.device.type, dtype=run.amp_dtype) if run.amp_dtype else nullcontext():
        logits = run.ddp_model(x)
        loss = F.cross_entropy(logits, y, weight=run.class_weight, label_smoothing=cfg.label_smoothing)
    return loss, logits


def optimizer_step(run: _RunState, loss: torch.Tensor) -> None:
    """Backpropagate the loss and update the weights (through the gradient scaler under fp16)."""
    run.optimizer.zero_grad(set_to_none=True)
    if run.scaler is not None:
        run.scaler.scale(loss).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        loss.backward()
        run.optimizer.step()


class _Stopped(Exception):
    """Raised at a batch boundary once the user's stop is agreed; its text is the result's message."""


class _Diverged(Exception):
    """The loss or the weights went wrong (or the loss sits at chance): recover, or stop with the message."""

    def __init__(self, what: str, step: int, stuck: bool = False):
        super().__init__(what)
        self.what, self.step, self.stuck = what, step, stuck


@dataclass(eq=False)
class _RunState:
    """Everything one run carries from step to step: what was prepared, and the counters a checkpoint saves."""

    cfg: TrainConfig
    ds: Dataset
    spec: dict[str, Any]
    device: torch.device
    precision: str
    amp_dtype: Any
    threads: int
    model: torch.nn.Module
    ddp_model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scaler: Any
    pre: BatchPreprocessor | FeatureBatches  # FeatureBatches once features-only training starts
    train_idx: torch.Tensor
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    aug_gen: torch.Generator
    run_dir: Path = Path()
    meta: dict[str, Any] = field(default_factory=dict)
    steps_per_epoch: int = 1
    total_steps: int = 1
    log_every: int = 1
    diverged_loss: float = math.inf
    start_epoch: int = 0
    start_batch: int = 0
    global_step: int = 0
    partial: dict[str, Any] = field(default_factory=lambda: {"loss_sum": 0.0, "correct": 0, "seen": 0})
    best_metric: float | None = None
    best_tiebreak: float | None = None  # decides between epochs whose best_metric ties (see _improves)
    best_epoch: int = 0
    bad_epochs: int = 0
    lr: float = 0.0
    # Features only (training/features.py): the head the steps train, and the pictures' preprocessor
    # (run.pre then passes feature vectors through).
    head: torch.nn.Module | None = None
    image_pre: BatchPreprocessor | None = None
    epoch_seconds: float = 0.0
    clock_start: float = 0.0
    paused_total: float = 0.0
    time_offset: float = 0.0  # training seconds before this session (a resumed run)
    class_weight: Any = None  # per-class loss weights (config.class_weights), on the device
    guard: RecoveryGuard | None = None  # recovery instead of divergence (training/recovery.py)
    rate: float | None = None  # images/s, smoothed over the step events: what the GUI shows and the ETA uses
    x: Any = None  # the batch in flight, dropped on out-of-memory so the cache can be emptied
    y: Any = None

    @property
    def recovery(self) -> RecoveryGuard:
        """The run's recovery guard: Trainer._prepare sets it before the first step."""
        assert self.guard is not None, "the run's recovery guard is set when the run is prepared"
        return self.guard

    @property
    def n_train(self) -> int:
        return int(self.train_x.shape[0])

    def restore(self, ckpt: dict[str, Any]) -> None:
        """Continue where a checkpoint left off: weights, optimizer, counters and every RNG."""
        self.model.load_state_dict(ckpt["model_state"])
        try:  # types and sizes were checked at load (validate_resume_state); here: do they fit this model
            if ckpt.get("optimizer_state"):
                self.optimizer.load_state_dict(ckpt["optimizer_state"])
                _check_optimizer_shapes(self.optimizer)
            if self.scaler is not None and ckpt.get("scaler_state"):
                self.scaler.load_state_dict(ckpt["scaler_state"])
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise CheckpointError(f"cannot continue from this checkpoint: its optimizer state does not fit "
                                  f"its model ({reason})") from None
        self.start_epoch = int(ckpt.get("epoch", 0))
        self.start_batch = int(ckpt.get("batch_in_epoch", 0))
        self.global_step = int(ckpt.get("global_step", 0))
        self.partial = dict(ckpt.get("epoch_partial") or self.partial)
        self.best_metric = ckpt.get("best_metric")
        self.best_tiebreak = ckpt.get("best_tiebreak")  # absent in checkpoints written before it existed
        self.best_epoch = int(ckpt.get("best_epoch", 0))
        self.bad_epochs = int(ckpt.get("bad_epochs", 0))
        self.lr = self.cfg.lr
        rng = ckpt.get("rng") or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "aug" in rng:
            self.aug_gen.set_state(rng["aug"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(list(rng["cuda"]))

    def release_batch(self) -> None:
        self.x = self.y = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def _check_optimizer_shapes(optimizer: torch.optim.Optimizer) -> None:
    """A restored optimizer's per-parameter tensors (momentum, Adam's moments) have their parameter's
    shape; torch does not check it, and a mismatch would fail the first step instead of the resume."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            for name, value in optimizer.state.get(param, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() and value.shape != param.shape:
                    raise ValueError(f"'{name}' has shape {list(value.shape)} for a parameter of shape "
                                     f"{list(param.shape)}")


def _rows_on(images: torch.Tensor, index: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The rows of a dataset's pictures a run trains or validates on: copied to the device once (the fast
    path: batches are then gathered there), or for a folder larger than memory a view of the picture
    cache that reads each batch from disk, so memory stays bounded whatever the folder's size."""
    if isinstance(images, DiskImages):
        # A DiskImages view stands in for the tensor, as it does in Dataset.train_images.
        return cast(torch.Tensor, images.subset(index))
    return images[index].to(device)


def _make_run_folder(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CNNStudioError(f"cannot use {run_dir} as the run folder: a file of that name exists") from None
    except OSError as exc:
        raise CNNStudioError(f"cannot create the run folder {run_dir}: "
                             f"{exc.strerror or exc.__class__.__name__}") from None
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise CNNStudioError(f"cannot write into the run folder {run_dir}: permission denied")


def _merge_partial(partial: dict[str, Any], loss_acc: torch.Tensor, correct_acc: torch.Tensor,
                   seen_acc: int) -> dict[str, Any]:
    return {"loss_sum": partial["loss_sum"] + float(loss_acc), "correct": partial["correct"] + int(correct_acc),
            "seen": partial["seen"] + seen_acc}


def _weights_finite(model: torch.nn.Module) -> bool:
    """One host sync for the whole model: a sum is NaN or infinite when any of its terms is."""
    sums = [p.detach().float().sum() for p in model.parameters()]
    return not sums or bool(torch.isfinite(torch.stack(sums)).all())


def _monitor_value(monitor: str, val_loss: float | None, val_acc: float | None, train_loss: float,
                   train_acc: float) -> float:
    """Higher is better. Without a validation split, fall back to the training numbers."""
    if monitor == "val_loss":
        return -(val_loss if val_loss is not None else train_loss)
    return val_acc if val_acc is not None else train_acc


def _tiebreak_value(monitor: str, val_loss: float | None) -> float | None:
    """Higher is better: the validation loss, negated, decides between epochs of equal accuracy. None
    when the loss is the metric itself, and without a validation split (the training loss would only
    ever prefer the most overfitted epoch)."""
    if monitor == "val_loss" or val_loss is None:
        return None
    return -val_loss


def _improves(metric: float, tiebreak: float | None, best: float | None, best_tiebreak: float | None) -> bool:
    """Whether an epoch beats the best so far: a higher metric, or the same metric with a lower loss.

    Accuracy on a small validation set moves in coarse steps (1/48 for 48 pictures) and soon stops
    moving: on the messy folder (60 test pictures) the first epoch to reach the top accuracy stayed
    "best", early stopping ended the run nine epochs later while the learning rate was still high, and
    that early snapshot was the model kept - 75-95 % test accuracy from seed to seed. With ties decided
    by the loss, the run goes on while the model keeps getting surer of the same answers.
    """
    if best is None or metric > best:
        return True
    return metric == best and tiebreak is not None and best_tiebreak is not None and tiebreak > best_tiebreak


def _best(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return max(vals) if vals else None


def _mean_rate(history: dict[str, Any]) -> float | None:
    rates: list[float] = history["samples_per_second"]
    return sum(rates) / len(rates) if rates else None


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    from cnnstudio.core.training.device import cpu_name

    return cpu_name()


def make_optimizer(cfg: TrainConfig, model: torch.nn.Module, device: torch.device) -> torch.optim.Optimizer:
    # No weight decay on biases and norm scales: they set offsets and scales, not capacity.
    # A pretrained backbone that learns whole ("all") learns at a tenth of the head's rate: large steps
    # would wash out what ImageNet taught it before the new head has settled.
    slow = {id(p) for b in backbones_in(model) if b.train_mode == "all" for p in b.parameters()}
    groups: list[dict[str, Any]] = []
    for scale in (1.0, BACKBONE_LR_SCALE):
        decay: list[torch.nn.Parameter] = []
        no_decay: list[torch.nn.Parameter] = []
        for p in model.parameters():
            if p.requires_grad and (id(p) in slow) == (scale != 1.0):
                (no_decay if p.ndim <= 1 else decay).append(p)
        groups += [{"params": decay, "weight_decay": cfg.weight_decay, "lr_scale": scale},
                   {"params": no_decay, "weight_decay": 0.0, "lr_scale": scale}]
    groups = [dict(g, lr=cfg.lr * g["lr_scale"]) for g in groups if g["params"]]
    cls: Callable[..., torch.optim.Optimizer]
    kwargs: dict[str, Any]
    if cfg.optimizer == "sgd":
        cls, kwargs = torch.optim.SGD, {"momentum": cfg.momentum, "nesterov": cfg.nesterov and cfg.momentum > 0}
    else:
        cls, kwargs = (torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam), {}
    # The fused kernels update every parameter in one pass instead of a chain of foreach ops: measured
    # here, 8 % more samples/s for convnet-5x5 on the CPU. Older torch or other devices: foreach.
    try:
        return cls(groups, lr=cfg.lr, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return cls(groups, lr=cfg.lr, foreach=True, **kwargs)


def train(config: TrainConfig, **kwargs: Any) -> RunResult:
    """Convenience: build a Trainer and run it."""
    return Trainer(config, **kwargs).run()


def class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Loss weights n / (k * count_c): every class weighs as much in the loss as if the classes were
    balanced. A class with no training image gets 0; weights are capped at 20 so a class of three images
    among thousands does not dominate every batch it appears in."""
    counts = torch.bincount(labels.to("cpu", torch.int64), minlength=num_classes).to(torch.float32)
    present = counts > 0
    weights = torch.zeros(num_classes, dtype=torch.float32)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights.clamp_(max=20.0).to(labels.device)
