"""The training queue on the Runs and Train pages: what waits to train, in order; reorder, remove, hold or
start it, and on the Train page edit an entry.

A plain view of the training queue: show_queue() draws the waiting runs (id, one-line summary, and for
an entry that can no longer train the reason) and whether the queue is held; what the user asks for
goes out as signals (the page connects them to the TrainQueue or its session). It is hidden while the
queue is empty.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QSizePolicy, QVBoxLayout,
                               QWidget)

ID_ROLE = Qt.ItemDataRole.UserRole
STALE_ROLE = Qt.ItemDataRole.UserRole + 1  # why the entry cannot train, or None


class QueuePanel(QWidget):
    startRequested = Signal()  # "Start queue"
    moveRequested = Signal(int, int)  # (entry id, -1 up / +1 down)
    removeRequested = Signal(int)  # entry id
    editRequested = Signal(int)  # entry id: its settings into the form, to change them in place

    def __init__(self, parent: QWidget | None = None, editable: bool = False):
        """editable: the Train page's panel, in its narrow settings column: an Edit button, and the buttons
        on a row of their own under the list, short (their tooltips say what they do)."""
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
        self.up_button.setToolTip("Train the selected run earlier")
        self.down_button.setToolTip("Train the selected run later")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Take the selected run out of the queue")
        self.remove_button.clicked.connect(self._remove)
        self.edit_button = QPushButton("Edit")
        self.edit_button.setToolTip("Put the selected run's settings in the form: change them, then Train next "
                                    "updates that run in its place")
        self.edit_button.clicked.connect(self._edit)
        self.edit_button.setVisible(editable)
        top.addWidget(self.start_button)
        row = QHBoxLayout() if editable else top
        for b in (self.up_button, self.down_button, self.edit_button, self.remove_button):
            row.addWidget(b)
        col.addLayout(top)
        if editable:  # the settings column is narrow (255 px at least): short buttons, under the list
            self.up_button.setText("▲")
            self.down_button.setText("▼")
            for b in (self.up_button, self.down_button, self.edit_button, self.remove_button):
                b.setMaximumWidth(b.fontMetrics().horizontalAdvance(b.text()) + 28)
            row.addStretch(1)
        self.list = QListWidget()
        self.list.setMaximumHeight(4 * self.list.fontMetrics().lineSpacing() + 12)
        self.list.currentRowChanged.connect(lambda _r: self._update_buttons())
        col.addWidget(self.list)
        if editable:
            # Narrow: a summary too long for the column ends in "…" (the whole of it is its tooltip).
            self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
            col.addLayout(row)
        self.show_queue([], held=False)

    def show_queue(self, entries: Sequence[tuple[int, str]], held: bool,
                   problems: Sequence[str | None] = ()) -> None:
        """The waiting runs in order, as (entry id, summary); held: a stop holds the queue; problems: for
        each entry, why it cannot train (None: it can), shown greyed with the reason."""
        keep = self._selected_id()
        self.list.clear()
        muted = self.palette().placeholderText()
        for i, (entry_id, summary) in enumerate(entries, start=1):
            item = QListWidgetItem(f"{i}.  {summary}")
            item.setData(ID_ROLE, entry_id)
            problem = problems[i - 1] if i - 1 < len(problems) else None
            item.setData(STALE_ROLE, problem)
            item.setToolTip(summary)
            if problem:
                item.setForeground(QBrush(muted))
                item.setToolTip(f"This run cannot train: {problem}. Remove it, or queue it again with new settings.")
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
        item = self.list.currentItem()
        self.edit_button.setEnabled(item is not None and not item.data(STALE_ROLE))
        self.start_button.setEnabled(n > 0)

    def _move(self, delta: int) -> None:
        entry_id = self._selected_id()
        if entry_id is not None:
            self.moveRequested.emit(entry_id, delta)

    def _edit(self) -> None:
        entry_id = self._selected_id()
        if entry_id is not None:
            self.editRequested.emit(entry_id)

    def select(self, entry_id: int) -> bool:
        """Select an entry by id (False when it is not shown)."""
        for row in range(self.list.count()):
            if self.list.item(row).data(ID_ROLE) == entry_id:
                self.list.setCurrentRow(row)
                return True
        return False

    def _remove(self) -> None:
        entry_id = self._selected_id()
        if entry_id is not None:
            self.removeRequested.emit(entry_id)
