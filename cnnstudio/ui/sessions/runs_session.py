"""The Runs page's session: the run folders, read off the GUI thread, and what may be done with them.

Reading is cnnstudio.core.runs and core.run_compare (Qt-free, never raise for a damaged folder); this
session runs them on the background pool (ui/tasks.py) and hands the page named values: a RunsListing
for the table, a RunDetail for one selected run, a RunsComparison for several. It decides what the page only shows:
which runs can be renamed, deleted or opened (never one a live training writes), which settings differ
between compared runs, which runs are left out of a comparison (damaged), where the checkpoint in use
goes when its run folder is renamed or deleted. The page asks the user (names, confirmations) and draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, QTimer, Signal

from cnnstudio.core import paths
from cnnstudio.core.run_compare import compare, read_detail
from cnnstudio.core.runs import RunError, RunSummary, delete_run, list_runs, load_config, rename_run
from cnnstudio.core.text import plural
from cnnstudio.core.training.config import TrainConfig
from cnnstudio.ui.state import AppState
from cnnstudio.ui.tasks import Failure, LatestRunner
from cnnstudio.ui.training_worker import active_run_dirs

# While a run trains in another process (`cnnstudio train`), the list is read again this often while the
# page is shown, so its epoch and its end appear without pressing Refresh.
LIVE_REFRESH_MS = 5000


@dataclass(frozen=True)
class RunsListing:
    """The run folders as read: newest first; `training` holds the folders a live training writes."""

    runs: tuple[RunSummary, ...]
    training: frozenset[str]
    root: str
    select: tuple[str, ...] | None = None  # run folders to select once listed (None: keep the selection)
    live: bool = False  # read again on its own to follow a run training elsewhere, not asked for

    def status(self, run: RunSummary) -> str:
        """The run's status: "training" for a folder a live process writes (core.runs reads its lock), or one
        this app's training is about to lock (its folder made, its lock not yet taken)."""
        if run.path in self.training and run.status in ("incomplete", "damaged"):
            return "training"
        return run.status

    def is_training(self, run: RunSummary) -> bool:
        return self.status(run) == "training"

    def find(self, run_paths: Sequence[str]) -> list[RunSummary]:
        by_path = {r.path: r for r in self.runs}
        return [by_path[p] for p in run_paths if p in by_path]


@dataclass(frozen=True)
class RunActions:
    """What the buttons may do for a selection; `busy`: a run in it is training."""

    open_model: bool = False
    rename: bool = False
    delete: bool = False
    show_folder: bool = False
    command_line: bool = False
    export_model: bool = False
    busy: bool = False


class RunsSession(QObject):
    """Public: refresh(select), listing, runs, show(runs), actions(runs), open_model(run), rename(run, name),
    delete(runs, confirm), command_config(run), export_target(run), refreshing, close()."""

    listed = Signal(object)  # RunsListing: the folders were read again
    nothingSelected = Signal()
    runRead = Signal(object)  # RunDetail: the one selected run, read
    runsCompared = Signal(object)  # RunsComparison: the selected runs, read
    problem = Signal(str, str)  # (title, one clear sentence): what could not be done, and why

    def __init__(self, state: AppState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.queue = state.queue  # the Runs page shows the training queue
        self.listing = RunsListing((), frozenset(), str(paths.runs_dir()))
        self._lister = LatestRunner(self)
        self._reader = LatestRunner(self)
        self._select: tuple[str, ...] | None = None  # asked of a refresh whose listing has not arrived
        self._watching = False  # the page is shown: follow runs training in other processes
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_REFRESH_MS)
        self._live_timer.timeout.connect(self._refresh_live)
        # Bound methods, not lambdas: Qt drops the connections when the session goes with its page.
        state.runFinished.connect(self._on_training_changed)
        state.trainingActive.connect(self._on_training_changed)

    @property
    def runs(self) -> list[RunSummary]:
        return list(self.listing.runs)

    @property
    def refreshing(self) -> bool:
        """True while the folders are being read (a listing is on its way)."""
        return self._lister.busy

    # -- reading --------------------------------------------------------------------------------------
    def refresh(self, select: Sequence[str] | None = None, live: bool = False) -> None:
        """Read the runs folder again in the background; `listed` follows. select: the folders to select
        then (None keeps the selection the page has); live: the timer following a live run asks."""
        root = paths.runs_dir()
        training = frozenset(active_run_dirs())  # read here: the live runs belong to the GUI thread
        if select is not None:
            self._select = tuple(str(p) for p in select)
        chosen = self._select  # a newer refresh (a run ending) must not lose the renamed run's selection
        self._lister.submit(lambda: list_runs(root),
                            lambda runs: self._on_listed(RunsListing(tuple(runs), training, str(root), chosen,
                                                                     live and chosen is None)),
                            self._on_list_failed)

    def watch(self, on: bool) -> None:
        """The page is shown (True) or hidden: while shown, a listing with a run training elsewhere is read
        again every LIVE_REFRESH_MS."""
        self._watching = on
        if not on:
            self._live_timer.stop()

    def _refresh_live(self) -> None:
        if self._watching and not self.refreshing:
            self.refresh(live=True)

    def _on_training_changed(self, _what: object) -> None:
        """A run started or ended: its folder appeared or its status changed."""
        self.refresh()

    def _on_listed(self, listing: RunsListing) -> None:
        self._select = None
        self.listing = listing
        # Only runs of other processes: this app's own run refreshes the list as it starts and ends, and
        # reading every folder every few seconds would take CPU from it.
        if self._watching and any(r.status == "training" and r.path not in listing.training for r in listing.runs):
            self._live_timer.start()
        self.listed.emit(listing)

    def _on_list_failed(self, failure: Failure) -> None:
        self.state.message.emit(f"The runs folder could not be read: {failure.message}")

    def show(self, runs: Sequence[RunSummary]) -> None:
        """The selection changed: read what it shows in the background (nothing selected: at once)."""
        runs = list(runs)
        if not runs:
            self._reader.discard()
            self.nothingSelected.emit()
        elif len(runs) == 1:
            run, training = runs[0], self._busy(runs[0])
            self._reader.submit(lambda: read_detail(run, training), self.runRead.emit, self._on_read_failed)
        else:
            self._reader.submit(lambda: compare(runs), self.runsCompared.emit, self._on_read_failed)

    def _on_read_failed(self, failure: Failure) -> None:
        self.problem.emit("Cannot show the runs", failure.message)

    # -- deciding ------------------------------------------------------------------------------------
    def actions(self, runs: Sequence[RunSummary]) -> RunActions:
        one = len(runs) == 1
        busy = any(self._busy(r) for r in runs)
        has_model = one and (runs[0].has_best or runs[0].has_last)
        return RunActions(open_model=has_model, rename=one and not busy, delete=bool(runs) and not busy,
                          show_folder=one, command_line=one, export_model=has_model, busy=busy)

    def _busy(self, run: RunSummary) -> bool:
        """A live training writes the run's folder: this app's (asked now) or another process's (listed)."""
        return run.path in active_run_dirs() or run.status == "training" or self.listing.is_training(run)

    def _busy_text(self, run: RunSummary) -> str:
        """Why the run cannot be changed, and where to stop it."""
        if run.path in active_run_dirs():
            return f"'{run.name}' is training. Stop it on the Train page first."
        where = run.holder.describe() if run.holder is not None else ""
        return f"'{run.name}' is training in another process{where}. Let it end or stop it first."

    def open_model(self, run: RunSummary) -> bool:
        """Make the run's best checkpoint (else last.pt) the one Evaluate, Inspect and Draw use."""
        path = run.best_checkpoint or run.last_checkpoint
        if path is None:
            self.problem.emit("No checkpoint in this run", f"'{run.name}' has no best.pt or last.pt to open.")
            return False
        self.state.set_checkpoint(path)
        self.state.message.emit(f"Evaluate, Inspect and Draw now use {run.name} ({Path(path).name}).")
        return True

    def use_best(self, path: str) -> bool:
        """Runs > By settings > Use best: the run's model in use, its settings in the Train page's form."""
        from cnnstudio.core.runs import read_run
        from cnnstudio.core.training.config import TrainConfig

        run = read_run(path)
        if not self.open_model(run):
            return False
        try:
            config = TrainConfig.from_dict(run.config)
        except (TypeError, ValueError):
            self.problem.emit("Settings not read", f"'{run.name}' has settings this version cannot read; "
                                                   "its model is in use.")
            return True
        self.state.settingsChosen.emit(config)
        self.state.message.emit(f"{run.name}: its model is in use and its settings are in the Train page's form.")
        return True

    def may_rename(self, run: RunSummary) -> bool:
        """False (and `problem`) for a run that is training: asked before the page asks for a name."""
        if run.path in active_run_dirs():
            self.problem.emit("Cannot rename", "This run is training; stop it first.")
            return False
        if self._busy(run):
            self.problem.emit("Cannot rename", self._busy_text(run))
            return False
        return True

    def rename(self, run: RunSummary, new_name: str) -> bool:
        """Rename the run's folder (never one that is training); the listing follows, the run selected.
        A refusal is `problem`."""
        if not self.may_rename(run):
            return False
        problem = self.try_rename(run, new_name)
        if problem is not None:
            self.problem.emit("Cannot rename", problem)
        return problem is None

    def try_rename(self, run: RunSummary, new_name: str) -> str | None:
        """Rename the run's folder; None once done, else why not (one line, for the rename dialog to show
        under what the user typed). The checkpoint in use and the Train page follow (state.runRenamed)."""
        if self._busy(run):
            return self._busy_text(run)
        try:
            new_path = rename_run(run.path, new_name)
        except RunError as exc:
            return str(exc)
        self._follow_checkpoint(run.path, str(new_path))
        self.state.runRenamed.emit(run.path, str(new_path))
        self.refresh(select=[str(new_path)])
        self.state.message.emit(f"Renamed '{run.name}' to '{new_path.name}'.")
        return None

    def delete(self, runs: Sequence[RunSummary],
               confirm: Callable[[Sequence[RunSummary]], bool] | None = None) -> bool:
        """Delete the runs and their checkpoints, never a training one; confirm(runs) asks first."""
        if not runs:
            return False
        busy = [r for r in runs if self._busy(r)]
        if busy:
            self.problem.emit("Cannot delete", self._busy_text(busy[0]))
            return False
        if confirm is not None and not confirm(runs):
            return False
        errors = []
        for run in runs:
            try:
                delete_run(run.path, paths.runs_dir())
            except RunError as exc:
                errors.append(str(exc))
                continue
            self._follow_checkpoint(run.path, None)
        self.refresh()
        if errors:
            title = "The run was not deleted" if len(runs) == 1 else (
                f"{plural(len(errors), 'run')} of {len(runs)} {'was' if len(errors) == 1 else 'were'} not deleted")
            self.problem.emit(title, "\n".join(errors))
        self.state.message.emit(f"Deleted {plural(len(runs) - len(errors), 'run')}.")
        return not errors

    def _follow_checkpoint(self, old_dir: str, new_dir: str | None) -> None:
        """Keep state.checkpoint_path valid when its run folder is renamed or deleted."""
        current = self.state.checkpoint_path
        if not current:
            return
        cur = Path(current)
        if cur.parent == Path(old_dir):
            self.state.set_checkpoint(str(Path(new_dir) / cur.name) if new_dir else None)

    def command_config(self, run: RunSummary) -> TrainConfig | None:
        """The run's configuration, for its command line; None (and `problem`) when it cannot be read."""
        try:
            return TrainConfig.from_dict(load_config(run.path).get("config") or {})
        except (RunError, TypeError, ValueError) as exc:
            self.problem.emit("No settings to export", f"This run's settings cannot be read: {exc}")
            return None

    @staticmethod
    def export_target(run: RunSummary) -> tuple[str, str] | None:
        """(checkpoint, one line saying what it is) for "Export model…"; None when the run has none."""
        path = run.best_checkpoint or run.last_checkpoint
        if path is None:
            return None
        what = f"{run.model or 'The model'} of run {run.name}" + (
            f", trained on {Path(run.dataset).name or run.dataset}" if run.dataset else "") + "."
        return str(path), what

    def close(self) -> None:
        self._lister.close()
        self._reader.close()
