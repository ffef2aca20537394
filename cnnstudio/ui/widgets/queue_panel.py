"""The training queue on the Runs page: what waits to train, in order; reorder, remove, hold or start it.

A plain view of the training queue: show_queue() draws the waiting runs (id, one-line summary) and
whether the queue is held; what the user asks for goes out as signals (the Runs page connects them to
the TrainQueue). It is hidden while the queue is empty.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QSizePolicy, QVBoxLayout,
                               QWidget)

ID_ROLE = Qt.ItemDataRole.UserRole


class QueuePanel(QWidget):
    startRequested = Signal()  # "Start queue"
    moveRequested = Signal(int, int)  # (entry id, -1 up / +1 down)
    removeRequested = Signal(int)  # entry id

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 4, 0, 0)
        col.setSpacing(4)
        top = QHBoxLayout()
        self.title_label = QLabel()
        self.title_label.setWordWrap(True)
        # Its text grows with the queue: it must never widen the window (1024 px screens).
        self.title_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top.addWidget(self.title_label, 1)
        self.start_button = QPushButton("▶  Start queue")
        self.start_button.setToolTip("Train the queued runs one after another, starting now (or when the current "
                                     "run ends)")
        self.start_button.clicked.connect(self.startRequested)
        self.up_button = QPushButton("Up")
        self.up_button.clicked.connect(lambda: self._move(-1))
        self.down_button = QPushButton("Down")
        self.down_button.clicked.connect(lambda: self._move(1))
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Take the selected run out of the queue")
        self.remove_button.clicked.connect(self._remove)
        for b in (self.start_button, self.up_button, self.down_button, self.remove_button):
            top.addWidget(b)
        col.addLayout(top)
        self.list = QListWidget()
        self.list.setMaximumHeight(4 * self.list.fontMetrics().lineSpacing() + 12)
        self.list.currentRowChanged.connect(lambda _r: self._update_buttons())
        col.addWidget(self.list)
        self.show_queue([], held=False)

    def show_queue(self, entries: Sequence[tuple[int, str]], held: bool) -> None:
        """The waiting runs in order, as (entry id, summary); held: a stop holds the queue."""
        keep = self._selected_id()
        self.list.clear()
        for i, (entry_id, summary) in enumerate(entries, start=1):
            item = QListWidgetItem(f"{i}.  {summary}")
            item.setData(ID_ROLE, entry_id)
            self.list.addItem(item)
            if entry_id == keep:
                self.list.setCurrentItem(item)
        n = len(entries)
        state = " · held after a stop" if held else ""
        self.title_label.setText(f"<b>Queue</b>: {n} run{'s' if n != 1 else ''} waiting to train, in this order"
                                 f"{state}")
        self.setVisible(n > 0)
        self._update_buttons()

    def _selected_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(ID_ROLE))

    def _update_buttons(self) -> None:
        row = self.list.currentRow()
        n = self.list.count()
        self.up_button.setEnabled(row > 0)
        self.down_button.setEnabled(0 <= row < n - 1)
        self.remove_button.setEnabled(row >= 0)
        self.start_button.setEnabled(n > 0)

    def _move(self, delta: int) -> None:
        entry_id = self._selected_id()
        if entry_id is not None:
            self.moveRequested.emit(entry_id, delta)

    def _remove(self) -> None:
        entry_id = self._selected_id()
        if entry_id is not None:
            self.removeRequested.emit(entry_id)
