"""The Review page: the data doctor's suspects as a grid, and keys to fix them.

A view of ReviewSession (ui/sessions/review_session.py). "Check the data…" asks the session how long the
check takes and says so before anything starts; then progress and Cancel. The suspects are in three tabs
(label issues, duplicates with leakage first, outliers), most likely first: each cell is the picture
scaled up crisply, its label, the suggestion and why. A (or Enter) accepts the suggestion, K keeps the
picture as it is, X excludes it, Ctrl+Z undoes; the buttons do the same.

"Label new pictures…" opens a folder of unlabelled pictures: the model in use sorts them, least sure
first, into the "New pictures" tab, where 1..9 (or a class's button) moves the selected one into that
class's folder and A into the class the model guessed; "Retrain" trains on the grown dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout, QLabel, QListView, QListWidget,
                               QListWidgetItem, QPushButton, QTabWidget, QVBoxLayout, QWidget)

from cnnstudio.core.doctor.review import KINDS
from cnnstudio.core.text import printable
from cnnstudio.core.doctor.unsure import UnsurePicture, class_keys
from cnnstudio.ui.sessions.review_session import (MAX_CELLS, Cell, DoctorProgress, Estimate, NewPictures,
                                                  ReviewSession, ReviewView)
from cnnstudio.ui.state import AppState
from cnnstudio.ui.widgets.banner import Banner
from cnnstudio.ui.widgets.progress_row import ProgressRow

THUMB = 96  # pixels a side: a 28x28 digit at about 3.4x, a 16x16 picture at 6x
TAB_TITLES = {"label": "Label issues", "duplicate": "Duplicates", "outlier": "Outliers", "new": "New pictures"}
TABS = (*KINDS, "new")
LEAKAGE_TINT = QColor(220, 60, 60, 60)
HINT = ("The data doctor looks for pictures whose label is likely wrong, the same picture twice (and test "
        "pictures that are also in train, which make the test accuracy look better than it is), and pictures "
        "unlike the rest. Nothing changes until you decide: A or Enter accepts the suggestion, K keeps the "
        "picture as it is, X excludes it (moved to _excluded, never deleted), Ctrl+Z undoes.")


def thumbnail(pixels: np.ndarray, side: int = THUMB) -> QPixmap:
    """uint8 (C, H, W) scaled up by nearest neighbour: the pixels stay sharp squares."""
    hwc = np.ascontiguousarray(np.repeat(pixels, 3, axis=0) if pixels.shape[0] == 1 else pixels[:3])
    rgb = np.ascontiguousarray(hwc.transpose(1, 2, 0))
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()  # copy: owns its pixels
    return QPixmap.fromImage(image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                          Qt.TransformationMode.FastTransformation))


class ReviewPage(QWidget):
    """Public for tests: check(), start(use_model), cancel(), accept_selected(), keep_selected(),
    exclude_selected(), undo(), select(kind, row), label_new(folder), label_selected(k), session, tabs, grids,
    summary_label, changes_label. `retrainRequested`: the window starts a run on the Train page."""

    retrainRequested = Signal()

    def __init__(self, state: AppState, session: ReviewSession | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.session = session or ReviewSession(state)
        self.session.setParent(self)
        self._view: ReviewView | None = None
        self._can_undo = False  # as the session said last (after a check or a new picture's label)
        self._summaries: dict[str, str] = {}  # "check" and "new": the line above the tabs for each
        self._build()
        self.session.estimated.connect(self._on_estimated)
        self.session.progressed.connect(self._on_progress)
        self.session.shown.connect(self._show)
        self.session.newShown.connect(self._show_new)
        self.session.failed.connect(self._on_failed)
        self.session.cancelled.connect(self._on_cancelled)
        self.session.cleared.connect(self._clear)
        self.session.busyChanged.connect(lambda _busy: self._update_buttons())
        state.datasetChanged.connect(lambda _data: self._update_buttons())
        state.model.loaded.connect(lambda _ctx: self._update_buttons())
        self._update_buttons()

    # -- layout -------------------------------------------------------------------------------------
    def _build(self) -> None:
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 8, 8, 8)
        hint = QLabel(HINT)
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(placeholder-text);")
        col.addWidget(hint)

        top = QHBoxLayout()
        self.check_button = QPushButton("Check the data…")
        self.check_button.setToolTip("Say how long the check takes, then start it")
        self.check_button.clicked.connect(self.check)
        top.addWidget(self.check_button)
        # On a line of its own: beside three buttons a 1024-pixel window left it a narrow column of three lines.
        self.estimate_label = QLabel()
        self.estimate_label.setWordWrap(True)
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Train a few small models by cross-validation and compare every picture")
        self.start_button.clicked.connect(lambda: self.start(False))
        self.model_button = QPushButton("Use the current model")
        self.model_button.setToolTip("Faster: the trained model's features and a linear head (finds fewer "
                                     "wrong labels than models that never saw them)")
        self.model_button.clicked.connect(lambda: self.start(True))
        for b in (self.start_button, self.model_button):
            b.hide()
            top.addWidget(b)
        top.addStretch(1)
        self.new_button = QPushButton("Label new pictures…")
        self.new_button.setToolTip("A folder of unlabelled pictures: the model in use sorts them, least sure "
                                   "first; 1..9 moves one into that class's folder")
        self.new_button.clicked.connect(lambda: self.label_new())
        top.addWidget(self.new_button)
        col.addLayout(top)
        col.addWidget(self.estimate_label)

        self.progress_row = ProgressRow()
        self.progress_row.cancel.clicked.connect(self.cancel)
        col.addWidget(self.progress_row)
        self.banner = Banner()
        col.addWidget(self.banner)
        self.summary_label = QLabel("No check yet.")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        col.addWidget(self.summary_label)

        self.tabs = QTabWidget()
        self.grids: dict[str, QListWidget] = {}
        for kind in TABS:
            grid = QListWidget()
            grid.setViewMode(QListView.ViewMode.IconMode)
            grid.setIconSize(QSize(THUMB, THUMB))
            grid.setGridSize(QSize(THUMB + 48, THUMB + 62))
            grid.setSpacing(4)
            grid.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a long file name keeps its end
            grid.setResizeMode(QListView.ResizeMode.Adjust)
            grid.setMovement(QListView.Movement.Static)
            grid.setWordWrap(True)
            grid.setUniformItemSizes(True)
            grid.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
            grid.itemSelectionChanged.connect(self._update_buttons)
            self.grids[kind] = grid
            self.tabs.addTab(grid, TAB_TITLES[kind])
        self.tabs.currentChanged.connect(lambda _i: self._update_buttons())
        self.tabs.currentChanged.connect(lambda _i: self._show_summary())
        col.addWidget(self.tabs, 1)
        self.class_row = QHBoxLayout()  # "1 bars", "2 dots"...: shown with the new pictures
        self.class_buttons: list[QWidget] = []  # a button per class with a key, and a list of the others
        self._controls_for: tuple[str, ...] = ()  # the classes the buttons and keys are for
        col.addLayout(self.class_row)

        actions = QHBoxLayout()
        self.accept_button = QPushButton("Accept (A)")
        self.accept_button.setToolTip("Relabel to the suggested class, or exclude a duplicate or an outlier")
        self.accept_button.clicked.connect(self.accept_selected)
        self.keep_button = QPushButton("Keep (K)")
        self.keep_button.setToolTip("The picture is right as it is: hide it from the list")
        self.keep_button.clicked.connect(self.keep_selected)
        self.exclude_button = QPushButton("Exclude (X)")
        self.exclude_button.setToolTip("Move the picture out of the dataset, into _excluded (never deleted)")
        self.exclude_button.clicked.connect(self.exclude_selected)
        self.undo_button = QPushButton("Undo (Ctrl+Z)")
        self.undo_button.clicked.connect(self.undo)
        self.retrain_button = QPushButton("Retrain")
        self.retrain_button.setToolTip("Train a new run on the dataset as it is now (Train page)")
        self.retrain_button.clicked.connect(self.retrainRequested.emit)
        for b in (self.accept_button, self.keep_button, self.exclude_button, self.undo_button, self.retrain_button):
            actions.addWidget(b)
        self.changes_label = QLabel()
        self.changes_label.setWordWrap(True)
        self.changes_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        actions.addWidget(self.changes_label, 1)
        col.addLayout(actions)

        keys: list[tuple[tuple[str, ...], Callable[[], bool]]] = [
            (("A", "Return", "Enter"), self.accept_selected), (("K",), self.keep_selected),
            (("X",), self.exclude_selected), (("Ctrl+Z",), self.undo)]
        for sequence, slot in keys:
            for key in sequence:
                self._shortcut(key, slot)
        self._class_shortcuts: list[QShortcut] = []  # a key per class, made with the new pictures

    def _shortcut(self, key: str, slot: Callable[[], object]) -> QShortcut:
        shortcut = QShortcut(QKeySequence(key), self)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(slot)
        return shortcut

    # -- the check ----------------------------------------------------------------------------------
    def check(self) -> bool:
        """Ask how long the check takes; Start (and the current model's button) appear with the answer."""
        if not self.session.estimate():
            return False
        self.estimate_label.setText("Measuring how long the check takes…")
        self.check_button.setEnabled(False)
        return True

    def _on_estimated(self, estimate: Estimate) -> None:
        self.check_button.setEnabled(True)
        self.estimate_label.setText(f"The check trains 4 small models by cross-validation: {estimate.text}.")
        self.start_button.setText(f"Start ({estimate.text})")
        self.start_button.show()
        if estimate.model_seconds is not None:
            self.model_button.setText(f"Use the current model (about {estimate.model_seconds:.0f} s)")
            self.model_button.show()
        self._update_buttons()

    def start(self, use_model: bool = False, epochs: int | None = None) -> bool:
        if not self.session.start(use_model, epochs):
            return False
        self.start_button.hide()
        self.model_button.hide()
        self.estimate_label.clear()
        self.banner.clear_message()
        self.progress_row.start("Checking the data…", busy=False)
        return True

    def cancel(self) -> None:
        if self.session.cancel():
            self.progress_row.label.setText("Cancelling…")
            self.progress_row.cancel.setEnabled(False)

    def _on_progress(self, progress: DoctorProgress) -> None:
        self.progress_row.label.setText(f"Checking the data: {progress.what}…")
        self.progress_row.bar.setValue(progress.percent)

    def _on_cancelled(self) -> None:
        self.progress_row.hide()
        self.banner.show_message("Cancelled; nothing was changed.", "info")

    def _on_failed(self, message: str) -> None:
        self.progress_row.hide()
        self.check_button.setEnabled(True)
        self.banner.show_message(message, "error")

    # -- the grid -----------------------------------------------------------------------------------
    def _show(self, view: ReviewView) -> None:
        self.progress_row.hide()
        self._view = view
        self._can_undo = view.can_undo
        more = any(view.count(k) > len(view.cells(k)) for k in KINDS)
        self._summaries["check"] = printable(view.summary) + (
            f". Each tab shows the {MAX_CELLS} most likely; the next come as those are decided." if more else "")
        self._show_summary()
        self.summary_label.setToolTip(printable(view.method))
        self.changes_label.setText(printable(view.changes))
        for index, kind in enumerate(KINDS):  # the New pictures tab keeps what it shows
            grid = self.grids[kind]
            row = max(0, grid.currentRow())
            cells = view.cells(kind)
            grid.clear()
            for cell in cells:
                grid.addItem(self._item(cell))
            self.tabs.setTabText(index, f"{TAB_TITLES[kind]} ({view.count(kind):,})")
            if cells:
                grid.setCurrentRow(min(row, len(cells) - 1))
        self._update_buttons()

    def _clear(self, why: str) -> None:
        self._view = None
        self._summaries["check"] = why
        self._show_summary()
        for index, kind in enumerate(KINDS):
            self.grids[kind].clear()
            self.tabs.setTabText(index, TAB_TITLES[kind])
        self._update_buttons()

    @staticmethod
    def _item(cell: Cell) -> QListWidgetItem:
        s = cell.suspect
        head = "IN TRAIN AND TEST\n" if s.leakage else ""
        text = f"{head}label {printable(s.given)} {printable(s.suggestion)}\n{printable(s.why)}"
        picture = thumbnail(cell.pixels)
        icon = QIcon(picture)
        icon.addPixmap(picture, QIcon.Mode.Selected)  # not tinted: the picture as it is, selected or not
        item = QListWidgetItem(icon, text)
        item.setToolTip(f"{printable(s.picture.name)}\nlabelled {printable(s.given)}; {printable(s.why)}")
        item.setData(Qt.ItemDataRole.UserRole, s.key)
        if s.leakage:
            item.setBackground(QBrush(LEAKAGE_TINT))
        return item

    def select(self, kind: str, row: int) -> None:
        self.tabs.setCurrentIndex(TABS.index(kind))
        self.grids[kind].setCurrentRow(row)

    def _selected_key(self) -> str | None:
        grid = self.grids[TABS[self.tabs.currentIndex()]]
        item = grid.currentItem()
        return None if item is None or not item.isSelected() else str(item.data(Qt.ItemDataRole.UserRole))

    def _on_new_tab(self) -> bool:
        return TABS[self.tabs.currentIndex()] == "new"

    def accept_selected(self) -> bool:
        key = self._selected_key()
        if key is not None and self._on_new_tab():  # a new picture: the class the model guessed
            new = self.session.new_pictures
            guess = next((p.guess for p in new.pictures if p.path == key), None) if new is not None else None
            return guess is not None and self.label_selected(new.classes.index(guess) if new else -1)
        return key is not None and self.session.accept(key)

    def keep_selected(self) -> bool:
        key = self._selected_key()
        return key is not None and not self._on_new_tab() and self.session.keep(key)

    def exclude_selected(self) -> bool:
        key = self._selected_key()
        return key is not None and not self._on_new_tab() and self.session.exclude(key)

    def label_selected(self, class_index: int) -> bool:
        """The selected new picture into class `class_index` (keys 1..9, the class buttons)."""
        key = self._selected_key()
        return key is not None and self._on_new_tab() and self.session.label(key, class_index)

    # -- new pictures -------------------------------------------------------------------------------
    def label_new(self, folder: str | None = None) -> bool:
        """Classify a folder of new pictures (asked for when not given) with the model in use."""
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "A folder of new, unlabelled pictures")
            if not folder:
                return False
        if not self.session.label_new(folder):
            return False
        self.banner.clear_message()
        self.progress_row.start("Classifying the new pictures…", busy=False)
        return True

    def _show_new(self, new: NewPictures) -> None:
        self.progress_row.hide()
        self._can_undo = new.can_undo
        self.changes_label.setText(printable(new.changes))
        if self._controls_for != new.classes:
            self._controls_for = new.classes
            self._class_controls(list(new.classes))
        grid = self.grids["new"]
        row = max(0, grid.currentRow())
        grid.clear()
        for picture in new.pictures:
            grid.addItem(self._new_item(picture))
        index = TABS.index("new")
        self.tabs.setTabText(index, f"{TAB_TITLES['new']} ({new.total:,})")
        self.tabs.setCurrentIndex(index)
        if new.pictures:
            grid.setCurrentRow(min(row, len(new.pictures) - 1))
        self._summaries["new"] = (f"{printable(new.summary)}. The least sure first: press a class's key (or click "
                                  "its button) to move the selected picture into that class's folder; A: the "
                                  "model's guess.")
        self._show_summary()
        self._update_buttons()

    def _class_controls(self, classes: list[str]) -> None:
        """A button and a key for each class that has a key (the first ten; digits by their own name)."""
        for old in (*self.class_buttons, *self._class_shortcuts):
            old.setParent(None)
            old.deleteLater()
        self.class_buttons, self._class_shortcuts = [], []
        keys = class_keys(classes)
        for k, (name, key) in enumerate(zip(classes, keys)):
            if key is None:
                continue
            button = QPushButton(printable(name) if key == name else f"{key}  {printable(name)}")
            button.setProperty("class", name)
            button.setToolTip(f"Move the selected new picture into {printable(name)} (key {key})")
            button.clicked.connect(partial(self.label_selected, k))
            self.class_row.addWidget(button)
            self.class_buttons.append(button)
            self._class_shortcuts.append(self._shortcut(key, partial(self.label_selected, k)))
        if None in keys:  # the classes after the tenth: chosen from a list
            more = QComboBox()
            more.addItem("Other class…", -1)
            for k, name in enumerate(classes):
                if keys[k] is None:
                    more.addItem(printable(name), k)
            more.activated.connect(lambda i, box=more: i > 0 and self.label_selected(int(box.itemData(i))))
            more.setProperty("class", "")
            self.class_row.addWidget(more)
            self.class_buttons.append(more)

    def _show_summary(self) -> None:
        """What the check found on its tabs, what the new pictures are on theirs."""
        which = "new" if self._on_new_tab() else "check"
        self.summary_label.setText(self._summaries.get(which, "") or self._summaries.get("check", "No check yet."))

    @staticmethod
    def _new_item(picture: UnsurePicture) -> QListWidgetItem:
        pixmap = thumbnail(picture.pixels)
        icon = QIcon(pixmap)
        icon.addPixmap(pixmap, QIcon.Mode.Selected)
        item = QListWidgetItem(icon, f"{printable(picture.name)}\n{printable(picture.why)}")
        item.setToolTip(f"{printable(picture.path)}\nmargin {picture.margin:.2f} (0: the model cannot choose)")
        item.setData(Qt.ItemDataRole.UserRole, picture.path)
        return item

    def undo(self) -> bool:
        return self.session.undo()

    def _update_buttons(self) -> None:
        has_data = self.state.dataset is not None
        busy = self.session.busy
        self.check_button.setEnabled(has_data and not busy)
        if not has_data:
            self.estimate_label.setText("Load a dataset on the Data page first.")
        selected = self._selected_key() is not None and not busy
        new = self._on_new_tab()
        self.accept_button.setEnabled(selected)
        for b in (self.keep_button, self.exclude_button):
            b.setEnabled(selected and not new)
        for control in self.class_buttons:
            control.setVisible(new)
            control.setEnabled(selected)
        self.new_button.setEnabled(has_data and not busy)
        self.undo_button.setEnabled(self._can_undo and not busy)

    def shutdown(self) -> None:
        self.session.shutdown()
