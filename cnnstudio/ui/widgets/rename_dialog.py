"""The Runs page's "Rename run" dialog: a name that cannot be used keeps the dialog open.

QInputDialog closes on OK whatever was typed, so a refused name (a slash, a name already taken) lost what
the user typed behind an error box. Here OK hands the name to `rename` (the page's session), which
renames the folder or says why not; a refusal is one line under the field, the text stays as typed and
selected for the fix, and the dialog closes only once the run is renamed (or on Cancel).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QLineEdit, QVBoxLayout, QWidget


class RenameDialog(QDialog):
    """Asks for a run folder's new name. `rename(name)` returns None once renamed, else why not (one line).
    Public: name_edit, problem_label, accept()."""

    def __init__(self, current: str, rename: Callable[[str], str | None], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Rename run")
        self._current = current
        self._rename = rename
        col = QVBoxLayout(self)
        col.addWidget(QLabel("New name for the run folder:"))
        self.name_edit = QLineEdit(current)
        self.name_edit.selectAll()
        self.name_edit.textEdited.connect(lambda _text: self._show_problem(None))
        col.addWidget(self.name_edit)
        self.problem_label = QLabel()
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #c0392b;")
        self.problem_label.setVisible(False)
        col.addWidget(self.problem_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        col.addWidget(buttons)
        self.setMinimumWidth(420)

    def accept(self) -> None:
        """Rename, and close only if that worked; else say why and keep what was typed."""
        name = self.name_edit.text()
        if name == self._current:  # nothing to do
            super().accept()
            return
        problem = self._rename(name)
        if problem is not None:
            self._show_problem(problem)
            self.name_edit.setFocus()
            self.name_edit.selectAll()
            return
        super().accept()

    def _show_problem(self, text: str | None) -> None:
        self.problem_label.setText(text or "")
        self.problem_label.setVisible(bool(text))
