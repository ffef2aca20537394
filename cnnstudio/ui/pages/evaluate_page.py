"""Evaluate: how good is the model, and where does it go wrong?

The current checkpoint (state.checkpointChanged: a finished run, or a run opened from Runs) is
evaluated on the test split of the dataset it was trained on, in the background. The page shows the
test accuracy and loss, a confusion matrix (click a cell: exactly those test images, most confident
first; click an image: look inside the network with it on the Inspect page) and a sortable per-class
table, and exports the metrics (CSV, JSON) and any of its pictures (PNG).

The dataset: the one loaded in the app when its classes and input shape match the checkpoint, else
the checkpoint's own dataset, loaded from disk in the background (cnnstudio.core.model_context);
when that is impossible the page says what to load, and evaluates once it is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon, QImage
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QListWidgetItem, QMenu, QSplitter, QStackedWidget,
                               QTabWidget, QToolButton, QVBoxLayout, QWidget)

from cnnstudio.core.model_context import ModelContext
from cnnstudio.ui.picture_export import PictureExportMixin
from cnnstudio.ui.compose import app_state
from cnnstudio.ui.state import AppState
from cnnstudio.ui.sessions.evaluate_session import EvaluateSession, EvaluationResult
from cnnstudio.ui.widgets.banner import Banner
from cnnstudio.ui.widgets.embedding_map_view import EmbeddingMapView
from cnnstudio.ui.widgets.empty_state import EmptyState
from cnnstudio.ui.widgets.evaluate_panels import GalleryPanel, MatrixPanel, PerClassPanel, pct
from cnnstudio.ui.widgets.metric_card import MetricCard
from cnnstudio.ui.widgets.muted import muted_color, paint_muted

if TYPE_CHECKING:  # imports torch, or dialogs opened on demand: only their types are needed here
    from cnnstudio.core.metrics import Evaluation
    from cnnstudio.ui.widgets.classify_dialog import ClassifyFolderDialog
    from cnnstudio.ui.widgets.model_export_dialog import ModelExportDialog

GALLERY_LIMIT = 600  # thumbnails shown for one cell (the most confident first); the header says when capped
NO_MODEL = ("No model to evaluate yet.\n\nTrain one on the Train page (3  Train) or open a run on the Runs page "
            "(4  Runs); it is evaluated on its test set automatically.")


class EvaluatePage(PictureExportMixin, QWidget):
    """Test-set metrics of the current checkpoint, its confusion matrix, its mistakes."""

    evaluationReady = Signal(object)  # cnnstudio.core.metrics.Evaluation
    evaluationFailed = Signal(str)
    cellSelected = Signal(int, int)  # (true, predicted) whose images the gallery shows
    inspectRequested = Signal(int)  # a test index the user wants to look at on the Inspect page

    def __init__(self, state: AppState | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state or app_state()
        self.session = EvaluateSession(self.state, self)
        self.evaluation: Evaluation | None = None
        self.context: ModelContext | None = None  # the evaluated checkpoint
        self.test_images: np.ndarray | None = None  # uint8 (N, C, H, W)
        self.selected_cell: tuple[int, int] | None = None
        self.eval_seconds = 0.0
        self.source = ""  # what was evaluated when it is not the test set (a classified folder)
        self._build()
        session = self.session
        session.loading.connect(lambda path: self._show_empty(f"Loading {Path(path).name}…", busy=True))
        session.progress.connect(self._on_progress)
        session.evaluated.connect(self._on_evaluated)
        session.failed.connect(self._on_failed)
        session.needsDataset.connect(self._on_needs_dataset)
        session.cleared.connect(self._on_cleared)
        model = self.state.model
        if model.loading:
            self._show_empty(f"Loading {Path(model.path or '').name}…", busy=True)
        elif model.context is not None:
            session.evaluate(model.context)

    @property
    def checkpoint_path(self) -> str | None:
        return self.session.checkpoint_path

    # ------------------------------------------------------------------------------------------------
    # UI
    def _build(self) -> None:
        self.banner = Banner()
        self.stack = QStackedWidget()

        self.empty = EmptyState(NO_MODEL)
        self.stack.addWidget(self.empty)

        # Results page.
        results = QWidget()
        outer = QVBoxLayout(results)
        outer.setContentsMargins(0, 0, 0, 0)

        header = QHBoxLayout()
        self.accuracy_card = MetricCard("Test accuracy", "The share of test images whose most likely class is the "
                                                          "right one. The test images were never used in training.")
        self.loss_card = MetricCard("Test loss", "Mean cross-entropy on the test set: lower is better. Unlike "
                                                  "accuracy it also counts how sure the model was.")
        self.mistakes_card = MetricCard("Mistakes", "Test images whose most likely class is wrong.")
        for card in (self.accuracy_card, self.loss_card, self.mistakes_card):
            header.addWidget(card)
        header.addSpacing(8)
        info = QVBoxLayout()
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.model_label.setTextFormat(Qt.TextFormat.PlainText)
        info.addStretch(1)
        info.addWidget(self.model_label)
        buttons = QHBoxLayout()
        self.export_button = QToolButton()
        self.export_button.setText("Save…")
        self.export_button.setIcon(QIcon.fromTheme("document-save-as"))
        self.export_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.export_button.setToolTip("Save the metrics (CSV, JSON) or a picture of the matrix, the gallery or "
                                      "the table")
        menu = QMenu(self.export_button)
        self.export_csv_action = menu.addAction("Metrics as CSV (per-class table)…", self.export_csv_dialog)
        self.export_json_action = menu.addAction("Metrics as JSON (everything)…", self.export_json_dialog)
        menu.addSeparator()
        menu.addAction("Confusion matrix as PNG…", lambda: self.save_png_dialog("matrix"))
        menu.addAction("Gallery as PNG…", lambda: self.save_png_dialog("gallery"))
        menu.addAction("Per-class table as PNG…", lambda: self.save_png_dialog("table"))
        self.export_button.setMenu(menu)
        # One "Model" menu (evaluate again, export, classify a folder) beside "Save": more buttons would
        # widen the page past a 1024-pixel window (the header's cards and buttons share one row).
        self.model_button = QToolButton()
        self.model_button.setText("Model")
        self.model_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.model_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.model_button.setToolTip("Evaluate again, export the model to run outside CNN Studio, or classify a "
                                     "folder of images with it")
        model_menu = QMenu(self.model_button)
        self.reevaluate_action = model_menu.addAction("Evaluate again", self.reevaluate)
        self.reevaluate_action.setToolTip("Evaluate the checkpoint again (e.g. after the file changed)")
        model_menu.addSeparator()
        self.export_model_action = model_menu.addAction("Export model (ONNX, INT8, TorchScript)…",
                                                        self.export_model_dialog)
        self.export_model_action.setToolTip("Save the model as ONNX (optionally INT8) or TorchScript, checked "
                                            "against PyTorch, to use it outside CNN Studio")
        self.classify_action = model_menu.addAction("Classify a folder…", self.classify_folder_dialog)
        self.classify_action.setToolTip("Run this model on every image of a folder: a table of predictions, and "
                                        "the accuracy when the folder has one subfolder per class")
        model_menu.setToolTipsVisible(True)
        self.model_button.setMenu(model_menu)
        self.model_export_dialog: ModelExportDialog | None = None
        self.classify_dialog: ClassifyFolderDialog | None = None
        buttons.addStretch(1)
        buttons.addWidget(self.model_button)
        buttons.addWidget(self.export_button)
        info.addLayout(buttons)
        header.addLayout(info, 1)
        outer.addLayout(header)

        # The matrix on the left; the gallery above the per-class table on the right (widgets/evaluate_panels.py).
        self.matrix_panel, self.gallery_panel, self.per_class = MatrixPanel(), GalleryPanel(), PerClassPanel()
        self.matrix, self.counts_radio, self.percent_radio, self.matrix_hint = (
            self.matrix_panel.matrix, self.matrix_panel.counts_radio, self.matrix_panel.percent_radio,
            self.matrix_panel.hint)
        self.gallery, self.gallery_title, self.gallery_hint = (
            self.gallery_panel.gallery, self.gallery_panel.title, self.gallery_panel.hint)
        self.table, self.macro_label, self.balance_label = (
            self.per_class.table, self.per_class.macro_label, self.per_class.balance_label)
        self.percent_radio.toggled.connect(self.set_normalised)
        self.matrix.cellClicked.connect(self.select_cell)
        self.gallery.itemClicked.connect(self._on_gallery_clicked)
        self.gallery.itemActivated.connect(self._on_gallery_clicked)
        self.per_class.classActivated.connect(lambda index: self.select_cell(index, index))
        for name, view, area in (("matrix", self.matrix, self.matrix),
                                 ("gallery", self.gallery, self.gallery.viewport()),
                                 ("table", self.table, self.table.viewport())):
            view.customContextMenuRequested.connect(
                lambda pos, name=name, area=area: self._png_menu(name, area.mapToGlobal(pos)))
        right = QSplitter(Qt.Orientation.Vertical)
        right.setChildrenCollapsible(False)
        right.addWidget(self.gallery_panel)
        right.addWidget(self.per_class)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.matrix_panel)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 6)
        splitter.setSizes([480, 560])
        outer.addWidget(splitter, 1)
        self.map_view = EmbeddingMapView(self.session.map)  # the test set as the model sees it (t-SNE)
        self.map_view.inspectRequested.connect(self.open_in_inspect)
        self.tabs = QTabWidget()
        self.tabs.addTab(results, "Metrics")
        self.tabs.addTab(self.map_view, "Map")
        self.stack.addWidget(self.tabs)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(self.banner)
        layout.addWidget(self.stack, 1)
        self._muted = [self.matrix_hint, self.gallery_hint, self.model_label, self.macro_label]
        self._apply_muted()

    def _apply_muted(self) -> None:
        paint_muted(self._muted, muted_color(self))

    def changeEvent(self, event) -> None:
        from PySide6.QtCore import QEvent

        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "_muted"):
            self._apply_muted()
        super().changeEvent(event)

    def _show_empty(self, text: str, busy: bool = False) -> None:
        self.empty.show_text(text, busy)
        self.stack.setCurrentIndex(0)

    # ------------------------------------------------------------------------------------------------
    # Evaluation
    def set_checkpoint(self, path: str | None) -> None:
        """Use this checkpoint (the app's current model: every page follows); it is evaluated on its test
        set in the background. None clears the page."""
        self.state.set_checkpoint(str(path) if path else None)

    def reevaluate(self) -> None:
        self.session.reevaluate()

    def busy(self) -> bool:
        return self.session.busy

    def _on_cleared(self) -> None:
        self.banner.clear_message()
        self.evaluation = self.context = self.test_images = None
        self._show_empty(NO_MODEL)

    def _on_progress(self, done: int, total: int) -> None:
        self._show_empty(f"Evaluating {Path(self.checkpoint_path or '').name} on {total:,} test images…", busy=True)
        self.empty.progress(done, total)

    def _on_failed(self, message: str) -> None:
        name = Path(self.checkpoint_path or "").name
        if self.evaluation is None:
            self._show_empty(f"Could not evaluate {name}.")
        self.banner.show_message(f"Could not evaluate {name}: {message}", "error")
        self.evaluationFailed.emit(message)

    def _on_needs_dataset(self, note: str) -> None:
        self.context = self.session.context
        self._show_empty("This model cannot be evaluated until its dataset is loaded.")
        self.banner.show_message(note, "warning")
        self.evaluationFailed.emit(note)

    def _on_evaluated(self, result: EvaluationResult) -> None:
        context = result.context
        self.context = context
        self.evaluation = result.evaluation
        self.test_images = result.images
        self.eval_seconds = float(result.seconds)
        self.source = result.source
        self.banner.clear_message()
        if result.source:
            self.banner.show_message(f"Showing {result.source} (its images in class subfolders), not the test set. "
                                     "Model > Evaluate again returns to the test set.", "info")
        elif context.dataset_note and not context.from_app:
            self.banner.show_message(context.dataset_note, "info")
        self._fill()
        self.stack.setCurrentIndex(1)
        self.evaluationReady.emit(self.evaluation)

    # ------------------------------------------------------------------------------------------------
    # Showing an evaluation
    def _fill(self) -> None:
        ev, context = self.evaluation, self.context
        assert ev is not None and context is not None, "filled once an evaluation and its model are in"
        n = len(ev.labels)
        wrong = int((ev.predictions != ev.labels).sum())
        what = "images" if self.source else "test images"
        self.accuracy_card.set(pct(ev.accuracy), f"{n - wrong:,} of {n:,} {what} right")
        self.loss_card.set(f"{ev.loss:.3f}", "cross-entropy, lower is better")
        self.mistakes_card.set(f"{wrong:,}", f"{pct(wrong / n) if n else '–'} of the "
                                              f"{'images' if self.source else 'test set'}")
        summary = context.summary
        run = Path(self.checkpoint_path or "").parent.name
        where = (f"Classified {n:,} images of {self.source}" if self.source
                 else f"Evaluated on its {n:,} test images")
        self.model_label.setText(f"Model {summary.model_name} from run {run} "
                                 f"({Path(self.checkpoint_path or '').name}), trained on {summary.dataset_title}.\n"
                                 f"{where} in {self.eval_seconds:.1f} s.")
        self.model_label.setToolTip(self.checkpoint_path or "")

        self.matrix.set_matrix(ev.confusion_matrix(), ev.classes)
        self.matrix.set_normalised(self.percent_radio.isChecked())
        self.per_class.show_evaluation(ev)
        # Start on the most common mistake: the most instructive cell for a first look.
        self.select_cell(*ev.most_common_mistake())

    def set_normalised(self, normalised: bool) -> None:
        """Counts (False) or each row as percentages of its true class (True)."""
        if self.percent_radio.isChecked() != bool(normalised):
            self.percent_radio.setChecked(bool(normalised))
            self.counts_radio.setChecked(not normalised)
        self.matrix.set_normalised(bool(normalised))

    def select_cell(self, true_class: int, predicted_class: int) -> None:
        """Show the test images with this (true, predicted) pair, the most confident first (= a click)."""
        ev, images = self.evaluation, self.test_images
        if ev is None or images is None:  # both are set together, with the evaluation
            return
        k = len(ev.classes)
        if not (0 <= true_class < k and 0 <= predicted_class < k):
            return
        self.selected_cell = (int(true_class), int(predicted_class))
        self.matrix.set_selected(self.selected_cell)
        indices = ev.samples_for_cell(true_class, predicted_class)
        total = len(indices)
        shown = indices[:GALLERY_LIMIT]
        self.gallery_panel.describe(ev.classes, true_class, predicted_class, total, len(shown))
        self.gallery_panel.show_images(ev, images, shown)
        self.cellSelected.emit(*self.selected_cell)

    def gallery_indices(self) -> list[int]:
        """The test-set indices shown in the gallery, in order."""
        return list(self.gallery_panel.indices)

    def gallery_item_rect(self, position: int):
        """Viewport rectangle of the gallery's position-th image (for tests that click it)."""
        return self.gallery.visualItemRect(self.gallery.item(position))

    # ------------------------------------------------------------------------------------------------
    # Opening an image in the Inspect view
    def _on_gallery_clicked(self, item: QListWidgetItem) -> None:
        index = item.data(Qt.ItemDataRole.UserRole)
        if index is not None:
            self.open_in_inspect(int(index))

    def open_in_inspect(self, index: int) -> None:
        """Ask to look at test image `index` on the Inspect page (the main window connects the two)."""
        if self.source:
            return  # a classified folder's image: Inspect's index would name a different test image
        self.inspectRequested.emit(int(index))

    # ------------------------------------------------------------------------------------------------
    # The model outside this page: export it, or run it on a folder
    def export_model_dialog(self):
        """"Export model…" for the checkpoint in use."""
        from cnnstudio.ui.sessions.export_session import ExportSession
        from cnnstudio.ui.widgets.model_export_dialog import ModelExportDialog

        if not self.checkpoint_path or self.context is None:
            return None
        dialog = ModelExportDialog(ExportSession(self.session.state), self.checkpoint_path,
                                   ModelExportDialog.describe(self.context.summary), self)
        self.model_export_dialog = dialog
        dialog.open()
        return dialog

    def classify_folder_dialog(self):
        """"Classify a folder…" with the model in use; a labelled folder can come back here."""
        from cnnstudio.ui.sessions.classify_session import ClassifySession
        from cnnstudio.ui.widgets.classify_dialog import ClassifyFolderDialog

        if self.context is None:
            return None
        summary = self.context.summary
        text = f"Model {summary.model_name}, trained on {summary.dataset_title} ({len(summary.classes)} classes)."
        session = ClassifySession()
        dialog = ClassifyFolderDialog(session, self.context.predictor, text, self,
                                      show_on_evaluate=self.show_classified_folder)
        self.classify_dialog = dialog
        session.setParent(dialog)  # the folder's run lives and ends with its dialog
        dialog.open()
        return dialog

    def show_classified_folder(self, classification) -> bool:
        """Show a classified folder's images in class subfolders here, as an evaluation."""
        shown = self.session.show_folder(classification)
        if shown and self.classify_dialog is not None:
            self.classify_dialog.accept()
        return shown

    # ------------------------------------------------------------------------------------------------
    # Export
    def export_csv(self, path: str | Path) -> Path:
        """The per-class table (class, precision, recall, f1, support) as CSV."""
        if self.evaluation is None:
            raise RuntimeError("nothing to export: no evaluation yet")
        return self.evaluation.write_csv(path)

    def export_json(self, path: str | Path) -> Path:
        """Everything: accuracy, loss, per-class metrics, confusion matrix, the most confident mistakes."""
        if self.evaluation is None:
            raise RuntimeError("nothing to export: no evaluation yet")
        data = self.evaluation.to_dict()
        data["checkpoint"] = self.checkpoint_path
        if self.context is not None:
            data["dataset"] = self.context.summary.dataset_title
            data["split"] = self.source or "test"
        path = Path(path)
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
        return path

    def _default_name(self, suffix: str) -> str:
        run = Path(self.checkpoint_path or "evaluation").parent.name or "evaluation"
        return f"{run}-{suffix}"

    def _ask_path(self, title: str, name: str, filters: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self, title, name, filters)
        return path

    def export_csv_dialog(self) -> None:
        if self.evaluation is None:
            self.banner.show_message("Nothing to export yet: evaluate a model first.", "info")
            return
        path = self._ask_path("Export metrics as CSV", self._default_name("metrics.csv"), "CSV files (*.csv)")
        if path:
            self.report_saved(lambda: self.export_csv(path), path)

    def export_json_dialog(self) -> None:
        if self.evaluation is None:
            self.banner.show_message("Nothing to export yet: evaluate a model first.", "info")
            return
        path = self._ask_path("Export metrics as JSON", self._default_name("metrics.json"), "JSON files (*.json)")
        if path:
            self.report_saved(lambda: self.export_json(path), path)

    def grab_image(self, what: str) -> QImage:
        """A picture of the confusion matrix ("matrix"), the gallery ("gallery") or the table ("table")."""
        if self.evaluation is None:
            raise ValueError("nothing to save yet: evaluate a model first")
        widget = {"matrix": self.matrix, "gallery": self.gallery, "table": self.table}[what]
        if what == "matrix":
            return self.matrix.to_image(2.0)  # twice the size: crisp in documents
        return widget.grab().toImage()

    def png_name(self, what: str) -> str:
        names = {"matrix": "confusion-matrix.png", "gallery": "gallery.png", "table": "per-class.png"}
        return self._default_name(names[what])

    def png_menu_actions(self, menu: QMenu, what: str) -> None:
        if what == "matrix":
            menu.addSeparator()
            menu.addAction("Show counts", lambda: self.set_normalised(False))
            menu.addAction("Show % of true class", lambda: self.set_normalised(True))

    # ------------------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Drop late results; the main window then waits for the background calls."""
        self.session.shutdown()
