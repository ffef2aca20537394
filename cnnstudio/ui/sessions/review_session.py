"""The Review page's session: the data doctor run on the app's dataset, and the fixes a person accepts.

"Check the data…" first says how long it will take (estimate(): the doctor's own estimate, measured off
the GUI thread), then runs core/doctor's diagnose() on the task pool with progress and Cancel (a
RunControl the doctor checks between batches). Its findings become suspects (core/doctor/review.py) with
their pixels. Accept, exclude and undo go through core/doctor/fixes.py (a folder's files are moved and
logged in `_changes.csv`; a built-in set's list is kept beside the runs); keep only hides a suspect. After
each change the dataset is loaded again by the Data page's loader (DataSession), so the Train page trains
on the fixed data.

"Label new pictures…" (label_new) classifies a folder of unlabelled pictures with the model in use
(core/classify.py) and lists them least sure first (core/doctor/unsure.py); label() moves one into a class
folder of the dataset (FolderFixes.add: logged in the same `_changes.csv`, undone like any change).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from cnnstudio.core.doctor.review import KINDS, Suspect
from cnnstudio.core.doctor.unsure import UnsurePicture
from cnnstudio.core.errors import CNNStudioError
from cnnstudio.ui.sessions.data_session import DataSession
from cnnstudio.ui.state import AppState
from cnnstudio.ui.tasks import Failure, IsCancelled, LatestRunner, Report

if TYPE_CHECKING:  # import torch: only their types are needed here
    from cnnstudio.core.datasets.base import Dataset
    from cnnstudio.core.doctor.fixes import BuiltinFixes, FolderFixes
    from cnnstudio.core.doctor.report import DoctorReport
    from cnnstudio.core.training.control import RunControl

PICTURES_PER_SECOND_WITH_MODEL = 1500.0  # features of a trained model and a linear head, on a CPU
# Cells a grid holds at once: each is a pixmap of about 37 KB, and a person decides on the first ones first;
# the next come as those are decided.
MAX_CELLS = 500


@dataclass(frozen=True)
class Estimate:
    seconds: float  # the cross-validation models trained for this check
    text: str  # "about 2 min"
    model_seconds: float | None  # with the current model's features instead; None when none fits


@dataclass(frozen=True)
class DoctorProgress:
    percent: int
    what: str


@dataclass(frozen=True)
class Cell:
    suspect: Suspect
    pixels: np.ndarray  # uint8 (C, H, W)


@dataclass(frozen=True)
class ReviewView:
    """What the grid shows: the suspects not decided yet, by kind, and what was changed so far."""

    summary: str
    label: tuple[Cell, ...]
    duplicate: tuple[Cell, ...]
    outlier: tuple[Cell, ...]
    changes: str  # "3 relabelled, 1 excluded; log: …/_changes.csv" ("" before the first change)
    can_undo: bool
    method: str = ""  # how the doctor judged the labels, in words
    counts: tuple[int, int, int] = (0, 0, 0)  # the suspects not decided yet, by kind (the cells: the first MAX_CELLS)

    def cells(self, kind: str) -> tuple[Cell, ...]:
        return {"label": self.label, "duplicate": self.duplicate, "outlier": self.outlier}[kind]

    def count(self, kind: str) -> int:
        return self.counts[KINDS.index(kind)]


@dataclass(frozen=True)
class NewPictures:
    """The new pictures not labelled yet, the ones the model is least sure of first."""

    folder: str
    pictures: tuple[UnsurePicture, ...]  # the first MAX_CELLS
    total: int  # the pictures not labelled yet
    classes: tuple[str, ...]
    summary: str  # "40 pictures classified; 2 skipped (not an image or damaged)"
    changes: str  # as ReviewView.changes
    can_undo: bool


@dataclass(frozen=True)
class _Findings:
    key: str  # the dataset the doctor looked at (its name or folder)
    report: DoctorReport
    cells: tuple[Cell, ...]


class ReviewSession(QObject):
    estimated = Signal(object)  # Estimate
    progressed = Signal(object)  # DoctorProgress
    shown = Signal(object)  # ReviewView: after a check and after every decision
    newShown = Signal(object)  # NewPictures: after classifying a folder and after every label
    failed = Signal(str)  # one line
    cancelled = Signal()
    cleared = Signal(str)  # another dataset was loaded: the findings are gone (why, in words)
    busyChanged = Signal(bool)

    def __init__(self, state: AppState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._runner = LatestRunner(self)
        self._runner.busyChanged.connect(self.busyChanged.emit)
        self._estimates = LatestRunner(self)
        self._control: RunControl | None = None
        self._findings: _Findings | None = None
        self._kept: set[str] = set()  # suspects a person kept (hidden, no file touched)
        self._moved: set[str] = set()  # pictures changed by a fix (every suspect of them hidden)
        # ("keep", suspect key), or ("relabel" | "exclude", picture name): what undo takes back
        self._undo: list[tuple[str, str]] = []
        self._counts = {"relabel": 0, "exclude": 0, "add": 0}
        self._new: tuple[str, tuple[UnsurePicture, ...], str] | None = None  # folder, pictures, summary
        self._labelled: set[str] = set()  # new pictures moved into the dataset (their former paths)
        self._log: Path | None = None
        self._changed_key: str | None = None  # the dataset the changes on the undo list were made to
        # The Data page's loader: the fixed dataset is loaded exactly as a user's load would load it.
        self._loader = DataSession(state, self)
        self._loader.loaded.connect(lambda key, data: self.state.set_dataset(data, key))
        self._loader.loadFailed.connect(lambda message, _details: self.failed.emit(message))
        state.datasetChanged.connect(self._on_dataset_changed)

    # -- the check ----------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._runner.busy

    @property
    def reloading(self) -> bool:
        return self._loader.loading

    def model_fits(self) -> str | None:
        """The checkpoint in use when it was trained on this dataset's classes and picture shape."""
        from cnnstudio.core.model_context import dataset_fits

        ctx = self.state.model.context
        if ctx is None or not dataset_fits(ctx.predictor.checkpoint, self.state.dataset):
            return None
        return str(ctx.path)

    def estimate(self) -> bool:
        """Measure how long a check takes (estimated); False without a dataset."""
        data, name = self.state.dataset, self.state.dataset_name
        if data is None:
            self.failed.emit("Load a dataset first (1  Data).")
            return False
        with_model = self.model_fits() is not None

        def work() -> Estimate:
            from cnnstudio.core.doctor.crossval import doctor_config
            from cnnstudio.core.doctor.diagnose import estimate_seconds
            from cnnstudio.core.training.estimate import duration_text

            seconds = estimate_seconds(data, doctor_config(name, data, None, None, 0))
            n = len(data.train_labels) + len(data.test_labels)
            model = 2.0 + n / PICTURES_PER_SECOND_WITH_MODEL if with_model else None
            return Estimate(seconds, f"about {duration_text(seconds)}", model)

        self._estimates.submit(work, self.estimated.emit, self._fail)
        return True

    def start(self, use_model: bool = False, epochs: int | None = None) -> bool:
        """Run the doctor on the app's dataset in the background (the current model's features with
        use_model); False without a dataset or while a check runs."""
        from cnnstudio.core.training.control import RunControl

        data, key = self.state.dataset, self.state.dataset_name
        if data is None or self.busy:
            return False
        checkpoint = self.model_fits() if use_model else None
        control = self._control = RunControl()

        def work(report: Report[DoctorProgress], is_cancelled: IsCancelled) -> _Findings:
            from cnnstudio.core.doctor.diagnose import diagnose
            from cnnstudio.core.doctor.review import pixels_of, suspects

            def progress(done: float, total: float, what: str) -> None:
                if is_cancelled():
                    control.stop()
                report(DoctorProgress(int(100 * done / max(total, 1e-9)), what))

            found = diagnose(data, data_name=key, checkpoint=checkpoint, epochs=epochs, progress=progress,
                             control=control)
            items = [s for kind in KINDS for s in suspects(found, data)[kind]]
            pixels = pixels_of(data, [s.picture for s in items])
            return _Findings(key, found, tuple(Cell(s, p) for s, p in zip(items, pixels)))

        self._runner.submit(work, self._on_found, self._fail, on_progress=self.progressed.emit,
                            on_cancelled=self.cancelled.emit)
        return True

    def cancel(self) -> bool:
        """Stop the check at the doctor's next look (between batches); nothing was changed."""
        if self._control is not None:
            self._control.stop()
        return self._runner.cancel()

    def _on_found(self, findings: _Findings) -> None:
        self._findings = findings
        self._kept.clear()
        self._moved.clear()
        # Undo takes changes back from the end of the log: what this session did since the check is that end.
        self._undo.clear()
        self._counts = {"relabel": 0, "exclude": 0, "add": 0}
        self._show()

    def _on_dataset_changed(self, _data: object) -> None:
        """The same dataset reloaded after a fix keeps its findings; another one drops them."""
        if self._findings is not None and self.state.dataset_name != self._findings.key:
            self._findings = None
            self.cleared.emit("Another dataset was loaded: check it to see its suspects.")

    def _fail(self, failure: Failure) -> None:
        self.failed.emit(failure.message)

    # -- decisions ----------------------------------------------------------------------------------
    @property
    def view(self) -> ReviewView | None:
        return None if self._findings is None else self._view(self._findings)

    def accept(self, key: str) -> bool:
        """The suggestion: relabel a label issue to its suggested class, exclude a duplicate or outlier."""
        cell = self._cell(key)
        if cell is None:
            return False
        s = cell.suspect
        return self._change(s, "relabel" if s.suggested else "exclude")

    def exclude(self, key: str) -> bool:
        cell = self._cell(key)
        return cell is not None and self._change(cell.suspect, "exclude")

    def keep(self, key: str) -> bool:
        """The label is right, the picture belongs: hidden, no file touched."""
        if self._cell(key) is None:
            return False
        self._kept.add(key)
        self._undo.append(("keep", key))
        self._show()
        return True

    def undo(self) -> bool:
        """Take back the last decision: a keep shows the suspect again, a change is reversed on disk."""
        if not self._undo:
            return False
        what, name = self._undo[-1]
        if what != "keep":
            try:
                if self.state.dataset_name != self._changed_key:
                    raise CNNStudioError("Another dataset is loaded: load the one changed to undo its changes.")
                change = self._fixes(after_check=False).undo()
            except CNNStudioError as exc:
                self.failed.emit(str(exc))
                return False
            if change is None:
                self.failed.emit("Nothing to undo in the change log.")
                return False
            self._moved.discard(name)
            self._labelled.discard(name)
            self._counts[what] -= 1
            self._reload()
        else:
            self._kept.discard(name)
        self._undo.pop()
        self._show()
        self._show_new()
        return True

    def _change(self, suspect: Suspect, action: str) -> bool:
        try:
            fixes = self._fixes()
            change = (fixes.relabel(suspect.picture, suspect.suggested) if action == "relabel"
                      else fixes.exclude(suspect.picture))
        except CNNStudioError as exc:
            self.failed.emit(str(exc))
            return False
        self._log, self._changed_key = fixes.log, self.state.dataset_name
        self._moved.add(suspect.picture.name)
        self._undo.append((change.action, suspect.picture.name))
        self._counts[change.action] += 1
        self._reload()
        self._show()
        return True

    def _fixes(self, after_check: bool = True) -> FolderFixes | BuiltinFixes:
        from cnnstudio.core.doctor.fixes import fixes_for

        data: Dataset | None = self.state.dataset
        if data is None:
            raise CNNStudioError("Load a dataset first (1  Data).")
        if after_check and (self._findings is None or self.state.dataset_name != self._findings.key):
            raise CNNStudioError("The dataset changed since the check: check the data again first.")
        return fixes_for(data)

    # -- new pictures -------------------------------------------------------------------------------
    def label_new(self, folder: str) -> bool:
        """Classify the pictures below `folder` with the model in use, least sure first (newShown)."""
        from cnnstudio.core.doctor.fixes import FolderFixes

        context = self.state.model.context
        try:
            fixes = self._fixes(after_check=False)
            if self.model_fits() is None or context is None:
                raise CNNStudioError("Use a model trained on this dataset first (train one, or Runs > Use this "
                                     "model): it sorts the new pictures by how sure it is.")
            if not isinstance(fixes, FolderFixes):
                raise CNNStudioError("New pictures are moved into the dataset's class folders: load a dataset "
                                     "folder (a built-in dataset has none).")
            if Path(folder).resolve().is_relative_to(fixes.root.resolve()):
                raise CNNStudioError(f"{folder} is inside the dataset folder: pick a folder of new pictures.")
        except CNNStudioError as exc:
            self.failed.emit(str(exc))
            return False
        if self.busy:
            return False
        predictor = context.predictor

        def work(report: Report[DoctorProgress], is_cancelled: IsCancelled) -> tuple[str, tuple[UnsurePicture, ...],
                                                                                    str]:
            from cnnstudio.core.classify import classify_folder
            from cnnstudio.core.doctor.unsure import by_uncertainty

            def progress(done: int, total: int) -> None:
                report(DoctorProgress(int(100 * done / max(total, 1)), f"classifying {total:,} new pictures"))

            result = classify_folder(predictor, folder, progress=progress, cancelled=is_cancelled)
            return str(folder), tuple(by_uncertainty(result)), result.summary()

        self._runner.submit(work, self._on_classified, self._fail, on_progress=self.progressed.emit,
                            on_cancelled=self.cancelled.emit)
        return True

    def _on_classified(self, new: tuple[str, tuple[UnsurePicture, ...], str]) -> None:
        self._new = new
        self._labelled.clear()
        self._show_new()

    @property
    def new_pictures(self) -> NewPictures | None:
        if self._new is None or self.state.dataset is None:
            return None
        folder, pictures, summary = self._new
        left = [p for p in pictures if p.path not in self._labelled]
        return NewPictures(folder, tuple(left[:MAX_CELLS]), len(left), tuple(self.state.dataset.classes), summary,
                           self._changes_text(), bool(self._undo))

    def label(self, path: str, class_index: int) -> bool:
        """Move a new picture into the class folder of `class_index` (logged, undoable), then reload."""
        from cnnstudio.core.doctor.fixes import FolderFixes

        new = self.new_pictures
        if new is None or not any(p.path == path for p in new.pictures) or not 0 <= class_index < len(new.classes):
            return False
        try:
            fixes = self._fixes(after_check=False)
            if not isinstance(fixes, FolderFixes):
                raise CNNStudioError("New pictures go into a dataset folder; a built-in dataset has none.")
            change = fixes.add(path, new.classes[class_index])
        except CNNStudioError as exc:
            self.failed.emit(str(exc))
            return False
        self._log, self._changed_key = fixes.log, self.state.dataset_name
        self._labelled.add(path)
        self._undo.append((change.action, path))
        self._counts["add"] += 1
        self._reload()
        self._show_new()
        return True

    def _show_new(self) -> None:
        new = self.new_pictures
        if new is not None:
            self.newShown.emit(new)

    def _reload(self) -> None:
        self._loader.load(self.state.dataset_name)

    # -- the view -----------------------------------------------------------------------------------
    def _cell(self, key: str) -> Cell | None:
        view = self.view
        if view is None:
            return None
        return next((c for kind in KINDS for c in view.cells(kind) if c.suspect.key == key), None)

    def _view(self, findings: _Findings) -> ReviewView:
        open_cells = [c for c in findings.cells
                      if c.suspect.key not in self._kept and c.suspect.picture.name not in self._moved]
        by_kind = {kind: tuple(c for c in open_cells if c.suspect.kind == kind) for kind in KINDS}
        counts = (len(by_kind["label"]), len(by_kind["duplicate"]), len(by_kind["outlier"]))
        first = {kind: cells[:MAX_CELLS] for kind, cells in by_kind.items()}
        return ReviewView(findings.report.summary(), first["label"], first["duplicate"], first["outlier"],
                          self._changes_text(), bool(self._undo), findings.report.method, counts)

    def _changes_text(self) -> str:
        relabelled, excluded, added = self._counts["relabel"], self._counts["exclude"], self._counts["add"]
        if self._log is None or not (relabelled or excluded or added or self._undo):
            return ""
        labelled = f", {added} new labelled" if added else ""
        return f"{relabelled} relabelled, {excluded} excluded{labelled}; log: {self._log}"

    def _show(self) -> None:
        view = self.view
        if view is not None:
            self.shown.emit(view)

    def shutdown(self) -> None:
        self.cancel()
        self._runner.close()
        self._estimates.close()
        self._loader.shutdown()
