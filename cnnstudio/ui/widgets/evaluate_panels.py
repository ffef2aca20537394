"""The Evaluate page's three views of one evaluation: the confusion matrix, the gallery of one cell's test
images, and the per-class table.

Views only: they show a cnnstudio.core.metrics.Evaluation they are given and emit what the user clicks;
the page connects them (a cell to the gallery, an image to the Inspect page).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QListWidgetItem, QRadioButton, QTableWidgetItem, \
    QVBoxLayout, QWidget

from cnnstudio.core.text import printable
from cnnstudio.ui.qimage import chw_to_hwc, numpy_to_qimage
from cnnstudio.ui.widgets.confusion_matrix import ConfusionMatrixView
from cnnstudio.ui.widgets.metric_card import NumberItem, per_class_table, thumbnail_gallery
from cnnstudio.ui.widgets.prediction import format_probability
from cnnstudio.ui.widgets.section_title import section_title

if TYPE_CHECKING:  # these import torch: only their types are needed here
    from cnnstudio.core.metrics import Evaluation

THUMB = 84  # target thumbnail side in pixels (whole-factor nearest-neighbour scaling)
UNBALANCED = 3.0  # most / fewest test images per class above which the table opens sorted by recall
RECALL_COLUMN = 2


def pct(value: float) -> str:
    return f"{100 * value:.1f} %"


class MatrixPanel(QWidget):
    """The confusion matrix with its title, Counts / % of true class, and how to read it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 6, 0)
        top = QHBoxLayout()
        top.addWidget(section_title("Confusion matrix"))
        top.addStretch(1)
        self.counts_radio = QRadioButton("Counts")
        self.percent_radio = QRadioButton("% of true class")
        self.counts_radio.setToolTip("Each cell: how many test images of the row's class got the column's class")
        self.percent_radio.setToolTip("Each row as percentages: the diagonal is each class's recall")
        self.counts_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.counts_radio)
        group.addButton(self.percent_radio)
        top.addWidget(self.counts_radio)
        top.addWidget(self.percent_radio)
        layout.addLayout(top)
        self.hint = QLabel("Rows: the true class · columns: what the model said. Blue diagonal: right; "
                           "red: mistakes. Click a cell to see its images.")
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)
        self.matrix = ConfusionMatrixView()
        self.matrix.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        layout.addWidget(self.matrix, 1)


class GalleryPanel(QWidget):
    """One cell's test images, the most confident first, each with the model's guess and the truth."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 0, 0)
        self.title = section_title("Images")
        layout.addWidget(self.title)
        self.hint = QLabel("Click a cell of the matrix to see its test images.")
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)
        self.gallery = thumbnail_gallery()
        self.gallery.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        layout.addWidget(self.gallery, 1)
        self.indices: list[int] = []  # the test-set indices shown, in order

    def describe(self, classes: list[str], true_class: int, predicted_class: int, total: int, shown: int) -> None:
        t_name, p_name = printable(classes[true_class]), printable(classes[predicted_class])
        if true_class == predicted_class:
            self.title.setText(f"{t_name}: recognised correctly ({total:,})")
        else:
            self.title.setText(f"{t_name} mistaken for {p_name} ({total:,})")
        if total == 0:
            self.hint.setText("No test image falls in this cell.")
        else:
            capped = f" Showing the {shown:,} most confident of {total:,}." if total > shown else ""
            self.hint.setText("Most confident first; the percentage is the model's confidence in "
                              f"{p_name}. Click an image to look inside the network with it.{capped}")

    def show_images(self, evaluation: Evaluation, images: np.ndarray, indices: np.ndarray) -> None:
        """Thumbnails of test images `indices` (of uint8 (N, C, H, W) `images`), scaled by a whole factor."""
        ev, gallery = evaluation, self.gallery
        gallery.clear()
        self.indices = [int(i) for i in indices]
        if not len(indices):
            return
        h, w = images.shape[2:]
        scale = max(1, round(THUMB / max(h, w)))
        icon = QSize(w * scale, h * scale)
        fm = gallery.fontMetrics()
        cell_w = max(icon.width() + 12, fm.horizontalAdvance("100.0 % pentagon") + 6)
        gallery.setIconSize(icon)
        gallery.setGridSize(QSize(cell_w, icon.height() + 2 * fm.height() + 10))
        preds = ev.predictions
        gallery.setUpdatesEnabled(False)
        for i in self.indices:
            t, p = int(ev.labels[i]), int(preds[i])
            conf = float(ev.probabilities[i, p])
            pixmap = QPixmap.fromImage(numpy_to_qimage(chw_to_hwc(images[i]))).scaled(
                icon, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
            mark = "✓" if t == p else "✗"
            text = f"{format_probability(conf)} {printable(ev.classes[p])}\n{mark} true: {printable(ev.classes[t])}"
            item = QListWidgetItem(QIcon(pixmap), text)
            item.setData(Qt.ItemDataRole.UserRole, i)
            order = np.argsort(-ev.probabilities[i])[:3]
            guesses = "\n".join(f"  {printable(ev.classes[j])}: {format_probability(float(ev.probabilities[i, j]))}"
                                for j in order)
            item.setToolTip(f"Test image #{i}\nTrue class: {printable(ev.classes[t])}\nTop guesses:\n{guesses}\n"
                            "Click to look inside the network with it")
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            gallery.addItem(item)
        gallery.setUpdatesEnabled(True)
        gallery.scrollToTop()


class PerClassPanel(QWidget):
    """Precision, recall, F1 and support per class, sortable; unbalanced classes open on the worst recall."""

    classActivated = Signal(int)  # a class the user double-clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 0, 0)
        top = QHBoxLayout()
        top.addWidget(section_title("Per class"))
        top.addStretch(1)
        self.macro_label = QLabel()
        top.addWidget(self.macro_label)
        layout.addLayout(top)
        # Said only when the test classes are unbalanced; wraps, so it never widens the page.
        self.balance_label = QLabel()
        self.balance_label.setWordWrap(True)
        self.balance_label.setStyleSheet("color: #d35400;")
        self.balance_label.setVisible(False)
        layout.addWidget(self.balance_label)
        self.table = per_class_table()
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.itemDoubleClicked.connect(self._on_double_clicked)
        layout.addWidget(self.table, 1)

    def show_evaluation(self, evaluation: Evaluation) -> None:
        """The table of an Evaluation (anything with per_class() and macro_averages())."""
        rows = evaluation.per_class()
        table = self.table
        table.setSortingEnabled(False)
        table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            name = QTableWidgetItem(row["class"])
            name.setData(Qt.ItemDataRole.UserRole + 1, r)  # the class index, whatever the sort order
            table.setItem(r, 0, name)
            for c, key in enumerate(("precision", "recall", "f1"), start=1):
                table.setItem(r, c, NumberItem(pct(row[key]), row[key]))
            table.setItem(r, 4, NumberItem(f"{row['support']:,}", row["support"]))
        table.setSortingEnabled(True)
        macro = evaluation.macro_averages()
        self.macro_label.setText(f"Average over classes: precision {pct(macro['precision'])}, recall "
                                 f"{pct(macro['recall'])}, F1 {pct(macro['f1'])}")
        counts = [row["support"] for row in rows if row["support"]]
        unbalanced = bool(counts) and max(counts) > UNBALANCED * min(counts)
        if unbalanced:
            # Overall accuracy hides a rare class the model misses: lowest recall first.
            table.sortItems(RECALL_COLUMN, Qt.SortOrder.AscendingOrder)
            self.balance_label.setText(f"Unbalanced classes ({max(counts):,} to {min(counts):,} test images): "
                                       "sorted by recall, the classes the model misses most first.")
        self.balance_label.setVisible(unbalanced)
        table.setToolTip("Click a column header to sort. Double-click a class to see its correct images.")

    def _on_double_clicked(self, item: QTableWidgetItem) -> None:
        name = self.table.item(item.row(), 0)
        index = name.data(Qt.ItemDataRole.UserRole + 1) if name is not None else None
        if index is not None:
            self.classActivated.emit(int(index))
