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
from contextlib import nullcontext
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from cnnstudio import __version__
from cnnstudio.core import paths
from cnnstudio.core.checkpoint import describe_write_failure, load_checkpoint, save_checkpoint
from cnnstudio.core.datasets import load_dataset
from cnnstudio.core.datasets.base import Dataset
from cnnstudio.core.errors import CNNStudioError, TrainingError
from cnnstudio.core.metrics import Evaluation, predict_probabilities
from cnnstudio.core.models.builder import build_model
from cnnstudio.core.models.presets import resolve_spec
from cnnstudio.core.runs import empty_history, remove_orphaned_temp_files
from cnnstudio.core.training import distributed as dist_utils
from cnnstudio.core.training.augment import BatchPreprocessor
from cnnstudio.core.training.config import TrainConfig
from cnnstudio.core.training.control import RunControl
from cnnstudio.core.training.device import (autocast_dtype, configure_threads, resolve_device,
                                            resolve_precision)
from cnnstudio.core.training.events import EpochEvent, FinishedEvent, LogEvent, StartedEvent, StepEvent
from cnnstudio.core.training.schedule import lr_factor

EventCallback = Callable[[Any], None]


def new_run_dir(dataset_name: str, model_name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{dataset_name}-{model_name}")
    base = paths.runs_dir() / f"{stamp}-{safe}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


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
                 run_dir: str | os.PathLike | None = None, resume_from: str | os.PathLike | None = None,
                 on_event: EventCallback | None = None, control: RunControl | None = None):
        self.config = config
        self.dataset = dataset
        self.run_dir = Path(run_dir) if run_dir else None
        self.resume_from = Path(resume_from) if resume_from else None
        self.control = control or RunControl()
        self._on_event = on_event
        self.dist = dist_utils.current()
        self.history = empty_history()
        self.started = False  # True once StartedEvent went out: a failure before it is a refused setup

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

    # -- the run ----------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Train; return the result dict (also written to result.json). Never raises for user errors:
        the result's status is "failed" and its message says why; unexpected errors are re-raised
        after the FinishedEvent so a traceback reaches the log, not the user's face."""
        try:
            result = self._run()
        except CNNStudioError as exc:
            result = self._fail(str(exc))
        except Exception as exc:  # an internal bug: report it clearly, keep the details in train.log
            detail = traceback.format_exc()
            self._write_log(detail)
            result = self._fail(f"training failed unexpectedly: {type(exc).__name__}: {exc}")
        return result

    def _fail(self, message: str) -> dict[str, Any]:
        """The failed result: written to result.json (so the Runs page shows why), logged, emitted.

        `phase` says whether the run was refused before it started ("setup": bad settings, data or
        checkpoint) or failed while training ("training": diverged, out of memory, disk full)."""
        result = {"status": "failed", "message": message, "run_dir": str(self.run_dir) if self.run_dir else None,
                  "phase": "training" if self.started else "setup", "epochs": len(self.history["epoch"]),
                  "best_val_accuracy": _best(self.history["val_accuracy"]), "history": self.history}
        self._write_log(message)
        if self.run_dir is not None and self.dist.is_main and self.run_dir.is_dir():
            try:
                write_json_atomic(self.run_dir / "result.json",
                                  {k: v for k, v in result.items() if k != "history"})
            except CNNStudioError:
                pass  # the disk that failed the run may refuse this too; the message still reaches the user
        self.emit(FinishedEvent("failed", message, result))
        return result

    def _write_log(self, text: str) -> None:
        """Append to train.log; never raises (it runs inside error handling, where a second error from a
        full disk or a vanished folder would hide the first)."""
        if self.run_dir is None or not self.dist.is_main:
            return
        try:
            if self.run_dir.is_dir():
                with open(self.run_dir / "train.log", "a", encoding="utf-8") as f:
                    f.write(f"[{datetime.now().isoformat(timespec='seconds')}] {text}\n")
        except OSError:
            pass

    def _run(self) -> dict[str, Any]:
        cfg = self.config
        ckpt = None
        if self.resume_from is not None:
            ckpt = load_checkpoint(self.resume_from)
            if not isinstance(ckpt.get("config"), dict) or not ckpt["config"].get("dataset"):
                raise CNNStudioError(f"cannot continue from {self.resume_from}: it holds no training "
                                     "configuration (a model exported for prediction, not a run's last.pt)")
            try:
                saved = TrainConfig.from_dict(ckpt["config"])
            except (TypeError, ValueError) as exc:
                raise CNNStudioError(f"cannot continue from {self.resume_from}: its training configuration "
                                     f"is damaged ({exc})") from None
            # Resuming continues the saved run; only the number of epochs may grow.
            cfg = saved.with_changes(epochs=max(saved.epochs, cfg.epochs) if cfg.epochs else saved.epochs,
                                     device=cfg.device, data_dir=cfg.data_dir or saved.data_dir)
            self.history = ckpt.get("history") or empty_history()
            if self.run_dir is None:
                self.run_dir = self.resume_from.parent
            # Saves killed half-way (a crash, kill -9) leave hidden temporary files; this run owns the folder.
            remove_orphaned_temp_files(self.run_dir)
        cfg.validate()
        self.config = cfg

        ds = self.dataset
        if ds is None:
            ds = load_dataset(cfg.dataset, data_dir=Path(cfg.data_dir) if cfg.data_dir else None)
            self.dataset = ds
        spec = cfg.spec if cfg.spec is not None else resolve_spec(cfg.model)
        cfg.spec = spec
        if ckpt is not None:
            if list(ckpt["classes"]) != list(ds.classes) or tuple(ckpt["input_shape"]) != ds.input_shape:
                raise CNNStudioError(
                    f"the checkpoint was trained on {len(ckpt['classes'])} classes of shape "
                    f"{tuple(ckpt['input_shape'])}, but dataset '{ds.name}' has {ds.num_classes} classes of "
                    f"shape {ds.input_shape}")
        torch.manual_seed(cfg.seed)  # the same seed gives the same initial weights
        model = build_model(spec, ds.input_shape, ds.num_classes)

        device = self.dist.device if self.dist.enabled else resolve_device(cfg.device)
        precision = resolve_precision(cfg.precision, device)
        amp_dtype = autocast_dtype(precision)
        threads = configure_threads(device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True

        # -- data: split once, deterministically, then keep it on the device as uint8 ----------
        n_all = ds.train_images.shape[0]
        if cfg.limit_train:
            n_all = min(n_all, cfg.limit_train)
        split_gen = torch.Generator().manual_seed(cfg.seed)
        order = torch.randperm(n_all, generator=split_gen)
        n_val = int(round(cfg.val_split * n_all)) if cfg.val_split > 0 else 0
        if n_val and n_all - n_val < 1:
            raise CNNStudioError("the validation split leaves no training samples")
        val_idx, train_idx = order[:n_val].sort().values, order[n_val:].sort().values
        train_x = ds.train_images[train_idx].to(device)
        train_y = ds.train_labels[train_idx].to(device)
        val_x = ds.train_images[val_idx].to(device)
        val_y = ds.train_labels[val_idx]
        n_train = train_x.shape[0]

        pre = BatchPreprocessor(ds.mean, ds.std, device, channels_last=True)
        model = model.to(device).to(memory_format=torch.channels_last)
        ddp_model = self.dist.wrap(model)
        optimizer = make_optimizer(cfg, model, device)
        scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None

        # Batches of one shard: each rank takes its slice of every epoch's permutation.
        shard = self.dist.shard_size(n_train)
        steps_per_epoch = max(1, math.ceil(shard / cfg.batch_size))
        total_steps = steps_per_epoch * cfg.epochs
        log_every = cfg.log_every or max(1, steps_per_epoch // 50)

        start_epoch, start_batch, global_step = 0, 0, 0
        partial = {"loss_sum": 0.0, "correct": 0, "seen": 0}
        best_metric, best_epoch, bad_epochs = None, 0, 0
        aug_gen = torch.Generator().manual_seed(cfg.seed + 1)
        if ckpt is not None:
            model.load_state_dict(ckpt["model_state"])
            if ckpt.get("optimizer_state"):
                optimizer.load_state_dict(ckpt["optimizer_state"])
            if scaler is not None and ckpt.get("scaler_state"):
                scaler.load_state_dict(ckpt["scaler_state"])
            start_epoch = int(ckpt.get("epoch", 0))
            start_batch = int(ckpt.get("batch_in_epoch", 0))
            global_step = int(ckpt.get("global_step", 0))
            partial = dict(ckpt.get("epoch_partial") or partial)
            best_metric = ckpt.get("best_metric")
            best_epoch = int(ckpt.get("best_epoch", 0))
            bad_epochs = int(ckpt.get("bad_epochs", 0))
            rng = ckpt.get("rng") or {}
            if "torch" in rng:
                torch.set_rng_state(rng["torch"])
            if "aug" in rng:
                aug_gen.set_state(rng["aug"])
            if "cuda" in rng and device.type == "cuda":
                torch.cuda.set_rng_state_all(list(rng["cuda"]))

        if self.run_dir is None:
            self.run_dir = new_run_dir(ds.name, str(spec.get("name") or cfg.model))
        run_dir = self.run_dir
        if self.dist.is_main:
            try:
                run_dir.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                raise CNNStudioError(f"cannot use {run_dir} as the run folder: a file of that name exists") from None
            except OSError as exc:
                raise CNNStudioError(f"cannot create the run folder {run_dir}: "
                                     f"{exc.strerror or exc.__class__.__name__}") from None
            if not os.access(run_dir, os.W_OK | os.X_OK):
                raise CNNStudioError(f"cannot write into the run folder {run_dir}: permission denied")
        params = sum(p.numel() for p in model.parameters())
        meta = {
            "app_version": __version__, "torch_version": str(torch.__version__),
            "dataset": {"name": ds.name, "title": ds.title, "source": ds.source,
                        "train_samples": n_train, "val_samples": int(val_x.shape[0]),
                        "test_samples": int(ds.test_images.shape[0]),
                        "skipped_files": ds.report.files_skipped if ds.report else 0},
            "device": str(device), "precision": precision, "threads": threads, "params": params,
            "world_size": self.dist.world_size,
        }
        if self.dist.is_main:
            write_json_atomic(run_dir / "config.json", {"config": cfg.to_dict(), **meta})
        self.started = True
        self.emit(StartedEvent(str(run_dir), str(device), device_name(device), precision, threads, n_train,
                               int(val_x.shape[0]), int(ds.test_images.shape[0]), cfg.epochs, steps_per_epoch,
                               start_epoch, params))

        def checkpoint_payload(epoch: int, batch_in_epoch: int, epoch_partial: dict) -> dict[str, Any]:
            rng = {"torch": torch.get_rng_state(), "aug": aug_gen.get_state()}
            if device.type == "cuda":
                rng["cuda"] = torch.cuda.get_rng_state_all()
            return {
                "model_spec": spec, "classes": list(ds.classes), "input_shape": list(ds.input_shape),
                "mean": list(ds.mean), "std": list(ds.std), "framing": ds.framing.to_dict(),
                "config": cfg.to_dict(), "history": self.history, "meta": meta,
                "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimizer_state": optimizer.state_dict(),
                "scaler_state": scaler.state_dict() if scaler is not None else None,
                "epoch": epoch, "batch_in_epoch": batch_in_epoch, "global_step": global_step,
                "epoch_partial": dict(epoch_partial), "best_metric": best_metric, "best_epoch": best_epoch,
                "bad_epochs": bad_epochs, "rng": rng,
            }

        def save(name: str, payload: dict[str, Any]) -> Path:
            path = run_dir / name
            if self.dist.is_main:
                save_checkpoint(payload, path)
            return path

        autocast = (lambda: torch.autocast(device.type, dtype=amp_dtype)) if amp_dtype else nullcontext
        criterion_ls = cfg.label_smoothing
        status, message = "finished", ""
        sample_log = os.environ.get("CNNSTUDIO_SAMPLE_LOG")
        diverged_loss = DIVERGED_LOSS_FACTOR * max(1.0, math.log(ds.num_classes))
        run_start = time.perf_counter()
        paused_total = 0.0
        steps_done_here = 0
        lr = cfg.lr
        try:
            for epoch in range(start_epoch, cfg.epochs):
                model.train()
                epoch_start = time.perf_counter()
                epoch_paused = 0.0
                perm = self.dist.shard(
                    torch.randperm(n_train, generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)))
                if sample_log:
                    # Diagnostics (tests of the distributed path): which dataset rows this rank trains on.
                    torch.save(train_idx[perm], Path(sample_log) / f"rank{self.dist.rank}-epoch{epoch + 1}.pt")
                perm = perm.to(device, non_blocking=True)
                batches = torch.tensor_split(perm, steps_per_epoch)
                loss_acc = torch.zeros((), device=device)
                correct_acc = torch.zeros((), device=device, dtype=torch.long)
                seen_acc = 0
                interval_start = time.perf_counter()
                interval_paused = 0.0
                first_batch = start_batch if epoch == start_epoch else 0
                if first_batch == 0:
                    partial = {"loss_sum": 0.0, "correct": 0, "seen": 0}
                # Training seconds this epoch spent before a stop and resume: the epoch's images/s counts
                # every image of the epoch, so it must count every second too.
                prior_seconds = float(partial.get("seconds", 0.0)) if first_batch else 0.0
                for b in range(first_batch, steps_per_epoch):
                    waited = self.control.wait_while_paused()
                    paused_total += waited
                    epoch_paused += waited
                    interval_paused += waited
                    if self._stop_agreed(b, log_every):
                        # Fold the unread sums into the partial epoch so a resume continues them.
                        partial = _merge_partial(partial, loss_acc, correct_acc, seen_acc)
                        partial["seconds"] = prior_seconds + time.perf_counter() - epoch_start - epoch_paused
                        save("last.pt", checkpoint_payload(epoch, b, partial))
                        status, message = "stopped", f"stopped by the user at epoch {epoch + 1}, step {b}"
                        raise _Stopped
                    idx = batches[b]
                    lr = cfg.lr * lr_factor(cfg.schedule, global_step, total_steps, steps_per_epoch,
                                            cfg.warmup_epochs, cfg.step_size, cfg.epochs)
                    for g in optimizer.param_groups:
                        g["lr"] = lr
                    x = pre.augment(train_x[idx], cfg.augment, aug_gen)
                    y = train_y[idx]
                    with autocast():
                        logits = ddp_model(x)
                        loss = F.cross_entropy(logits, y, label_smoothing=criterion_ls)
                    optimizer.zero_grad(set_to_none=True)
                    if scaler is not None:
                        scaler.scale(loss).backward()
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        loss.backward()
                        optimizer.step()
                    bs = y.shape[0]
                    loss_acc += loss.detach().float() * bs
                    correct_acc += (logits.detach().argmax(1) == y).sum()
                    seen_acc += bs
                    global_step += 1
                    steps_done_here += 1
                    if (b + 1) % log_every == 0 or b + 1 == steps_per_epoch:
                        # The only host sync of the step loop: once per event, not once per step.
                        loss_sum, correct = self.dist.all_reduce_sums(loss_acc, correct_acc)
                        seen = self.dist.all_reduce_count(seen_acc)
                        step_loss = loss_sum / max(1, seen)
                        if not math.isfinite(step_loss) or step_loss > diverged_loss:
                            what = ("became NaN" if math.isnan(step_loss) else "became infinite"
                                    if math.isinf(step_loss) else f"grew to {step_loss:.3g} (a random guess "
                                    f"scores about {math.log(ds.num_classes):.2g})")
                            raise TrainingError(self._diverged(f"the training loss {what} at epoch {epoch + 1}, "
                                                               f"step {b + 1}"))
                        partial = {"loss_sum": partial["loss_sum"] + loss_sum,
                                   "correct": partial["correct"] + correct, "seen": partial["seen"] + seen}
                        now = time.perf_counter()
                        dt = max(1e-9, now - interval_start - interval_paused)
                        elapsed = now - run_start - paused_total
                        rate_steps = steps_done_here / max(1e-9, elapsed)
                        self.history["steps"]["step"].append(global_step)
                        self.history["steps"]["loss"].append(loss_sum / max(1, seen))
                        self.history["steps"]["accuracy"].append(correct / max(1, seen))
                        self.history["steps"]["lr"].append(lr)
                        self.emit(StepEvent(epoch + 1, cfg.epochs, b + 1, steps_per_epoch, global_step, total_steps,
                                            loss_sum / max(1, seen), correct / max(1, seen), lr, seen / dt,
                                            (total_steps - global_step) / max(1e-9, rate_steps), elapsed))
                        loss_acc.zero_()
                        correct_acc.zero_()
                        seen_acc = 0
                        interval_start, interval_paused = time.perf_counter(), 0.0
                start_batch = 0

                # -- end of epoch: validate, checkpoint, early stopping -----------------------
                train_seconds = prior_seconds + time.perf_counter() - epoch_start - epoch_paused
                train_loss = partial["loss_sum"] / max(1, partial["seen"])
                train_acc = partial["correct"] / max(1, partial["seen"])
                val_loss = val_acc = None
                if val_x.shape[0]:
                    ev = self._evaluate(model, val_x, val_y, pre, device, amp_dtype, ds.classes)
                    val_loss, val_acc = ev.loss, ev.accuracy
                    if not math.isfinite(val_loss):
                        raise TrainingError(self._diverged(f"the validation loss became "
                                                           f"{'NaN' if math.isnan(val_loss) else 'infinite'} "
                                                           f"after epoch {epoch + 1}"))
                if not _weights_finite(model):
                    raise TrainingError(self._diverged(f"the weights hold NaN or infinite values after epoch "
                                                       f"{epoch + 1}"))
                metric = _monitor_value(cfg.monitor, val_loss, val_acc, train_loss, train_acc)
                is_best = best_metric is None or metric > best_metric
                if is_best:
                    best_metric, best_epoch, bad_epochs = metric, epoch + 1, 0
                else:
                    bad_epochs += 1
                h = self.history
                h["epoch"].append(epoch + 1)
                h["train_loss"].append(train_loss)
                h["train_accuracy"].append(train_acc)
                h["val_loss"].append(val_loss)
                h["val_accuracy"].append(val_acc)
                h["lr"].append(lr)
                h["seconds"].append(train_seconds)
                h["samples_per_second"].append(partial["seen"] / max(1e-9, train_seconds))
                partial = {"loss_sum": 0.0, "correct": 0, "seen": 0}
                payload = checkpoint_payload(epoch + 1, 0, partial)
                last = save("last.pt", payload)
                if is_best:
                    save("best.pt", payload)
                if self.dist.is_main:
                    write_json_atomic(run_dir / "metrics.json", self.history)
                self.emit(EpochEvent(epoch + 1, cfg.epochs, train_loss, train_acc, val_loss, val_acc, lr,
                                     train_seconds, h["samples_per_second"][-1], is_best, str(last)))
                if cfg.early_stopping_patience and bad_epochs >= cfg.early_stopping_patience and epoch + 1 < cfg.epochs:
                    status = "early-stopped"
                    message = (f"stopped early after epoch {epoch + 1}: {cfg.monitor} did not improve for "
                               f"{bad_epochs} epochs (best at epoch {best_epoch})")
                    break
        except _Stopped:
            pass
        except torch.OutOfMemoryError:
            # Drop the batch's tensors so the cache can be emptied. (Assigned, not deleted: `x` does not
            # exist yet when the memory ran out while copying the data to the device.)
            x = y = logits = loss = None  # noqa: F841
            if device.type == "cuda":
                torch.cuda.empty_cache()
            raise TrainingError(f"out of {device.type.upper()} memory with batch size {cfg.batch_size}. Try a "
                                f"smaller batch (e.g. {max(1, cfg.batch_size // 2)}) or a smaller model. "
                                "The last good checkpoint is kept.") from None

        # best.pt is missing when a last.pt was resumed in a folder without one and no epoch beat the
        # checkpoint's best: then the model as it ends is what there is to test and to point people to.
        has_best = (run_dir / "best.pt").exists()
        result: dict[str, Any] = {
            "status": status, "message": message, "run_dir": str(run_dir),
            "checkpoint": str(run_dir / ("best.pt" if has_best else "last.pt"))
            if has_best or (run_dir / "last.pt").exists() else None,
            "last_checkpoint": str(run_dir / "last.pt"),
            "epochs": len(self.history["epoch"]), "device": str(device), "precision": precision,
            "threads": threads, "world_size": self.dist.world_size,
            "best_val_accuracy": _best(self.history["val_accuracy"]),
            "best_epoch": best_epoch,
            "train_samples_per_second": _mean_rate(self.history),
            "skipped_files": meta["dataset"]["skipped_files"],
            "history": self.history,
        }
        if status != "stopped" and ds.test_images.shape[0] and self.dist.is_main:
            # Report the test accuracy of the checkpoint we point people to: best.pt. Only rank 0 has
            # it (on several nodes the run folder need not be shared), and only rank 0 reports.
            if has_best:
                model.load_state_dict(load_checkpoint(run_dir / "best.pt")["model_state"])
            ev = self._evaluate(model, ds.test_images, ds.test_labels, pre, device, amp_dtype, ds.classes)
            result["test_accuracy"] = ev.accuracy
            result["test_loss"] = ev.loss
        if self.dist.is_main:
            write_json_atomic(run_dir / "result.json", {k: v for k, v in result.items() if k != "history"})
        self.emit(FinishedEvent(status, message or f"{status}: {len(self.history['epoch'])} epochs", result))
        return result

    def _diverged(self, what: str) -> str:
        cfg = self.config
        return (f"{what}: training diverged. Try a lower learning rate (now {cfg.lr:g}; e.g. {cfg.lr / 10:g}). "
                "The last good checkpoint is kept.")

    def _stop_agreed(self, batch: int, log_every: int) -> bool:
        """A stop must be seen by every rank at the same batch; alone, check at every batch."""
        if not self.dist.enabled:
            return self.control.stop_requested
        if batch % log_every:
            return False
        return self.dist.any_flag(self.control.stop_requested)

    def _evaluate(self, model, images, labels, pre, device, amp_dtype, classes) -> Evaluation:
        probs = predict_probabilities(model, images, pre.normalise, device, amp_dtype, self.config.eval_batch_size)
        return Evaluation(list(classes), labels.cpu().numpy(), probs.numpy())


class _Stopped(Exception):
    pass


def _merge_partial(partial: dict, loss_acc, correct_acc, seen_acc: int) -> dict:
    return {"loss_sum": partial["loss_sum"] + float(loss_acc), "correct": partial["correct"] + int(correct_acc),
            "seen": partial["seen"] + seen_acc}


def _weights_finite(model: torch.nn.Module) -> bool:
    """One host sync for the whole model: a sum is NaN or infinite when any of its terms is."""
    sums = [p.detach().float().sum() for p in model.parameters()]
    return not sums or bool(torch.isfinite(torch.stack(sums)).all())


def _monitor_value(monitor: str, val_loss, val_acc, train_loss, train_acc) -> float:
    """Higher is better. Without a validation split, fall back to the training numbers."""
    if monitor == "val_loss":
        return -(val_loss if val_loss is not None else train_loss)
    return val_acc if val_acc is not None else train_acc


def _best(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return max(vals) if vals else None


def _mean_rate(history: dict) -> float | None:
    rates = history["samples_per_second"]
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
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
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


def train(config: TrainConfig, **kwargs) -> dict[str, Any]:
    """Convenience: build a Trainer and run it."""
    return Trainer(config, **kwargs).run()
