""""Classify a folder…": every image below a folder through the model in use, as a sortable table.

A view over the folder's session (ui/sessions/classify_session.py's ClassifySession, handed in by the page
as a FolderClassifier): choose a folder, watch the progress (Stop keeps what is done), then a
table of files with what the model saw (a thumbnail of the prepared input), its top class and
confidence, and, for a folder sorted into class subfolders, the truth and the accuracy. The table is
saved as CSV; a labelled folder can be opened on the Evaluate page (confusion matrix, per-class
metrics, the gallery of mistakes). Double-click a row to open the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import (QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt, QUrl,
                            SignalInstance)
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QPixmap
from PySide6.QtWidgets import (QCheckBox, QDialog, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QMessageBox, QProgressBar, QPushButton, QTableView, QVBoxLayout, QWidget)

from cnnstudio.core.text import printable
from cnnstudio.ui.qimage import chw_to_hwc, crisp_qimage

if TYPE_CHECKING:  # imports torch: only their types are needed here
    from cnnstudio.core.classify import FolderClassification
    from cnnstudio.core.inference import Predictor


class FolderClassifier(Protocol):
    """What the dialog needs of its session: start and stop a folder's classification, its result."""

    progress: SignalInstance  # (images done, total)
    finished: SignalInstance  # FolderClassification (.cancelled when stopped early)
    failed: SignalInstance  # a line for the user

    @property
    def running(self) -> bool: ...

    @property
    def result(self) -> FolderClassification | None: ...

    def start(self, predictor: Predictor, folder: str) -> bool: ...

    def cancel(self) -> None: ...


THUMB = 40
COLUMNS = ("", "File", "Predicted", "Confidence", "Folder's class", "Right")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1


class FolderResultModel(QAbstractTableModel):
    """A FolderClassification as rows; thumbnails drawn when a row is first shown."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.result: FolderClassification | None = None
        self._thumbs: dict[int, QPixmap] = {}

    def set_result(self, result: FolderClassification | None) -> None:
        self.beginResetModel()
        self.result, self._thumbs = result, {}
        self.endResetModel()

    # Qt's API: the default index is the root (B008: QModelIndex() is a value, built once, never changed).
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or self.result is None else len(self.result.results)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.result is None:
            return None
        row, col = index.row(), index.column()
        r = self.result.results[row]
        classes = self.result.classes
        truth = "" if r.truth is None else classes[r.truth]
        right = "" if r.correct is None else ("yes" if r.correct else "no")
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            return self._thumb(row)
        if role == Qt.ItemDataRole.DisplayRole:
            return {1: printable(r.path), 2: printable(r.label) + (" (empty image)" if r.empty else ""),
                    3: f"{r.confidence:.1%}", 4: printable(truth), 5: right}.get(col)
        if role == SORT_ROLE:
            return {0: row, 1: r.path.casefold(), 2: r.label.casefold(), 3: r.confidence, 4: truth.casefold(),
                    5: right}.get(col)
        if role == Qt.ItemDataRole.ToolTipRole and col in (1, 2, 3):
            return "\n".join(f"{printable(name)}: {p:.1%}" for name, p in r.top)
        if role == Qt.ItemDataRole.ForegroundRole and col == 5 and r.correct is False:
            return QBrush(QColor("#c0392b"))
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _thumb(self, row: int) -> QPixmap | None:
        pixels = self.result.pixels if self.result is not None else None
        if pixels is None or row >= len(pixels):
            return None
        if row not in self._thumbs:
            image = crisp_qimage(chw_to_hwc(np.ascontiguousarray(pixels[row])), THUMB)
            self._thumbs[row] = QPixmap.fromImage(image).scaled(
                THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        return self._thumbs[row]


class ClassifyFolderDialog(QDialog):
    def __init__(self, session: FolderClassifier, predictor: Predictor, model_text: str, parent: QWidget | None = None,
                 show_on_evaluate: Callable[[FolderClassification], object] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Classify a folder")
        self.predictor = predictor
        self.session = session
        self._show_on_evaluate = show_on_evaluate

        about = QLabel(f"{model_text}\nEvery image below the folder is prepared as in Draw and Inspect and classified. "
                       "Images in subfolders named after the classes are scored against them.")
        about.setWordWrap(True)
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("A folder of images (subfolders are included)")
        self.folder_edit.returnPressed.connect(self.start)
        choose = QPushButton("Choose folder…")
        choose.clicked.connect(self._choose)
        self.classify_button = QPushButton("Classify")
        self.classify_button.setDefault(True)
        self.classify_button.clicked.connect(self.start)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(choose)
        folder_row.addWidget(self.classify_button)

        self.progress = QProgressBar()
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop here and keep the images classified so far")
        self.stop_button.clicked.connect(self.session.cancel)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.stop_button)
        self.progress_widget = QWidget()
        self.progress_widget.setLayout(progress_row)
        progress_row.setContentsMargins(0, 0, 0, 0)
        self.progress_widget.hide()

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.mistakes_check = QCheckBox("Only mistakes")
        self.mistakes_check.setToolTip("Show only the images whose predicted class is not their folder's class")
        self.mistakes_check.toggled.connect(self._filter)
        self.mistakes_check.hide()
        summary_row = QHBoxLayout()
        summary_row.addWidget(self.summary, 1)
        summary_row.addWidget(self.mistakes_check)

        self.model = FolderResultModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(THUMB + 4)
        self.table.setIconSize(self.table.iconSize().expandedTo(QPixmap(THUMB, THUMB).size()))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(self._open_file)
        self.skipped_label = QLabel()
        self.skipped_label.setWordWrap(True)
        self.skipped_label.setStyleSheet("color: palette(placeholder-text);")
        self.skipped_label.hide()

        self.csv_button = QPushButton("Save CSV…")
        self.csv_button.clicked.connect(self.save_csv_dialog)
        self.evaluate_button = QPushButton("Show on Evaluate")
        self.evaluate_button.setToolTip("Confusion matrix, per-class metrics and the mistakes of the images in "
                                        "class folders, on the Evaluate page")
        self.evaluate_button.clicked.connect(self.show_on_evaluate)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.csv_button)
        buttons.addWidget(self.evaluate_button)
        buttons.addStretch(1)
        buttons.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addWidget(about)
        layout.addLayout(folder_row)
        layout.addWidget(self.progress_widget)
        layout.addLayout(summary_row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.skipped_label)
        layout.addLayout(buttons)
        self.resize(760, 560)

        self.session.progress.connect(self._on_progress)
        self.session.finished.connect(self._on_finished)
        self.session.failed.connect(self._on_failed)
        self._sync_buttons()

    # -- running -------------------------------------------------------------------------------------
    def _choose(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of images", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)
            self.start()

    def start(self, folder: str | None = None) -> bool:
        folder = folder if isinstance(folder, str) else self.folder_edit.text().strip()
        if not folder:
            self.summary.setText("Choose a folder first.")
            return False
        self.folder_edit.setText(folder)
        if not self.session.start(self.predictor, folder):
            return False
        self.model.set_result(None)
        self.progress.setRange(0, 0)
        self.progress_widget.show()
        self.summary.setText(f"Looking for images in {folder}…")
        self.summary.setStyleSheet("")
        self.skipped_label.hide()
        self._sync_buttons()
        return True

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.progress.setFormat(f"{done:,} / {total:,}")

    def _on_finished(self, result: FolderClassification) -> None:
        self.progress_widget.hide()
        self.model.set_result(result)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # the walk's order until the user sorts
        if not result.results and not result.skipped:
            self.summary.setText(f"No images found in {result.folder}.")
        else:
            self.summary.setText(result.summary()[:1].upper() + result.summary()[1:] + ".")
        self.mistakes_check.setVisible(result.accuracy is not None)
        if result.skipped:
            shown = "; ".join(f"{name} ({why})" for name, why in result.skipped[:8])
            more = f"; and {len(result.skipped) - 8} more (in the CSV)" if len(result.skipped) > 8 else ""
            self.skipped_label.setText(f"Skipped: {shown}{more}")
            self.skipped_label.show()
        self._sync_buttons()

    def _on_failed(self, message: str) -> None:
        self.progress_widget.hide()
        self.summary.setText(message)
        self.summary.setStyleSheet("color: #c0392b;")
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        result = self.session.result
        running = self.session.running
        self.classify_button.setEnabled(not running)
        self.csv_button.setEnabled(result is not None and bool(result.results or result.skipped) and not running)
        self.evaluate_button.setVisible(self._show_on_evaluate is not None)
        self.evaluate_button.setEnabled(result is not None and result.accuracy is not None and not running)

    def _filter(self, only_mistakes: bool) -> None:
        result = self.session.result
        for row in range(self.proxy.rowCount()):
            self.table.setRowHidden(row, False)
        if not only_mistakes or result is None:
            return
        for row in range(self.proxy.rowCount()):
            source = self.proxy.mapToSource(self.proxy.index(row, 0)).row()
            self.table.setRowHidden(row, result.results[source].correct is not False)

    # -- what to do with the result ------------------------------------------------------------------
    def save_csv(self, path: str | Path) -> Path:
        if self.session.result is None:
            raise RuntimeError("nothing classified yet")
        return self.session.result.write_csv(path)

    def save_csv_dialog(self) -> None:
        result = self.session.result
        if result is None:
            return
        name = str(Path(result.folder).with_name(Path(result.folder).name + "-predictions.csv"))
        path, _ = QFileDialog.getSaveFileName(self, "Save the table as CSV", name, "CSV (*.csv)")
        if not path:
            return
        from cnnstudio.core.errors import CNNStudioError

        try:
            self.save_csv(path)
        except CNNStudioError as exc:
            QMessageBox.warning(self, "Not saved", str(exc))

    def show_on_evaluate(self) -> None:
        if self._show_on_evaluate is not None and self.session.result is not None:
            self._show_on_evaluate(self.session.result)

    def _open_file(self, index: QModelIndex) -> None:
        result = self.session.result
        if result is None:
            return
        row = self.proxy.mapToSource(index).row()
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(result.folder) / result.results[row].path)))

    def reject(self) -> None:
        self.session.cancel()
        super().reject()
