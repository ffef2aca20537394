"""The Record tab: the folder recorded into, one row per class (hold its button to record), and the notes.

A view only: it shows a RecordStatus (ui/values.py) and says what the user does through its signals;
the page connects them to its RecordSession.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFrame, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QScrollArea,
                               QVBoxLayout, QWidget)

from cnnstudio.core.text import plural, printable
from cnnstudio.ui.values import ClassRecord, RecordStatus
from cnnstudio.ui.widgets.elided_label import ElidedLabel
from cnnstudio.ui.widgets.muted import muted_color, paint_muted
from cnnstudio.ui.widgets.section_title import section_title


class _ClassRow(QFrame):
    def __init__(self, name: str, panel: RecordPanel) -> None:
        super().__init__()
        self.name = name
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 4, 0, 4)
        self.title = QLabel(f"<b>{_html(printable(name))}</b>")
        self.count = QLabel()
        self.hold = QPushButton("Hold to record")
        self.hold.setToolTip(f"Hold down to record '{printable(name)}' (a few pictures a second)")
        self.hold.pressed.connect(lambda: panel.holdStarted.emit(name))
        self.hold.released.connect(lambda: panel.holdEnded.emit(name))
        remove = QPushButton("×")
        remove.setFixedWidth(28)
        remove.setToolTip("Take this class off the list (its pictures stay in the folder)")
        remove.clicked.connect(lambda: panel.removeRequested.emit(name))
        self.advice = QLabel()
        self.advice.setWordWrap(True)
        grid.addWidget(self.title, 0, 0)
        grid.addWidget(self.count, 0, 1, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.hold, 1, 0)
        grid.addWidget(remove, 1, 1, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.advice, 2, 0, 1, 2)
        grid.setColumnStretch(0, 1)

    def update_row(self, row: ClassRecord, recording: bool) -> None:
        self.count.setText(plural(row.count, "picture"))
        self.hold.setText("Recording…" if recording else "Hold to record")
        variety = row.variety
        if variety is None or variety.frames < 2:
            self.advice.setText("")
        else:
            figures = (f"This recording: brightness varies ±{variety.brightness_spread:.0%}, consecutive "
                       f"frames {max(variety.similarity, 0.0):.0%} alike.")
            self.advice.setText(f"{figures}\n{variety.advice}" if variety.advice else figures)
        self.advice.setVisible(bool(self.advice.text()))


class RecordPanel(QWidget):
    folderRequested = Signal()
    addRequested = Signal(str)
    removeRequested = Signal(str)
    holdStarted = Signal(str)
    holdEnded = Signal(str)
    datasetRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(section_title("Dataset folder"))
        folder_row = QHBoxLayout()
        self.folder = ElidedLabel(Qt.TextElideMode.ElideMiddle)
        self.folder.setText("No folder chosen")
        choose = QPushButton("Choose…")
        choose.clicked.connect(self.folderRequested)
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(choose)
        layout.addLayout(folder_row)
        layout.addWidget(section_title("Classes"))
        self._rows_box = QWidget()
        self._rows = QVBoxLayout(self._rows_box)
        self._rows.setContentsMargins(0, 0, 0, 0)
        self._rows.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self._rows_box)
        layout.addWidget(scroll, 1)
        add_row = QHBoxLayout()
        self.new_class = QLineEdit()
        self.new_class.setPlaceholderText("New class name")
        add = QPushButton("Add class")
        add.clicked.connect(self._add)
        self.new_class.returnPressed.connect(self._add)
        add_row.addWidget(self.new_class, 1)
        add_row.addWidget(add)
        layout.addLayout(add_row)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.note)
        self.hint = QLabel("Hold a class's button while the camera shows examples of it: move the object, "
                           "change the light and the background as you go.")
        self.hint.setWordWrap(True)
        paint_muted([self.hint], muted_color(self, text_weight=0.68))
        layout.addWidget(self.hint)
        self.use = QPushButton("Use as dataset")
        self.use.setToolTip("Load this folder on the Data page, ready to train on")
        self.use.clicked.connect(self.datasetRequested)
        layout.addWidget(self.use)
        self._by_name: dict[str, _ClassRow] = {}

    def _add(self) -> None:
        text = self.new_class.text()
        if text.strip():
            self.addRequested.emit(text)

    def show_status(self, status: RecordStatus) -> None:
        self.folder.setText(status.folder or "No folder chosen")
        self.folder.setToolTip(status.folder or "")
        names = [row.name for row in status.classes]
        if names != list(self._by_name):
            for row_widget in self._by_name.values():
                row_widget.setParent(None)
                row_widget.deleteLater()
            self._by_name = {}
            for name in names:
                row_widget = _ClassRow(name, self)
                self._rows.insertWidget(self._rows.count() - 1, row_widget)
                self._by_name[name] = row_widget
        for row in status.classes:
            self._by_name[row.name].update_row(row, status.recording == row.name)
        self.note.setText(status.note)
        self.note.setVisible(bool(status.note))

    def class_added(self) -> None:
        self.new_class.clear()

    def hold_button(self, name: str) -> QPushButton:
        return self._by_name[name].hold


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
