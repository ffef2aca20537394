"""A sweep's study: what it varies (SweepSpec), its folder, its Optuna study and what the trials recorded.
The trials themselves are trained by core/sweep/runner.py.

Why Optuna: it is the field's well-kept library for samplers (grid, random, TPE) and pruners
(successive halving, the rule ASHA runs asynchronously), it runs offline, and its study lives in a
database (SQLite by default, a database server across machines) that several processes share. The
sweep therefore needs no scheduler of its own: every worker process asks the study for the next trial,
so `cnnstudio sweep --out DIR` started twice trains two trials at a time (docs/scaling.md).

A sweep folder holds sweep.json (what is swept, written once), study.db (Optuna's storage) and one run
folder per trial (trial-000, trial-001...), tagged with trial.json, so the Runs page and every
command work on a trial as on any run. A trial stopped by the user, by the time budget or by a dead
worker is trained on later from its last.pt, in the same folder: a sweep continues where it stopped.

The halving strategy measures the validation set at a ninth and a third of each trial (Trainer's
probe_fractions) and Optuna's SuccessiveHalvingPruner (reduction factor 3) stops a trial that is not in
the best third of those measured at that point so far; trials that pass train to the end.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio.core import paths
from cnnstudio.core.bounded import loads_json
from cnnstudio.core.sweep.space import SweepError, SweepParam, check_grid, check_space, parse_param, settings_text

if TYPE_CHECKING:
    import optuna


STRATEGIES = ("grid", "random", "halving")
DEFAULT_TRIALS = 10  # random and halving over a range, when --trials is not given
SWEEP_FILE = "sweep.json"
TRIAL_FILE = "trial.json"
STUDY_NAME = "sweep"
FORMAT = 1
# Successive halving: a trial is measured at a ninth and a third of its steps (percent of the run: Optuna's
# step axis) and goes on only while it is in the best third measured there; ASHA's usual eta = 3.
REDUCTION_FACTOR = 3
FIRST_RUNG_PERCENT = 11
PROBE_FRACTIONS = (FIRST_RUNG_PERCENT / 100, FIRST_RUNG_PERCENT * REDUCTION_FACTOR / 100)
# A worker that stops beating for this long is dead (killed, machine gone): its trial is failed and
# trained again from its last.pt by the next worker that asks for a trial (Optuna's heartbeat).
HEARTBEAT_SECONDS = 30
GRACE_SECONDS = 120
TRIAL_STATUSES = ("finished", "early-stopped", "pruned", "failed", "interrupted", "running")


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep trains: one dataset, the settings it varies, how it chooses them, and the settings
    fixed for every trial (TrainConfig fields: limit_train, seed...). The device is not part of it: each
    worker process trains on its own (SweepRunner's `device`)."""

    dataset: str
    params: tuple[SweepParam, ...]
    strategy: str = "grid"
    model: str | None = None  # None: the model recommended for the data (unless `model` is swept)
    trials: int | None = None  # random / halving: how many; grid: every point
    epochs: int | None = None  # None: each trial's recommended length
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "dataset": self.dataset, "model": self.model, "strategy": self.strategy,
                "params": [p.text() for p in self.params], "trials": self.trials, "epochs": self.epochs,
                "fixed": dict(self.fixed)}

    @classmethod
    def from_dict(cls, data: Any) -> SweepSpec:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise SweepError("sweep.json is not a sweep this version can read")
        try:
            return make_spec(data["dataset"], [str(p) for p in data["params"]], data["strategy"],
                             model=data.get("model"), trials=data.get("trials"), epochs=data.get("epochs"),
                             fixed=dict(data.get("fixed") or {}))
        except (KeyError, TypeError):
            raise SweepError("sweep.json is damaged (a field is missing or of the wrong kind)") from None

    @property
    def target(self) -> int:
        """How many trials the sweep trains in all."""
        if self.trials is not None:
            return self.trials
        if self.strategy == "random":
            return DEFAULT_TRIALS
        if all(not p.is_range for p in self.params):
            return math.prod(len(p.values) for p in self.params)
        return DEFAULT_TRIALS


def make_spec(dataset: str, params: Sequence[str], strategy: str, *, model: str | None = None,
              trials: int | None = None, epochs: int | None = None,
              fixed: Mapping[str, Any] | None = None) -> SweepSpec:
    """The one validated way to a SweepSpec (the command line, the Sweep dialog and sweep.json)."""
    if strategy not in STRATEGIES:
        raise SweepError(f"unknown strategy {strategy!r} (one of {', '.join(STRATEGIES)})")
    if fixed and "device" in fixed:
        raise SweepError("the device is each worker's own: give it to the runner, not to the sweep's settings")
    parsed = tuple(parse_param(p) for p in params)
    check_space(parsed)
    if strategy == "grid":
        check_grid(parsed, strategy)
        if trials is not None:
            raise SweepError("--trials is for --strategy random or halving: a grid trains every point")
    if trials is not None and trials < 1:
        raise SweepError("--trials must be at least 1")
    if model is not None and any(p.name == "model" for p in parsed):
        raise SweepError("--model and --param model=... both name the model: give one")
    if epochs is not None and any(p.name == "epochs" for p in parsed):
        raise SweepError("--epochs and --param epochs=... both set the epochs: give one")
    return SweepSpec(dataset, parsed, strategy, model, trials, epochs, dict(fixed or {}))


# -- events: what a sweep tells its caller (the CLI's lines, the app's Sweep dialog) ------------------------
@dataclass(frozen=True)
class TrialStarted:
    number: int  # Optuna's trial number
    index: int  # 1-based: this is the index-th trial of the sweep's `total`
    total: int
    settings: dict[str, Any]
    run_dir: str
    resumed: bool  # trained on from the last.pt of an interrupted trial


@dataclass(frozen=True)
class TrialRecord:
    """One trial of a sweep, as `cnnstudio sweep --json` and the Runs page show it."""

    number: int
    run_dir: str
    settings: dict[str, Any]
    status: str  # one of TRIAL_STATUSES
    best_val_accuracy: float | None = None
    test_accuracy: float | None = None
    seconds: float | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": self.run_dir, "settings": self.settings, "status": self.status,
                "best_val_accuracy": self.best_val_accuracy, "test_accuracy": self.test_accuracy,
                "seconds": self.seconds, "number": self.number, "message": self.message}


@dataclass(frozen=True)
class TrialEnded:
    trial: TrialRecord
    best: TrialRecord | None  # the sweep's best so far


@dataclass(frozen=True)
class SweepOutcome:
    """The sweep's trials so far and its best (by validation accuracy; its test accuracy is reported)."""

    sweep_dir: str
    spec: SweepSpec
    trials: tuple[TrialRecord, ...]
    best: TrialRecord | None
    complete: bool  # every trial the sweep means to train has ended
    stopped: str = ""  # why this process stopped before the sweep was complete ("" when it did not)

    def to_dict(self) -> dict[str, Any]:
        return {"best": self.best.to_dict() if self.best else None,
                "trials": [t.to_dict() for t in self.trials], "sweep_dir": self.sweep_dir,
                "strategy": self.spec.strategy, "complete": self.complete, "stopped": self.stopped}


SweepCallback = Callable[[Any], None]


def trial_percent(value: float | None) -> str:
    """A trial's accuracy in its lines (two decimals: trials of a sweep differ by tenths)."""
    return "–" if value is None else f"{100 * value:.2f} %"


def trial_line(event: TrialStarted | TrialEnded) -> str:
    """A trial's start or end in one line: the command line's and the Train page's log say the same."""
    if isinstance(event, TrialStarted):
        more = " (continued from its last.pt)" if event.resumed else ""
        return f"trial {event.index}/{event.total}: {settings_text(event.settings)}{more}"
    t = event.trial
    best = " *best so far" if event.best is not None and event.best.number == t.number else ""
    return (f"  {t.status}: val {trial_percent(t.best_val_accuracy)}, test {trial_percent(t.test_accuracy)}"
            + (f" ({t.seconds:.0f} s)" if t.seconds else "") + best
            + (f": {t.message}" if t.status in ("failed", "pruned") else ""))


# -- the sweep folder ------------------------------------------------------------------------------------
def new_sweep_dir(spec: SweepSpec) -> Path:
    what = f"{Path(spec.dataset).name}-{Path(spec.model).stem if spec.model else 'sweep'}"
    return paths.new_dated_folder(f"sweep-{what}")


def read_spec(sweep_dir: str | os.PathLike[str]) -> SweepSpec | None:
    """The sweep a folder holds, None when it holds none; SweepError when its sweep.json is damaged."""
    path = Path(sweep_dir) / SWEEP_FILE
    if not path.exists():
        return None
    try:
        data = loads_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SweepError(f"{path} cannot be read ({exc.__class__.__name__})") from None
    return SweepSpec.from_dict(data)


def is_sweep_folder(path: Path) -> bool:
    try:
        return (path / SWEEP_FILE).is_file()
    except OSError:
        return False


def sweep_in(sweep_dir: Path, spec: SweepSpec | None) -> tuple[SweepSpec, bool]:
    """(the sweep to train in this folder, whether the folder must still be made for it), writing nothing:
    the sweep it holds (spec None: whatever it holds), or `spec` for a folder that is new or empty. A folder
    that holds another sweep, or other files, is refused: nothing is overwritten."""
    existing = read_spec(sweep_dir)
    if existing is not None:
        if spec is not None and spec.to_dict() != existing.to_dict():
            raise SweepError(f"{sweep_dir} holds another sweep ({' '.join(existing.to_dict()['params'])}, "
                             f"{existing.strategy}): choose a new --out, or give only --out to continue it")
        return existing, False
    if spec is None:
        raise SweepError(f"{sweep_dir} holds no sweep to continue (no {SWEEP_FILE})")
    try:
        if sweep_dir.exists() and (not sweep_dir.is_dir() or any(sweep_dir.iterdir())):
            raise SweepError(f"{sweep_dir} is not an empty folder and holds no sweep: choose a new folder for --out")
    except OSError as exc:
        raise SweepError(f"cannot use {sweep_dir} as the sweep folder: {exc.strerror or exc}") from None
    return spec, True


def make_sweep_dir(sweep_dir: Path, spec: SweepSpec) -> None:
    """Write the sweep folder and its sweep.json (once everything the sweep needs was checked)."""
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        tmp = sweep_dir / f".{SWEEP_FILE}.tmp"
        tmp.write_text(json.dumps(spec.to_dict(), indent=2), encoding="utf-8")
        os.replace(tmp, sweep_dir / SWEEP_FILE)
    except OSError as exc:
        raise SweepError(f"cannot create the sweep folder {sweep_dir}: {exc.strerror or exc}") from None


def default_storage(sweep_dir: Path) -> str:
    return f"sqlite:///{(sweep_dir / 'study.db').resolve()}"


def _storage(url: str) -> optuna.storages.RDBStorage:
    import optuna

    # SQLite serialises writers: wait for the lock (another worker writing) rather than fail.
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    try:
        with quiet_optuna():  # the heartbeat is "experimental" since Optuna 2.9
                return optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_SECONDS,
                                              grace_period=GRACE_SECONDS,
                                              heartbeat_stale_trial_callback=train_again)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many kinds for a bad URL or an unreachable server
        raise SweepError(f"the sweep's storage {url} cannot be opened ({exc.__class__.__name__}: "
                         f"{str(exc).splitlines()[0][:200]})") from None


def train_again(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """A trial whose worker died (no heartbeat) or was interrupted: queue its settings again, to be
    trained on from the run folder's last.pt."""
    if trial.user_attrs.get("failed"):
        return  # a trial that failed on its own (diverged, bad settings) would only fail again
    study.enqueue_trial(trial.params, user_attrs={"resume_of": trial.number}, skip_if_exists=False)


def open_study(spec: SweepSpec, storage_url: str) -> optuna.Study:
    import optuna

    # The sweep says what happens to each trial in its own lines; Optuna's would repeat them ("Trial 3
    # failed with value nan" for a trial that was interrupted and will be continued).
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    seed = int(spec.fixed.get("seed", 0))
    sampler: optuna.samplers.BaseSampler
    lists_only = all(not p.is_range for p in spec.params)
    if spec.strategy == "grid" or (spec.strategy == "halving" and lists_only and spec.trials is None):
        sampler = optuna.samplers.GridSampler({p.name: list(p.values) for p in spec.params}, seed=seed)
    elif spec.strategy == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed)
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.SuccessiveHalvingPruner(min_resource=FIRST_RUNG_PERCENT, reduction_factor=REDUCTION_FACTOR)
        if spec.strategy == "halving" else optuna.pruners.NopPruner())
    return optuna.create_study(study_name=STUDY_NAME, storage=_storage(storage_url), direction="maximize",
                               sampler=sampler, pruner=pruner, load_if_exists=True)


def suggest(trial: optuna.Trial, param: SweepParam) -> Any:
    if not param.is_range:
        return trial.suggest_categorical(param.name, list(param.values))
    assert param.low is not None and param.high is not None
    if param.kind == "int":
        return trial.suggest_int(param.name, int(param.low), int(param.high), log=param.scale == "log")
    return trial.suggest_float(param.name, param.low, param.high, log=param.scale == "log")


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna warns on stderr about its experimental heartbeat and about trials that end failed; the sweep
    says what happened to each trial in its own words."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"optuna(\..*)?")
        yield


def progress_counts(study: optuna.Study) -> tuple[int, int]:
    """(trials that count as done, trials running in some worker)."""
    import optuna

    done = running = 0
    for t in study.get_trials(deepcopy=False):
        if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
            done += 1
        elif t.state == optuna.trial.TrialState.FAIL and t.user_attrs.get("failed"):
            done += 1
        elif t.state == optuna.trial.TrialState.RUNNING:
            running += 1
    return done, running


def outcome(sweep_dir: Path, spec: SweepSpec, study: optuna.Study, stopped: str = "") -> SweepOutcome:
    """The sweep's trials as the study records them: one record per run folder (an interrupted trial
    that was trained on later shows once, as its continuation)."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    continued = {t.user_attrs.get("resume_of") for t in trials if t.state != optuna.trial.TrialState.WAITING}
    records = []
    for t in trials:
        if t.state == optuna.trial.TrialState.WAITING or t.number in continued:
            continue
        a = t.user_attrs
        status = a.get("status", "running") if t.state != optuna.trial.TrialState.RUNNING else "running"
        if status not in TRIAL_STATUSES:
            status = "failed"
        records.append(TrialRecord(t.number, str(a.get("run_dir", "")), dict(t.params), status,
                                   a.get("best_val_accuracy"), a.get("test_accuracy"), a.get("seconds"),
                                   str(a.get("message", ""))))
    ended = [r for r in records if r.status in ("finished", "early-stopped") and r.best_val_accuracy is not None]
    best = max(ended, key=lambda r: (r.best_val_accuracy, -r.number), default=None)
    done, running = progress_counts(study)
    waiting = any(t.state == optuna.trial.TrialState.WAITING for t in trials)
    return SweepOutcome(str(sweep_dir), spec, tuple(records), best,
                        complete=done >= spec.target and not running and not waiting, stopped=stopped)


def read_outcome(sweep_dir: str | os.PathLike[str], storage: str | None = None) -> SweepOutcome:
    """A sweep folder's trials and best, read without training (the Runs page, `--json` of a finished
    sweep)."""
    sweep_dir = Path(sweep_dir)
    spec = read_spec(sweep_dir)
    if spec is None:
        raise SweepError(f"{sweep_dir} holds no sweep (no {SWEEP_FILE})")
    return outcome(sweep_dir, spec, open_study(spec, storage or default_storage(sweep_dir)))
