"""Continue a run: pick it by name, date and accuracy instead of hunting for its last.pt in a file dialog.

Lists the runs that can be continued (those with a last.pt), newest first; "Other file…" still opens a
file dialog for a checkpoint kept elsewhere. The dialog only answers with a path: `chosen`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QHeaderView, QLabel, QPushButton, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from cnnstudio.core import paths
from cnnstudio.core.runs import RunSummary, list_runs, run_label

STATUS = {"finished": "Finished", "early-stopped": "Stopped early", "stopped": "Stopped", "failed": "Failed",
          "incomplete": "Incomplete", "damaged": "Damaged"}


def continuable(runs: list[RunSummary]) -> list[RunSummary]:
    """Runs with a last.pt to continue from (a damaged folder's checkpoint may still be fine: kept), but
    not one a process is training now (another `cnnstudio train`): it would be refused as in use."""
    return [r for r in runs if r.has_last and r.status != "training"]


class RunPicker(QDialog):
    chosen = Signal(str)  # the last.pt to continue from

    def __init__(self, parent: QWidget | None = None, root: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Continue a run")
        self.resize(760, 420)
        self.runs = continuable(list_runs(root or paths.runs_dir()))
        layout = QVBoxLayout(self)
        intro = QLabel("Training goes on from the run's last.pt, with its own settings; raise Epochs on the Train "
                       "page first to train longer than it was meant to.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.table = QTreeWidget()
        self.table.setRootIsDecorated(False)
        self.table.setHeaderLabels(["Run", "Dataset", "Date", "Epochs", "Best val. acc.", "Status"])
        self.table.header().setStretchLastSection(False)
        self.table.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, 6):
            self.table.header().setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        for run in self.runs:
            epochs = f"{run.epochs_done}/{run.epochs_planned}" if run.epochs_planned else str(run.epochs_done)
            acc = f"{100 * run.best_val_accuracy:.1f} %" if run.best_val_accuracy is not None else ""
            item = QTreeWidgetItem([run_label(run, 48), run.dataset or "", run.date_text, epochs, acc,
                                    STATUS.get(run.status, run.status)])
            item.setData(0, Qt.ItemDataRole.UserRole, run.last_checkpoint)
            item.setToolTip(0, f"{run.name}\n{run.path}" + (f"\n{run.message}" if run.message else ""))
            self.table.addTopLevelItem(item)
        first = self.table.topLevelItem(0)
        if first is not None:  # the newest run (none when the list is empty)
            self.table.setCurrentItem(first)
        self.table.itemDoubleClicked.connect(lambda _item, _col: self.accept())
        layout.addWidget(self.table, 1)
        self.empty_label = QLabel("No run can be continued yet: runs that were stopped or finished appear here. "
                                  "Use “Other file…” for a checkpoint kept elsewhere.")
        self.empty_label.setWordWrap(True)
        self.empty_label.setVisible(not self.runs)
        layout.addWidget(self.empty_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.continue_button = buttons.addButton("Continue this run", QDialogButtonBox.ButtonRole.AcceptRole)
        self.continue_button.setEnabled(bool(self.runs))
        self.other_button = QPushButton("Other file…")
        buttons.addButton(self.other_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.other_button.clicked.connect(self._other_file)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def selected_checkpoint(self) -> str | None:
        item = self.table.currentItem()
        return None if item is None else item.data(0, Qt.ItemDataRole.UserRole)

    def accept(self) -> None:
        path = self.selected_checkpoint()
        if path:
            super().accept()
            self.chosen.emit(path)

    def _other_file(self) -> None:
        start = str(paths.runs_dir()) if paths.runs_dir().is_dir() else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Continue training from a checkpoint", start,
                                              "CNN Studio checkpoints (*.pt);;All files (*)")
        if path:
            super().accept()
            self.chosen.emit(path)
