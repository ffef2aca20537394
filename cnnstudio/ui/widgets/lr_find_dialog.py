"""The "Find learning rate" dialog of the Train page: the range test's loss against the learning rate on
a log axis, the suggestion marked, and "Use this", which hands the suggestion to the form.

The view only: the finder runs in a session (ui/sessions/lr_find_session.py's LrFindSession, handed in by
the page as an LrFinder), which sends progress and the frozen LrFindResult.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol

import pyqtgraph as pg
from PySide6.QtCore import Signal, SignalInstance
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from cnnstudio.core.training.config import TrainConfig

if TYPE_CHECKING:  # imports torch: only its type is needed here
    from cnnstudio.core.datasets.base import Dataset
    from cnnstudio.core.training.lr_find import LrFindResult


class LrFinder(Protocol):
    """What the dialog needs of the finder's session: start, cancel, its signals and its last result."""

    progress: SignalInstance  # (step, steps)
    finished: SignalInstance  # LrFindResult
    failed: SignalInstance  # a line for the user
    cancelled: SignalInstance

    @property
    def busy(self) -> bool: ...

    @property
    def result(self) -> LrFindResult | None: ...

    def start(self, config: TrainConfig, dataset: Dataset | None = None) -> None: ...

    def cancel(self) -> bool: ...


def form_value(lr: float) -> float:
    """The suggestion as the form shows it: two significant digits (as the form's arrows step)."""
    return float(f"{lr:.2g}")


class LrFindDialog(QDialog):
    """Runs the finder when started; "Use this" emits lrChosen(lr) and closes."""

    lrChosen = Signal(float)

    def __init__(self, session: LrFinder, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Find learning rate")
        self.resize(640, 460)
        self.session = session
        layout = QVBoxLayout(self)
        self.intro = QLabel("A short run in which the learning rate rises step by step from 1e-7 to 10 while the "
                            "loss is recorded (the range test). The suggestion is where the loss falls steadily, "
                            "well before it climbs; the model and settings are left as they are.")
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        self.plot = pg.PlotWidget()
        self.plot.setLogMode(x=True, y=False)
        self.plot.setLabel("bottom", "learning rate (log scale)")
        self.plot.setLabel("left", "smoothed loss")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#1f77b4", width=2))
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("#d62728", width=1.5))
        self.marker.setVisible(False)
        self.plot.addItem(self.marker)
        self.point = self.plot.plot([], [], pen=None, symbol="o", symbolBrush="#d62728", symbolSize=10)
        layout.addWidget(self.plot, 1)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        layout.addWidget(self.progress_bar)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = QPushButton("Cancel")
        self.use_button = QPushButton("Use this")
        self.use_button.setEnabled(False)
        self.use_button.setDefault(True)
        self.close_button = QPushButton("Close")
        for b in (self.cancel_button, self.use_button, self.close_button):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.cancel_button.clicked.connect(self.cancel)
        self.use_button.clicked.connect(self.use_suggestion)
        self.close_button.clicked.connect(self.reject)
        session.progress.connect(self._on_progress)
        session.finished.connect(self.show_result)
        session.failed.connect(self._on_failed)
        session.cancelled.connect(self._on_cancelled)

    def start(self, config: TrainConfig, dataset: Dataset | None = None) -> None:
        """Run the finder on the form's configuration."""
        self.curve.setData([], [])
        self.point.setData([], [])
        self.marker.setVisible(False)
        self.use_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress_bar.setValue(0)
        self.status_label.setText(f"Running the range test for {config.model} (batch {config.batch_size}, "
                                  f"{config.optimizer}) …")
        self.session.start(config, dataset)

    def cancel(self) -> None:
        if self.session.cancel():
            self.cancel_button.setEnabled(False)
            self.status_label.setText("Cancelling …")

    def _on_progress(self, step: int, steps: int) -> None:
        self.progress_bar.setValue(int(100 * step / max(1, steps)))
        self.status_label.setText(f"Step {step} of at most {steps} …")

    def show_result(self, result: LrFindResult) -> None:
        """Draw the curve and mark the suggestion."""
        self.cancel_button.setEnabled(False)
        self.progress_bar.setValue(100)
        lrs, losses = list(result.lrs), list(result.losses)
        self.curve.setData(lrs, losses)
        if losses:
            # The divergence at the end can be many times the rest: keep the falling part readable.
            low, start = min(losses), losses[0]
            self.plot.setYRange(low - 0.05 * (start - low + 1e-3), max(start, low) + 0.6 * (start - low + 0.1))
        if result.suggested_lr is None:
            self.status_label.setText("No suggestion: the loss did not fall over the test. Try another optimizer "
                                      "or a smaller batch, or set the learning rate by hand.")
            return
        lr = result.suggested_lr
        self.marker.setValue(math.log10(lr))  # the axis is in log10 units in log mode
        self.marker.setVisible(True)
        nearest = min(range(len(lrs)), key=lambda i: abs(math.log(lrs[i] / lr)))
        self.point.setData([lrs[nearest]], [losses[nearest]])
        self.use_button.setEnabled(True)
        self.use_button.setText(f"Use this ({form_value(lr):g})")
        self.status_label.setText(f"Suggested learning rate: {lr:.3g} (rule: {result.rule}; {len(lrs)} steps in "
                                  f"{result.seconds:.1f} s).")

    def use_suggestion(self) -> None:
        result = self.session.result
        if result is None or result.suggested_lr is None:
            return
        self.lrChosen.emit(form_value(result.suggested_lr))
        self.accept()

    def _on_failed(self, message: str) -> None:
        self.cancel_button.setEnabled(False)
        self.status_label.setText(f"The finder could not run: {message}")

    def _on_cancelled(self) -> None:
        self.cancel_button.setEnabled(False)
        self.status_label.setText("Cancelled; nothing was changed.")

    def done(self, code: int) -> None:
        if self.session.busy:
            self.session.cancel()
        super().done(code)
