"""The Train page's right side: Start / Pause / Stop, the message banner, progress, charts and the log.

A view only: the page connects the buttons and decides what the texts say.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton, QSizePolicy, QSplitter,
                               QVBoxLayout, QWidget)

from cnnstudio.ui.widgets.banner import Banner
from cnnstudio.ui.widgets.charts import TrainingCharts

MAX_LOG_LINES = 2000
SHORTCUTS = {
    "start": ("F5", "Ctrl+Return"),
    "pause": ("Ctrl+P",),
    "stop": ("Shift+F5", "Ctrl+."),
}


def shortcut_text(action: str) -> str:
    return " or ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in SHORTCUTS[action])


class RunPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(6, 0, 0, 0)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("▶  Start training")
        self.start_button.setDefault(True)
        self.start_button.setMinimumHeight(34)
        self.start_button.setStyleSheet(
            "QPushButton:enabled { background: palette(highlight); color: palette(highlighted-text);"
            " font-weight: bold; padding: 4px 16px; border-radius: 4px; }")
        self.pause_button = QPushButton("❚❚  Pause")
        self.pause_button.setMinimumHeight(34)
        self.pause_button.setToolTip(f"Pause training; Resume continues exactly where it paused ({shortcut_text('pause')})")
        self.stop_button = QPushButton("■  Stop")
        self.stop_button.setMinimumHeight(34)
        self.stop_button.setToolTip("Stop training. The current state is saved as last.pt, so you can continue "
                                    f"later with 'Continue a run…' ({shortcut_text('stop')})")
        self.queue_button = QPushButton("+  Train next")
        self.queue_button.setMinimumHeight(34)
        self.queue_button.setToolTip("Add a run with these settings to the queue: queued runs train one after "
                                     "another, unattended, after the current one (the queue is on the Runs page)")
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.queue_button)
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        col.addLayout(buttons)
        self.queue_label = QLabel("")
        self.queue_label.setStyleSheet("color: palette(placeholder-text);")
        self.queue_label.setWordWrap(True)
        self.queue_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens
        self.queue_label.setVisible(False)
        col.addWidget(self.queue_label)

        self.banner = Banner()
        col.addWidget(self.banner)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("Not started")
        self.progress_bar.setMinimumHeight(22)
        # Its text ("Epoch 3/4 · step 22/85 · 2,462 images/s · ETA 0:08") must not widen the window.
        self.progress_bar.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        col.addWidget(self.progress_bar)
        self.status_label = QLabel("")
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setWordWrap(True)
        # A fixed height: new text must not re-layout the page (that would repaint every chart).
        self.status_label.setFixedHeight(2 * self.status_label.fontMetrics().lineSpacing() + 4)
        self.status_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        col.addWidget(self.status_label)

        self.charts = TrainingCharts()
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(MAX_LOG_LINES)
        self.log_view.setPlaceholderText("The training log appears here.")
        self.log_view.setMinimumHeight(60)
        font = self.log_view.font()
        font.setStyleHint(font.StyleHint.Monospace)
        font.setFamily("monospace")
        self.log_view.setFont(font)
        vsplit = QSplitter(Qt.Orientation.Vertical)
        vsplit.addWidget(self.charts)
        vsplit.addWidget(self.log_view)
        vsplit.setStretchFactor(0, 1)
        vsplit.setStretchFactor(1, 0)
        vsplit.setSizes([560, 110])
        vsplit.setChildrenCollapsible(False)
        col.addWidget(vsplit, 1)

    def log(self, text: str) -> None:
        self.log_view.appendPlainText(f"[{time.strftime('%H:%M:%S')}] {text}")

