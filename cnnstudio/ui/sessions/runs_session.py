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

from PySide6.QtCore import QObject, Signal

from cnnstudio.core import paths
from cnnstudio.core.run_compare import compare, read_detail
from cnnstudio.core.runs import RunError, RunSummary, delete_run, list_runs, load_config, rename_run
from cnnstudio.core.training.config import TrainConfig
from cnnstudio.ui.state import AppState
from cnnstudio.ui.tasks import Failure, LatestRunner
from cnnstudio.ui.training_worker import active_run_dirs


@dataclass(frozen=True)
class RunsListing:
    """The run folders as read: newest first; `training` holds the folders a live training writes."""

    runs: tuple[RunSummary, ...]
    training: frozenset[str]
    root: str
    select: tuple[str, ...] | None = None  # run folders to select once listed (None: keep the selection)

    def status(self, run: RunSummary) -> str:
        """The run's status, "training" for a folder a live run is writing (it reads as incomplete)."""
        if run.path in self.training and run.status in ("incomplete", "damaged"):
            return "training"
        return run.status

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
    def refresh(self, select: Sequence[str] | None = None) -> None:
        """Read the runs folder again in the background; `listed` follows. select: the folders to select
        then (None keeps the selection the page has)."""
        root = paths.runs_dir()
        training = frozenset(active_run_dirs())  # read here: the live runs belong to the GUI thread
        if select is not None:
            self._select = tuple(str(p) for p in select)
        chosen = self._select  # a newer refresh (a run ending) must not lose the renamed run's selection
        self._lister.submit(lambda: list_runs(root),
                            lambda runs: self._on_listed(RunsListing(tuple(runs), training, str(root), chosen)),
                            self._on_list_failed)

    def _on_training_changed(self, _what: object) -> None:
        """A run started or ended: its folder appeared or its status changed."""
        self.refresh()

    def _on_listed(self, listing: RunsListing) -> None:
        self._select = None
        self.listing = listing
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
            run, training = runs[0], runs[0].path in active_run_dirs()
            self._reader.submit(lambda: read_detail(run, training), self.runRead.emit, self._on_read_failed)
        else:
            self._reader.submit(lambda: compare(runs), self.runsCompared.emit, self._on_read_failed)

    def _on_read_failed(self, failure: Failure) -> None:
        self.problem.emit("Cannot show the runs", failure.message)

    # -- deciding ------------------------------------------------------------------------------------
    def actions(self, runs: Sequence[RunSummary]) -> RunActions:
        one = len(runs) == 1
        training = active_run_dirs()
        busy = any(r.path in training for r in runs)
        has_model = one and (runs[0].has_best or runs[0].has_last)
        return RunActions(open_model=has_model, rename=one and not busy, delete=bool(runs) and not busy,
                          show_folder=one, command_line=one, export_model=has_model, busy=busy)

    def open_model(self, run: RunSummary) -> bool:
        """Make the run's best checkpoint (else last.pt) the one Evaluate, Inspect and Draw use."""
        path = run.best_checkpoint or run.last_checkpoint
        if path is None:
            self.problem.emit("No checkpoint in this run", f"'{run.name}' has no best.pt or last.pt to open.")
            return False
        self.state.set_checkpoint(path)
        self.state.message.emit(f"Evaluate, Inspect and Draw now use {run.name} ({Path(path).name}).")
        return True

    def may_rename(self, run: RunSummary) -> bool:
        """False (and `problem`) for a run that is training: asked before the page asks for a name."""
        if run.path in active_run_dirs():
            self.problem.emit("Cannot rename", "This run is training; stop it first.")
            return False
        return True

    def rename(self, run: RunSummary, new_name: str) -> bool:
        """Rename the run's folder (never one that is training); the listing follows, the run selected."""
        if not self.may_rename(run):
            return False
        try:
            new_path = rename_run(run.path, new_name)
        except RunError as exc:
            self.problem.emit("Cannot rename", str(exc))
            return False
        self._follow_checkpoint(run.path, str(new_path))
        self.refresh(select=[str(new_path)])
        self.state.message.emit(f"Renamed '{run.name}' to '{new_path.name}'.")
        return True

    def delete(self, runs: Sequence[RunSummary],
               confirm: Callable[[Sequence[RunSummary]], bool] | None = None) -> bool:
        """Delete the runs and their checkpoints, never a training one; confirm(runs) asks first."""
        if not runs:
            return False
        training = active_run_dirs()
        busy = [r.name for r in runs if r.path in training]
        if busy:
            self.problem.emit("Cannot delete", f"'{busy[0]}' is training. Stop it on the Train page first.")
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
            self.problem.emit("Some runs were not deleted", "\n".join(errors))
        self.state.message.emit(f"Deleted {len(runs) - len(errors)} run(s).")
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
