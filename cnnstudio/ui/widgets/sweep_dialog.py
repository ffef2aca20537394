"""The Sweep dialog: which settings to vary and with what values, how to search, and how long it will
take. A view over ui/sessions/sweep_session.py's SweepSession (handed in by the Train page): every edit
is checked as `cnnstudio sweep` checks its options, the problem shown in one line and Start disabled
until it is fixed; the estimate follows each valid change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout,
                               QGridLayout, QGroupBox, QLabel, QLineEdit, QSpinBox, QVBoxLayout, QWidget)

from cnnstudio.core.datasets.base import Dataset
from cnnstudio.core.sweep.estimate import SweepEstimate
from cnnstudio.core.sweep.choice import SweepCheck, SweepChoice, choice_params, uses_trials

if TYPE_CHECKING:  # handed in by the Train page: a widget does not import sessions
    from cnnstudio.ui.sessions.sweep_session import SweepSession

# (setting, label, example values): the settings `cnnstudio sweep --param` varies.
SETTINGS = (
    ("lr", "Learning rate", "0.02,0.05,0.1,0.2  or  1e-4:1:log"),
    ("batch_size", "Batch size", "64,128,256"),
    ("epochs", "Epochs", "2,5,10"),
    ("optimizer", "Optimizer", "adam,adamw,sgd"),
    ("weight_decay", "Weight decay", "0,5e-4  or  1e-5:1e-3:log"),
    ("label_smoothing", "Label smoothing", "0,0.1"),
    ("augment", "Augmentation", "default,none,crop+flip"),
    ("model", "Model", "fast-cnn,bn-cnn4"),
)
STRATEGIES = (("grid", "Grid: every combination"), ("random", "Random: N draws"),
              ("halving", "Halving: stop trials that fall behind early"))
CHECK_DELAY_MS = 300  # the estimate waits for the typing to pause


class SweepDialog(QDialog):
    def __init__(self, session: SweepSession, data: Dataset | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Sweep")
        self.session, self.data = session, data
        self.ticks: dict[str, QCheckBox] = {}
        self.values: dict[str, QLineEdit] = {}
        grid = QGridLayout()
        grid.addWidget(QLabel("Vary"), 0, 0)
        grid.addWidget(QLabel("Values: a list a,b,c or a range lo:hi:log / lo:hi:lin"), 0, 1)
        for row, (name, label, example) in enumerate(SETTINGS, start=1):
            tick = QCheckBox(label)
            edit = QLineEdit()
            edit.setPlaceholderText(example)
            edit.setEnabled(False)
            tick.toggled.connect(edit.setEnabled)
            tick.toggled.connect(self._changed)
            edit.textChanged.connect(self._changed)
            grid.addWidget(tick, row, 0)
            grid.addWidget(edit, row, 1)
            self.ticks[name], self.values[name] = tick, edit
        settings = QGroupBox("Settings to vary (every other setting: this page's)")
        settings.setLayout(grid)

        self.strategy = QComboBox()
        for key, text in STRATEGIES:
            self.strategy.addItem(text, key)
        self.trials = QSpinBox()
        self.trials.setRange(1, 1000)
        self.trials.setValue(10)
        self.epochs = QSpinBox()
        self.epochs.setRange(0, 10_000)
        self.epochs.setSpecialValueText("this page's")
        self.budget = QDoubleSpinBox()
        self.budget.setRange(0, 100_000)
        self.budget.setDecimals(0)
        self.budget.setSuffix(" min")
        self.budget.setSpecialValueText("none")
        for w in (self.strategy, self.trials, self.epochs, self.budget):
            signal = w.currentIndexChanged if isinstance(w, QComboBox) else w.valueChanged
            signal.connect(self._changed)
        how = QFormLayout()
        how.addRow("Strategy:", self.strategy)
        how.addRow("Trials:", self.trials)
        how.addRow("Epochs per trial:", self.epochs)
        how.addRow("Time budget:", self.budget)
        search = QGroupBox("Search")
        search.setLayout(how)

        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #c0392b")
        self.estimate = QLabel()
        self.estimate.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.start = self.buttons.addButton("Start sweep", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(settings)
        layout.addWidget(search)
        layout.addWidget(self.problem)
        layout.addWidget(self.estimate)
        layout.addWidget(self.buttons)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHECK_DELAY_MS)
        self._timer.timeout.connect(self._estimate)
        session.checked.connect(self._show_check)
        session.estimated.connect(self._show_estimate)
        session.estimateFailed.connect(lambda message: self.estimate.setText(f"No estimate: {message}"))
        self._changed()

    def choice(self) -> SweepChoice:
        rows = [(name, self.values[name].text()) for name, *_ in SETTINGS if self.ticks[name].isChecked()]
        strategy = str(self.strategy.currentData())
        return SweepChoice(choice_params(rows), strategy, self.trials.value(), self.epochs.value() or None,
                           self.budget.value() or None)

    def _changed(self) -> None:
        choice = self.choice()
        self.trials.setEnabled(uses_trials(choice))
        check = self.session.check(choice)
        if check.spec is not None and self.data is not None:
            self.estimate.setText("Estimating how long the sweep takes…")
            self._timer.start()
        elif check.spec is not None:
            self.estimate.setText("")

    def _estimate(self) -> None:
        if self.session.spec is not None and self.data is not None:
            self.session.estimate_for(self.session.spec, self.data)

    def _show_check(self, check: SweepCheck) -> None:
        self.problem.setText(check.problem)
        self.problem.setVisible(bool(check.problem))
        self.start.setEnabled(check.spec is not None)
        if check.spec is None:
            self.estimate.setText("")

    def _show_estimate(self, estimate: SweepEstimate) -> None:
        self.estimate.setText(f"Estimated: {estimate.text()}.")
        self.estimate.setAlignment(Qt.AlignmentFlag.AlignLeft)
