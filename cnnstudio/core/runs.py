"""Reading, renaming and deleting run folders: what the Runs page and any script need, Qt-free.

A run folder (written by cnnstudio.core.training.trainer) holds config.json, metrics.json, result.json,
last.pt, best.pt and train.log. Any of them may be missing (a run still training, a run killed before
its first epoch) or damaged (a disk full, a hand edit): reading never raises for that. A folder that
cannot be read comes back as a RunSummary with status "damaged" and a `problem` saying why, so a
list of runs always shows every folder.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cnnstudio.core import paths
from cnnstudio.core.bounded import TooDeep, loads_json, short_repr
from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.run_liveness import LockHolder, lock_holder

# Status values: the trainer's four, what a folder without result.json looks like ("incomplete": nothing
# writes into it any more), one a live process trains into ("training", run_liveness.py) and "damaged".
STATUSES = ("finished", "early-stopped", "stopped", "failed", "incomplete", "training", "damaged")
MAX_NAME_LENGTH = 120
_FORBIDDEN_CHARS = set('/\\:*?"<>|')


class RunError(CNNStudioError):
    """A run folder cannot be renamed, deleted or read as asked."""


@dataclass
class RunSummary:
    """One row of the runs list."""

    name: str  # the folder's name
    path: str
    status: str  # one of STATUSES
    dataset: str | None = None
    model: str | None = None
    created: float = 0.0  # seconds since the epoch: when the run started
    epochs_done: int = 0
    epochs_planned: int | None = None
    best_val_accuracy: float | None = None
    test_accuracy: float | None = None
    params: int | None = None
    device: str | None = None
    precision: str | None = None
    message: str = ""  # the result's message ("stopped by the user at ...")
    holder: LockHolder | None = None  # the process training into the folder now (status "training")
    problem: str | None = None  # why the folder counts as damaged
    has_best: bool = False
    has_last: bool = False
    config: dict[str, Any] = field(default_factory=dict, repr=False)  # config.json's "config"
    # A sweep's trial (core/sweep): the sweep folder's name, the settings the trial tried and how it ended
    # for the sweep ("pruned" where the run itself says "stopped").
    sweep: str | None = None
    trial_settings: dict[str, Any] | None = None
    trial_status: str | None = None
    # The pictures it trained on (config.json's dataset.train_samples, after the validation split): runs of
    # one folder as labels were added or fixed (Review) line up by it in "By settings".
    train_samples: int | None = None

    @property
    def damaged(self) -> bool:
        return self.status == "damaged"

    @property
    def date_text(self) -> str:
        if not self.created:
            return ""
        return datetime.fromtimestamp(self.created).strftime("%Y-%m-%d %H:%M")

    @property
    def best_checkpoint(self) -> str | None:
        return str(Path(self.path) / "best.pt") if self.has_best else None

    @property
    def last_checkpoint(self) -> str | None:
        return str(Path(self.path) / "last.pt") if self.has_last else None


_STAMP = re.compile(r"^\d{8}-(\d{2})(\d{2})(\d{2})-.*?(-\d+)?$")


def run_label(run: RunSummary, limit: int = 32) -> str:
    """A legend-sized name from the run's own files, not from parsing its folder name (dataset names
    have hyphens too: "fashion-mnist"): the start time and the model, "09:52:19 convnet-5x5". A folder
    the user renamed keeps the name they chose."""
    m = _STAMP.match(run.name)
    if m and run.model:
        label = f"{m.group(1)}:{m.group(2)}:{m.group(3)} {run.model}{m.group(4) or ''}"
    else:
        label = run.name
    return label if len(label) <= limit else label[:limit - 1] + "…"


# A run's metrics history as metrics.json and the checkpoint hold it: flat lists per epoch ("epoch",
# "train_loss", "val_accuracy"...) and per logged step (under "steps"); empty_history() lists the keys,
# normalise_history() checks one read from a file.
History = dict[str, Any]


def empty_history() -> History:
    """A run's metrics history before its first step: the trainer fills it, metrics.json stores it."""
    return {
        "epoch": [], "train_loss": [], "train_accuracy": [], "val_loss": [], "val_accuracy": [],
        "lr": [], "seconds": [], "samples_per_second": [], "time": [],
        "steps": {"step": [], "loss": [], "accuracy": [], "lr": [], "time": []},
    }


# A run's own files are small (metrics.json of a long run is a few MB); a larger one is not ours.
MAX_JSON_BYTES = 64 * 2**20
# Counts shown in the list: anything outside this is a damaged or hand-edited file, not a real run.
MAX_COUNT = 10**9
# Values in one list of a history: a step logged every batch of a 1,000-epoch run is far below this.
MAX_HISTORY_VALUES = 10_000_000


def _read_json(path: Path) -> tuple[Any, str | None]:
    """(value, None), or (None, problem). A missing file is (None, None). Never raises."""
    try:
        if not path.is_file():
            return None, None
        if path.stat().st_size > MAX_JSON_BYTES:
            return None, f"{path.name} is too large to be a run's file ({path.stat().st_size:,} bytes)"
        text = path.read_text(encoding="utf-8")
    except PermissionError:
        return None, f"{path.name} cannot be read (permission denied)"
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path.name} cannot be read ({exc.__class__.__name__})"
    try:
        return loads_json(text), None
    except json.JSONDecodeError as exc:
        return None, f"{path.name} is not valid JSON ({exc.msg} at line {exc.lineno})"
    except TooDeep:
        return None, f"{path.name} is nested too deeply to be a run's file"
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        return None, f"{path.name} holds a value that cannot be read ({str(exc)[:80]})"


def _number(value: Any) -> float | None:
    """A finite number as float, or None (bools, text, NaN, infinities and huge integers are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _numeric(value: Any) -> bool:
    """Any int or float (NaN included: an old diverged run's curve), not a bool or text."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(value: Any) -> int | None:
    """A whole number in 0..MAX_COUNT, or None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
        return value
    return None


def _fraction(value: Any) -> float | None:
    """An accuracy: a finite number in 0..1, or None."""
    number = _number(value)
    return number if number is not None and 0.0 <= number <= 1.0 else None


def _text(value: Any, limit: int = 2000) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def is_run_folder(path: Path) -> bool:
    """A folder the trainer made: it holds at least one of the files a run writes.

    A folder that cannot be looked into counts too (it shows as damaged, with the reason) rather than
    vanishing from the list or taking the list down.
    """
    try:
        return path.is_dir() and any((path / f).exists() for f in RUN_FILES)
    except OSError:
        return True


RUN_FILES = ("config.json", "metrics.json", "result.json", "last.pt", "best.pt", "train.log")


def read_run(path: str | os.PathLike[str]) -> RunSummary:
    """Summarise one run folder; never raises for damaged contents."""
    path = Path(path)
    try:
        return _read_run(path)
    except Exception as exc:  # noqa: BLE001 - one odd folder must never empty the whole list
        return RunSummary(name=path.name, path=str(path), status="damaged",
                          problem=f"the folder cannot be read ({exc.__class__.__name__}: {str(exc)[:120]})")


def _read_run(path: Path) -> RunSummary:
    summary = RunSummary(name=path.name, path=str(path), status="incomplete")
    try:
        summary.has_best = (path / "best.pt").is_file()
        summary.has_last = (path / "last.pt").is_file()
        stamp = path / "config.json"
        summary.created = (stamp if stamp.exists() else path).stat().st_mtime
    except PermissionError:
        summary.status, summary.problem = "damaged", "the folder cannot be read (permission denied)"
        return summary
    except OSError as exc:
        summary.status, summary.problem = "damaged", f"the folder cannot be read ({exc.__class__.__name__})"
        return summary

    problems: list[str] = []
    config_doc, problem = _read_json(path / "config.json")
    if problem:
        problems.append(problem)
    elif config_doc is None:
        problems.append("config.json is missing")
    elif not isinstance(config_doc, dict) or not isinstance(config_doc.get("config"), dict):
        problems.append("config.json does not hold a training configuration")
    else:
        cfg = config_doc["config"]
        summary.config = cfg
        ds = config_doc.get("dataset")
        summary.dataset = _text((ds.get("name") if isinstance(ds, dict) else None) or cfg.get("dataset"), 200)
        spec = cfg.get("spec")
        summary.model = _text((spec.get("name") if isinstance(spec, dict) else None) or cfg.get("model"), 200)
        summary.epochs_planned = _count(cfg.get("epochs")) or None
        summary.params = _count(config_doc.get("params"))
        summary.train_samples = _count(ds.get("train_samples")) if isinstance(ds, dict) else None
        summary.device = _text(config_doc.get("device"), 100)
        summary.precision = _text(config_doc.get("precision"), 100)

    history, problem = _read_json(path / "metrics.json")
    if problem:
        problems.append(problem)
    elif history is not None:
        try:
            history = normalise_history(history)
        except RunError as exc:
            problems.append(str(exc))
        else:
            summary.epochs_done = len(history["epoch"])
            vals = [v for v in history["val_accuracy"] if _fraction(v) is not None]
            summary.best_val_accuracy = max(vals) if vals else None

    result, problem = _read_json(path / "result.json")
    if problem:
        problems.append(problem)
    elif isinstance(result, dict):
        status = result.get("status")
        if status in ("finished", "early-stopped", "stopped", "failed"):
            summary.status = status
        summary.message = _text(result.get("message")) or ""
        summary.test_accuracy = _fraction(result.get("test_accuracy"))
        best = _fraction(result.get("best_val_accuracy"))
        if best is not None:
            summary.best_val_accuracy = best
        epochs = _count(result.get("epochs"))
        if epochs is not None:
            summary.epochs_done = max(summary.epochs_done, epochs)
        elif "epochs" in result:
            problems.append(f"result.json's 'epochs' is not a plausible count ({_short(result['epochs'])})")
    elif result is not None:
        problems.append("result.json does not hold a result")

    tag, problem = _read_json(path / "trial.json")
    if isinstance(tag, dict) and isinstance(tag.get("settings"), dict):
        summary.sweep = _text(tag.get("sweep"), 200) or path.parent.name
        summary.trial_settings = {str(k)[:60]: v for k, v in tag["settings"].items()
                                  if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
        summary.trial_status = _text(tag.get("status"), 40)

    if problems:
        summary.status, summary.problem = "damaged", "; ".join(problems)
    holder = lock_holder(path)
    if holder is not None and _result_predates(path, holder):
        # A live process writes here: files it has not written yet are not damage, and a result.json
        # older than its lock is the one a continued run had before (it is replaced at the end).
        summary.status, summary.problem, summary.holder = "training", None, holder
        summary.message, summary.test_accuracy = "", None  # the earlier result's, not this training's
    return summary


def _result_predates(path: Path, holder: LockHolder) -> bool:
    """Whether the folder's result.json (if any) was written before the holder took the lock: else the run
    has just ended and its process is about to let go of the folder."""
    try:
        return (path / "result.json").stat().st_mtime < holder.taken_at
    except OSError:
        return True  # no result.json yet


def _short(value: Any) -> str:
    return short_repr(value, 60)


# What save_checkpoint and write_json_atomic write before their rename: ".last.pt.k3j2.tmp", ".metrics.json.tmp".
_TEMP_GLOB = ".*.tmp"


def remove_orphaned_temp_files(path: str | os.PathLike[str], min_age_s: float = 0.0) -> int:
    """Delete the hidden temporary files that saves killed half-way left in a run folder (a checkpoint's
    can be tens of MB). Only files older than min_age_s: a live run may be writing a fresh one. Returns
    how many were removed; never raises."""
    import time

    removed = 0
    now = time.time()
    try:
        candidates = list(Path(path).glob(_TEMP_GLOB))
    except OSError:
        return 0
    for tmp in candidates:
        try:
            if tmp.is_file() and now - tmp.stat().st_mtime >= min_age_s:
                tmp.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def list_runs(root: str | os.PathLike[str] | None = None) -> list[RunSummary]:
    """Every run folder under `root` (default: the user's runs folder), newest first.

    Each folder is read on its own: an unreadable or damaged one is listed as damaged, with the reason,
    and never hides the others.
    """
    root = Path(root) if root is not None else paths.runs_dir()
    try:
        if not root.is_dir():
            return []
        entries = list(root.iterdir())
    except OSError:
        return []
    runs: list[RunSummary] = []
    for entry in entries:
        try:
            if entry.name.startswith(".") or not entry.is_dir():
                continue
        except OSError:
            continue
        try:
            sweep = (entry / "sweep.json").is_file()
        except OSError:  # a folder that cannot be looked into: listed below as damaged, with the reason
            sweep = False
        if sweep:  # a sweep folder (core/sweep): its trials are runs
            try:
                trials = [t for t in entry.iterdir() if not t.name.startswith(".") and is_run_folder(t)]
            except OSError:
                trials = []
            runs.extend(read_run(trial) for trial in trials)
            continue
        if not is_run_folder(entry):
            continue
        runs.append(read_run(entry))
    runs.sort(key=lambda r: (r.created, r.name), reverse=True)
    return runs


def normalise_history(data: Any, source: str = "metrics.json") -> History:
    """Check a metrics history value by value and rebuild it from its known keys (filling in missing
    ones); RunError naming `source` if it is not one.

    Every list is checked element by element, so the rebuilt history holds only numbers (or None) in
    flat lists: nothing that walks it later (a chart, json.dumps, a resumed run appending to it) can meet
    a nested or shared structure, whatever the file held."""
    if not isinstance(data, dict):
        raise RunError(f"{source} does not hold a metrics history")
    steps = data.get("steps") or {}
    if not isinstance(steps, dict):
        raise RunError(f"{source}'s 'steps' is not an object")

    def numbers(where: dict[str, Any], key: str, label: str, optional: bool) -> list[Any]:
        values = where.get(key, [])
        if not isinstance(values, list):
            raise RunError(f"{source}'s '{label}' is not a list")
        if len(values) > MAX_HISTORY_VALUES:
            raise RunError(f"{source}'s '{label}' holds {len(values):,} values, more than a run writes")
        if any(not _numeric(v) and not (optional and v is None) for v in values):
            raise RunError(f"{source}'s '{label}' holds something that is not a number")
        return list(values)

    history: dict[str, Any] = {}
    for key in ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds",
                "samples_per_second"):
        history[key] = numbers(data, key, key, optional=key != "epoch")
    history["steps"] = {}
    for key in ("step", "loss", "accuracy", "lr"):
        history["steps"][key] = numbers(steps, key, f"steps.{key}", optional=key == "accuracy")
    n = len(history["epoch"])
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
        if len(history[key]) != n:
            raise RunError(f"{source} is inconsistent: {n} epochs but {len(history[key])} values of '{key}'")
    m = len(history["steps"]["step"])
    for key in ("loss", "lr"):
        if len(history["steps"][key]) != m:
            raise RunError(f"{source} is inconsistent: {m} steps but {len(history['steps'][key])} "
                           f"values of 'steps.{key}'")
    # Training time at each step and epoch end (added in 0.6): optional, so older runs still load; a
    # list that does not match its steps is dropped rather than refusing the whole history.
    # The recoveries a run made (training/recovery.py): kept when they are records, else left out.
    recoveries = data.get("recoveries")
    if isinstance(recoveries, list):
        history["recoveries"] = [r for r in recoveries if isinstance(r, dict) and _numeric(r.get("step"))
                                 and _numeric(r.get("lr_factor")) and isinstance(r.get("reason"), str)]
    for where, target, count in ((data, history, n), (steps, history["steps"], m)):
        times = where.get("time")
        if isinstance(times, list) and len(times) == count and all(_numeric(v) for v in times):
            target["time"] = list(times)
    return history


def curve_times(history: dict[str, Any]) -> tuple[list[float] | None, list[float] | None]:
    """Seconds of training (pauses excluded) at each logged step and at each epoch's end, for charts
    with time on the x axis. Runs saved before times were recorded get them from the epochs' durations:
    epoch ends from the summed seconds, steps spread evenly over the epochs. None where not known."""
    steps = history.get("steps") or {}
    step_x = list(steps.get("step") or [])
    epochs = list(history.get("epoch") or [])
    epoch_t = history.get("time")
    if not (isinstance(epoch_t, list) and len(epoch_t) == len(epochs)):
        seconds = history.get("seconds") or []
        epoch_t = None
        if epochs and len(seconds) == len(epochs) and all(_numeric(v) for v in seconds):
            total, epoch_t = 0.0, []
            for v in seconds:
                total += float(v)
                epoch_t.append(total)
    step_t = steps.get("time")
    if not (isinstance(step_t, list) and len(step_t) == len(step_x)):
        step_t = None
        if step_x and epoch_t:
            # Steps per epoch are not stored: estimated as the last logged step over the epochs done
            # (exact for a finished run; a run stopped mid-epoch spreads its extra steps a little).
            per_epoch = max(1.0, float(step_x[-1]) / len(epoch_t))
            known_s = [0.0] + [per_epoch * (i + 1) for i in range(len(epoch_t))]
            known_t = [0.0] + [float(t) for t in epoch_t]
            step_t = [_interp(float(s), known_s, known_t) for s in step_x]
    return step_t, epoch_t


def _interp(x: float, xs: list[float], ys: list[float]) -> float:
    """Piecewise-linear y(x) through the increasing points (xs, ys), held at the ends."""
    if x <= xs[0]:
        return ys[0]
    i = bisect.bisect_left(xs, x)
    if i >= len(xs):
        return ys[-1]
    f = (x - xs[i - 1]) / max(1e-12, xs[i] - xs[i - 1])
    return ys[i - 1] + f * (ys[i] - ys[i - 1])


def load_history(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metrics history of a run folder (empty lists when it has none yet); RunError if damaged."""
    path = Path(path)
    data, problem = _read_json(path / "metrics.json")
    if problem:
        raise RunError(problem)
    if data is None:
        return empty_history()
    return normalise_history(data)


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """config.json of a run folder ({"config": {...}, "dataset": {...}, ...}); RunError if absent or damaged."""
    path = Path(path)
    data, problem = _read_json(path / "config.json")
    if problem:
        raise RunError(problem)
    if not isinstance(data, dict):
        raise RunError(f"{path.name} has no readable config.json")
    return data


def load_result(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """result.json of a run folder, or None while it has none; RunError if damaged."""
    data, problem = _read_json(Path(path) / "result.json")
    if problem:
        raise RunError(problem)
    if data is not None and not isinstance(data, dict):
        raise RunError("result.json does not hold a result")
    return data


def validate_run_name(name: str) -> str | None:
    """None if `name` can be a run folder's name, else a sentence saying why not."""
    if not name or not name.strip():
        return "The name cannot be empty."
    if name != name.strip():
        return "The name cannot start or end with a space."
    if name in (".", "..") or name.startswith("."):
        return "The name cannot start with a dot."
    bad = sorted({ch for ch in name if ch in _FORBIDDEN_CHARS or ord(ch) < 32})
    if bad:
        shown = " ".join(repr(ch)[1:-1] if ord(ch) >= 32 else f"\\x{ord(ch):02x}" for ch in bad)
        return f"The name cannot contain {shown} (not allowed in folder names on every system)."
    if len(name) > MAX_NAME_LENGTH:
        return f"The name is too long ({len(name)} characters; at most {MAX_NAME_LENGTH})."
    if name.upper().split(".")[0] in {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                                      *(f"LPT{i}" for i in range(1, 10))}:
        return f"'{name}' is a reserved name on Windows."
    return None


def rename_run(path: str | os.PathLike[str], new_name: str) -> Path:
    """Rename a run folder in place (same parent); returns the new path. RunError says why not."""
    path = Path(path)
    problem = validate_run_name(new_name)
    if problem:
        raise RunError(problem)
    if not path.is_dir():
        raise RunError(f"The run folder {path} no longer exists.")
    _refuse_live(path)
    target = path.with_name(new_name)
    if target == path:
        return path
    if target.exists() and not _same_file(target, path):
        raise RunError(f"There is already a run called '{new_name}'.")
    try:
        os.rename(path, target)
    except OSError as exc:
        raise RunError(f"Cannot rename '{path.name}' to '{new_name}': {exc.strerror or exc}") from None
    return target


def _refuse_live(path: Path) -> None:
    """RunError when a process trains into the folder (its files would go on being written)."""
    holder = lock_holder(path)
    if holder is not None:
        raise RunError(f"'{path.name}' is training{holder.describe()}; stop it first.")


def _same_file(a: Path, b: Path) -> bool:
    """True for a case-only rename on a case-insensitive file system."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def delete_run(path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> None:
    """Delete a run folder and everything in it. Refuses anything that is not a run folder inside `root`
    (default: the user's runs folder), so a wrong path can never remove unrelated files."""
    path = Path(path)
    root = Path(root) if root is not None else paths.runs_dir()
    if not path.is_dir():
        raise RunError(f"The run folder {path} no longer exists.")
    try:
        inside = path.resolve().parent == root.resolve()
    except OSError:
        inside = False
    if not inside:
        raise RunError(f"{path} is not a run folder in {root}; not deleting it.")
    if not is_run_folder(path):
        raise RunError(f"{path} does not look like a run folder; not deleting it.")
    _refuse_live(path)
    try:
        shutil.rmtree(path)
    except OSError as exc:
        raise RunError(f"Cannot delete '{path.name}': {exc.strerror or exc}") from None
