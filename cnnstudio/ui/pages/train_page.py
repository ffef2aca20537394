"""The Train page: hyper-parameters, device, Start / Pause / Stop, live progress, charts and log.

The run itself happens on a QThread (cnnstudio.ui.training_worker); this page only reacts to the
plain-dict signals it sends, at most about 20 times a second, so each update is a few setData calls
and a label. Every signal carries the run's generation number and anything from another run is
ignored. The page's run is over (runFinished) only once its thread has ended, so a new run can start
right away.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractSpinBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QFrame,
                               QGroupBox, QHBoxLayout, QLabel, QMessageBox, QPlainTextEdit, QProgressBar,
                               QPushButton, QScrollArea, QSizePolicy, QSpinBox, QSplitter, QVBoxLayout, QWidget)

from cnnstudio.core import paths
from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.training.config import (OPTIMIZERS, SCHEDULES, Augmentation, TrainConfig, augmentation_text,
                                            default_config)
from cnnstudio.ui.state import AppState
from cnnstudio.ui.training_worker import TrainingRun, wait_for_runs
from cnnstudio.ui.widgets.charts import TrainingCharts

MAX_LOG_LINES = 2000
# The progress bar and status line follow the updates at most four times a second; the charts, the
# costly part of an update, redraw every 200 ms at best. Where training uses every core, each
# millisecond the GUI thread spends is taken from the training threads (and, through their barriers,
# from both), so the chart interval adapts: it grows while the GUI thread uses more than
# GUI_CPU_BUDGET of a core and shrinks back when it uses less than half of that. At 1.5 % the app trained
# at 0.996x the speed of the same Trainer on a plain thread (2 cores, 6 rounds; 0.971x at 4 %), with
# charts every 0.5-1 s there; a machine with time to spare keeps them at 200 ms.
CHART_INTERVAL_MS = 200
CHART_MAX_INTERVAL_MS = 1000
PROGRESS_INTERVAL_MS = 250  # progress text (step, images/s, ETA) four times a second: readable, cheap
GUI_CPU_BUDGET = 0.015
SHORTCUTS = {
    "start": ("F5", "Ctrl+Return"),
    "pause": ("Ctrl+P",),
    "stop": ("Shift+F5", "Ctrl+."),
}
OPTIMIZER_TITLES = {"adam": "Adam", "adamw": "AdamW (decoupled weight decay)", "sgd": "SGD with momentum"}
SCHEDULE_TITLES = {"constant": "Constant", "step": "Step decay (x0.1)", "cosine": "Cosine decay",
                   "onecycle": "One-cycle (warm up, then anneal)"}
PRECISION_TITLES = {"auto": "Automatic", "fp32": "fp32 (full precision)", "bf16": "bf16 (mixed)",
                    "fp16": "fp16 (mixed, GPUs only)"}


def shortcut_text(action: str) -> str:
    return " or ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in SHORTCUTS[action])


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "--"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def format_percent(value: float | None) -> str:
    return "--" if value is None else f"{100 * value:.1f} %"


class _NoWheelSpinBox(QSpinBox):
    """Scrolling the form must not change the number under the mouse."""

    def wheelEvent(self, event):  # noqa: N802 (Qt naming)
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class _NoWheelDoubleSpinBox(QDoubleSpinBox):
    def wheelEvent(self, event):  # noqa: N802
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class _LearningRateBox(_NoWheelDoubleSpinBox):
    """A learning rate in plain decimals, stepping by x10 / x0.1 with the arrows."""

    def __init__(self):
        super().__init__()
        self.setDecimals(6)
        self.setRange(1e-6, 10.0)

    def stepBy(self, steps: int) -> None:  # noqa: N802
        value = self.value() * (10.0 ** (steps / 2))  # two clicks per decade: 1e-3, 3.16e-3, 1e-2
        self.setValue(float(f"{value:.2g}"))

    def textFromValue(self, value: float) -> str:  # noqa: N802
        return f"{value:.6f}".rstrip("0").rstrip(".") if value else "0"


class TrainPage(QWidget):
    """Public for other code and tests: start_training, pause, resume, stop, is_running, is_paused,
    current_step, charts, progress_bar, the buttons, and the signals below."""

    runStarted = Signal(object)  # the StartedEvent dict (run_dir, device, precision, epochs, ...)
    stepsReceived = Signal(int)  # the latest global step, after each (throttled) update
    epochFinished = Signal(object)  # the EpochEvent dict
    pausedChanged = Signal(bool)  # True once the trainer really waits, False when it goes on
    runFinished = Signal(object)  # the result dict; the thread has ended when this arrives
    runFailed = Signal(str)  # the message shown in the error dialog

    def __init__(self, state: AppState):
        super().__init__()
        self.state = state
        self.devices: list[dict[str, Any]] = []
        self._run: TrainingRun | None = None
        self._generation = 0
        self._result: dict[str, Any] | None = None
        self._failure: tuple[str, str] | None = None
        self._user_edited = False
        self._filling = False
        self._resuming_from: str | None = None
        self._run_info: dict[str, Any] = {}
        self._best_val: float | None = None
        self._started_at = 0.0
        self._last_step: dict[str, Any] | None = None
        self.current_step = 0
        self.total_steps = 0
        self.last_result: dict[str, Any] | None = None
        self.error_dialog: QMessageBox | None = None
        self._chart_pending: list[dict[str, Any]] = []
        self._chart_last = 0.0
        self._chart_cpu = 0.0
        self.chart_interval_ms = CHART_INTERVAL_MS
        self._chart_timer = QTimer(self)
        self._chart_timer.setSingleShot(True)
        self._chart_timer.timeout.connect(self._flush_charts)
        self._progress_last = 0.0
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.timeout.connect(self._flush_progress)

        self._build()
        self._fill_form(default_config(state.dataset_name))
        state.datasetChanged.connect(self._on_dataset_changed)
        state.specChanged.connect(lambda _spec: self._update_controls())
        if hasattr(state, "augmentationChanged"):
            state.augmentationChanged.connect(lambda *_: self._update_summary())
        app = QCoreApplication.instance()
        if app is not None:
            # Quitting without closing the window (Ctrl+C, app.quit()) must still stop and wait.
            app.aboutToQuit.connect(self.shutdown)
        self._update_controls()

    # ------------------------------------------------------------------------------------------------
    # Building the page

    def _build(self) -> None:
        outer = QHBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 8)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        outer.addWidget(splitter)
        splitter.addWidget(self._build_form())
        splitter.addWidget(self._build_main())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([320, 900])

    def _build_form(self) -> QWidget:
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(270)
        scroll.setMaximumWidth(380)
        holder = QWidget()
        col = QVBoxLayout(holder)
        col.setContentsMargins(0, 0, 6, 0)

        self.form_groups: list[QWidget] = []
        what = QGroupBox("What will be trained")
        what_form = QFormLayout(what)
        self.dataset_label = QLabel()
        self.model_label = QLabel()
        self.augment_label = QLabel()
        for label in (self.dataset_label, self.model_label, self.augment_label):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.augment_label.setToolTip("Augmentation is chosen on the Data page.")
        what_form.addRow("Data:", self.dataset_label)
        what_form.addRow("Model:", self.model_label)
        what_form.addRow("Augment:", self.augment_label)
        col.addWidget(what)

        basic = QGroupBox("Training")
        form = QFormLayout(basic)
        self.epochs_spin = _NoWheelSpinBox()
        self.epochs_spin.setRange(1, 10000)
        self.epochs_spin.setToolTip("How many times the network sees every training image.")
        self.batch_spin = _NoWheelSpinBox()
        self.batch_spin.setRange(1, 65536)
        self.batch_spin.setToolTip("Images per optimisation step. Larger batches are faster per image on a GPU; "
                                   "very large ones may need a larger learning rate.")
        self.optimizer_combo = QComboBox()
        for key in OPTIMIZERS:
            self.optimizer_combo.addItem(OPTIMIZER_TITLES.get(key, key), key)
        self.optimizer_combo.setToolTip("The rule that turns gradients into weight updates. Adam is a safe start.")
        self.lr_spin = _LearningRateBox()
        self.lr_spin.setToolTip("Step size of each update. Too high: the loss jumps or becomes NaN; "
                                "too low: it falls very slowly. The arrows step by about x3.")
        self.momentum_spin = _NoWheelDoubleSpinBox()
        self.momentum_spin.setRange(0.0, 0.999)
        self.momentum_spin.setDecimals(3)
        self.momentum_spin.setSingleStep(0.05)
        self.momentum_spin.setToolTip("SGD only: how much of the previous update carries over.")
        self.schedule_combo = QComboBox()
        for key in SCHEDULES:
            self.schedule_combo.addItem(SCHEDULE_TITLES.get(key, key), key)
        self.schedule_combo.setToolTip("How the learning rate changes during training (see the Learning rate chart).")
        form.addRow("Epochs:", self.epochs_spin)
        form.addRow("Batch size:", self.batch_spin)
        form.addRow("Optimizer:", self.optimizer_combo)
        form.addRow("Learning rate:", self.lr_spin)
        form.addRow("Momentum:", self.momentum_spin)
        form.addRow("LR schedule:", self.schedule_combo)
        col.addWidget(basic)
        self.form_groups.append(basic)

        adv = QGroupBox("Regularisation and data split")
        aform = QFormLayout(adv)
        self.weight_decay_spin = _NoWheelDoubleSpinBox()
        self.weight_decay_spin.setDecimals(5)
        self.weight_decay_spin.setRange(0.0, 1.0)
        self.weight_decay_spin.setSingleStep(1e-4)
        self.weight_decay_spin.setSpecialValueText("off")
        self.weight_decay_spin.setToolTip("Pulls weights towards zero (not biases or norm scales). 0 = off.")
        self.warmup_spin = _NoWheelDoubleSpinBox()
        self.warmup_spin.setRange(0.0, 100.0)
        self.warmup_spin.setDecimals(1)
        self.warmup_spin.setSingleStep(0.5)
        self.warmup_spin.setSpecialValueText("off")
        self.warmup_spin.setToolTip("Epochs over which the learning rate ramps up from zero at the start.")
        self.smoothing_spin = _NoWheelDoubleSpinBox()
        self.smoothing_spin.setRange(0.0, 0.5)
        self.smoothing_spin.setDecimals(2)
        self.smoothing_spin.setSingleStep(0.05)
        self.smoothing_spin.setSpecialValueText("off")
        self.smoothing_spin.setToolTip("Label smoothing: train towards 0.9 instead of 1.0 for the right class "
                                       "(with 0.1), which makes the network less over-confident.")
        self.val_spin = _NoWheelSpinBox()
        self.val_spin.setRange(0, 50)
        self.val_spin.setSuffix(" %")
        self.val_spin.setToolTip("Share of the training images held back to measure validation loss and "
                                 "accuracy after every epoch. The best epoch on it is saved as best.pt.")
        self.patience_spin = _NoWheelSpinBox()
        self.patience_spin.setRange(0, 1000)
        self.patience_spin.setSpecialValueText("off")
        self.patience_spin.setSuffix(" epochs")
        self.patience_spin.setToolTip("Early stopping: stop when validation accuracy has not improved for this "
                                      "many epochs. Off = always train all epochs.")
        self.limit_spin = _NoWheelSpinBox()
        self.limit_spin.setRange(0, 9_999_999)
        self.limit_spin.setSingleStep(1000)
        self.limit_spin.setSpecialValueText("all")
        self.limit_spin.setToolTip("Use only the first N training images: for quick experiments. 'all' uses them all.")
        self.seed_spin = _NoWheelSpinBox()
        self.seed_spin.setRange(0, 999_999)
        self.seed_spin.setToolTip("The same seed gives the same initial weights and the same data order.")
        aform.addRow("Weight decay:", self.weight_decay_spin)
        aform.addRow("Warm-up:", self.warmup_spin)
        aform.addRow("Label smoothing:", self.smoothing_spin)
        aform.addRow("Validation split:", self.val_spin)
        aform.addRow("Early stopping:", self.patience_spin)
        aform.addRow("Training images:", self.limit_spin)
        aform.addRow("Random seed:", self.seed_spin)
        col.addWidget(adv)
        self.form_groups.append(adv)

        hw = QGroupBox("Hardware")
        hform = QFormLayout(hw)
        self.device_combo = QComboBox()
        self.device_combo.addItem("Automatic (best available)", "auto")
        self.device_combo.addItem("CPU", "cpu")
        self.device_combo.setToolTip("Where training runs. Automatic picks a CUDA GPU, then Apple MPS, then the CPU.")
        self.device_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.device_combo.setMinimumContentsLength(14)
        self.precision_combo = QComboBox()
        for key in ("auto", "fp32", "bf16", "fp16"):
            self.precision_combo.addItem(PRECISION_TITLES[key], key)
        self.precision_combo.setToolTip("Mixed precision (bf16/fp16) computes in 16 bits where it is safe: about "
                                        "twice as fast where the hardware supports it, same accuracy.")
        self.precision_label = QLabel()
        self.precision_label.setWordWrap(True)
        self.precision_label.setStyleSheet("color: palette(placeholder-text);")
        hform.addRow("Device:", self.device_combo)
        hform.addRow("Precision:", self.precision_combo)
        hform.addRow("", self.precision_label)
        col.addWidget(hw)

        self.defaults_button = QPushButton("Reset to recommended values")
        self.defaults_button.setToolTip("Refill the form with the recommended values for this dataset.")
        self.defaults_button.clicked.connect(self.reset_form)
        col.addWidget(self.defaults_button)
        col.addStretch(1)

        for spin in (self.epochs_spin, self.batch_spin, self.lr_spin, self.momentum_spin, self.weight_decay_spin,
                     self.warmup_spin, self.smoothing_spin, self.val_spin, self.patience_spin, self.limit_spin,
                     self.seed_spin):
            spin.valueChanged.connect(self._on_form_edited)
            spin.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.UpDownArrows)
            spin.setKeyboardTracking(False)
        for combo in (self.optimizer_combo, self.schedule_combo):
            combo.currentIndexChanged.connect(self._on_form_edited)
        for combo in (self.optimizer_combo, self.schedule_combo, self.precision_combo, self.device_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        for spin in (self.epochs_spin, self.batch_spin, self.lr_spin, self.momentum_spin, self.weight_decay_spin,
                     self.warmup_spin, self.smoothing_spin, self.val_spin, self.patience_spin, self.limit_spin,
                     self.seed_spin):
            spin.setMinimumWidth(90)
            spin.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.optimizer_combo.currentIndexChanged.connect(self._update_optimizer_fields)
        self.device_combo.currentIndexChanged.connect(lambda _i: self._update_controls())
        self.precision_combo.currentIndexChanged.connect(lambda _i: self._update_controls())
        scroll.setWidget(holder)
        return scroll

    def _build_main(self) -> QWidget:
        main = QWidget()
        col = QVBoxLayout(main)
        col.setContentsMargins(6, 0, 0, 0)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("▶  Start training")
        self.start_button.setDefault(True)
        self.start_button.setMinimumHeight(34)
        self.start_button.setStyleSheet(
            "QPushButton:enabled { background: palette(highlight); color: palette(highlighted-text);"
            " font-weight: bold; padding: 4px 16px; border-radius: 4px; }")
        self.start_button.clicked.connect(self._start_clicked)
        self.pause_button = QPushButton("❚❚  Pause")
        self.pause_button.setMinimumHeight(34)
        self.pause_button.setToolTip(f"Pause training; Resume continues exactly where it paused ({shortcut_text('pause')})")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button = QPushButton("■  Stop")
        self.stop_button.setMinimumHeight(34)
        self.stop_button.setToolTip("Stop training. The current state is saved as last.pt, so you can continue "
                                    f"later with 'Continue from checkpoint…' ({shortcut_text('stop')})")
        self.stop_button.clicked.connect(self.stop)
        self.resume_checkpoint_button = QPushButton("Continue from checkpoint…")
        self.resume_checkpoint_button.setMinimumHeight(34)
        self.resume_checkpoint_button.setToolTip(
            "Pick a run's last.pt to continue a stopped or finished run (with more epochs, if you raise Epochs).")
        self.resume_checkpoint_button.clicked.connect(self._resume_checkpoint_clicked)
        self.export_button = QPushButton("Command line…")
        self.export_button.setMinimumHeight(34)
        self.export_button.setToolTip("These settings as a `cnnstudio train` command, or a torchrun launcher for "
                                      "several GPUs and machines")
        self.export_button.clicked.connect(self.export_command_line)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.resume_checkpoint_button)
        col.addLayout(buttons)

        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.PlainText)
        self.banner.setContentsMargins(8, 5, 8, 5)
        col.addWidget(self.banner)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("Not started")
        self.progress_bar.setMinimumHeight(22)
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

        for action, slot in (("start", self._start_clicked), ("pause", self.toggle_pause), ("stop", self.stop)):
            for key in SHORTCUTS[action]:
                sc = QShortcut(QKeySequence(key), self)
                sc.setContext(Qt.ShortcutContext.WindowShortcut)  # only while this page is visible
                sc.activated.connect(slot)
        return main

    # ------------------------------------------------------------------------------------------------
    # The form

    def _fill_form(self, cfg: TrainConfig) -> None:
        """Fill the form with recommended values (a dataset change refills it until the user edits it)."""
        self._set_form(cfg)
        self._defaults = cfg
        self._user_edited = False

    def _set_form(self, cfg: TrainConfig) -> None:
        self._filling = True
        try:
            self.epochs_spin.setValue(cfg.epochs)
            self.batch_spin.setValue(cfg.batch_size)
            self.optimizer_combo.setCurrentIndex(max(0, self.optimizer_combo.findData(cfg.optimizer)))
            self.lr_spin.setValue(cfg.lr)
            self.momentum_spin.setValue(cfg.momentum)
            self.schedule_combo.setCurrentIndex(max(0, self.schedule_combo.findData(cfg.schedule)))
            self.weight_decay_spin.setValue(cfg.weight_decay)
            self.warmup_spin.setValue(cfg.warmup_epochs)
            self.smoothing_spin.setValue(cfg.label_smoothing)
            self.val_spin.setValue(int(round(100 * cfg.val_split)))
            self.patience_spin.setValue(cfg.early_stopping_patience)
            self.limit_spin.setValue(cfg.limit_train)
            self.seed_spin.setValue(cfg.seed)
            for combo, value in ((self.device_combo, cfg.device), (self.precision_combo, cfg.precision)):
                index = combo.findData(value)
                if index >= 0:
                    combo.setCurrentIndex(index)
        finally:
            self._filling = False
        self._update_optimizer_fields()
        self._update_summary()

    def reset_form(self) -> None:
        """Refill the form with the recommended values for the current dataset."""
        self._fill_form(default_config(self.state.dataset_name))

    @Slot()
    def _on_form_edited(self, *_args) -> None:
        if not self._filling:
            self._user_edited = True

    def _update_optimizer_fields(self) -> None:
        self.momentum_spin.setEnabled(self.optimizer_combo.currentData() == "sgd")

    def form_values(self) -> dict[str, Any]:
        """The form as TrainConfig fields."""
        return {
            "epochs": self.epochs_spin.value(),
            "batch_size": self.batch_spin.value(),
            "optimizer": self.optimizer_combo.currentData(),
            "lr": float(self.lr_spin.value()),
            "momentum": float(self.momentum_spin.value()),
            "schedule": self.schedule_combo.currentData(),
            "weight_decay": float(self.weight_decay_spin.value()),
            "warmup_epochs": float(self.warmup_spin.value()),
            "label_smoothing": float(self.smoothing_spin.value()),
            "val_split": self.val_spin.value() / 100.0,
            "early_stopping_patience": self.patience_spin.value(),
            "limit_train": self.limit_spin.value(),
            "seed": self.seed_spin.value(),
            "device": self.device_combo.currentData() or "auto",
            "precision": self.precision_combo.currentData() or "auto",
        }

    def augmentation(self) -> Augmentation:
        """What the Data page chose, else the dataset's recommended augmentation."""
        aug = getattr(self.state, "augmentation", None)
        if isinstance(aug, Augmentation):
            return copy.deepcopy(aug)
        if isinstance(aug, dict):
            known = {f.name for f in fields(Augmentation)}
            return Augmentation(**{k: v for k, v in aug.items() if k in known})
        return copy.deepcopy(default_config(self.state.dataset_name).augment)

    def export_command_line(self):
        """Show the current settings as a command line / torchrun launcher (docs/scaling.md)."""
        from cnnstudio.ui.widgets.export_dialog import ExportCommandDialog

        try:
            config = self.build_config()
        except CNNStudioError as exc:
            QMessageBox.warning(self, "Settings not valid", str(exc))
            return None
        dialog = ExportCommandDialog(config, self)
        dialog.open()
        return dialog

    def build_config(self, overrides: dict[str, Any] | None = None) -> TrainConfig:
        """The TrainConfig a Start would use: defaults for the dataset, the form, the model spec, the
        augmentation, then `overrides` (TrainConfig field names). Raises CNNStudioError if invalid."""
        cfg = default_config(self.state.dataset_name)
        spec = copy.deepcopy(self.state.spec) if self.state.spec is not None else None
        changes: dict[str, Any] = dict(self.form_values())
        changes["dataset"] = self.state.dataset_name
        changes["augment"] = self.augmentation()
        if spec is not None:
            changes["spec"] = spec
            changes["model"] = str(spec.get("name") or "custom")
        for key, value in (overrides or {}).items():
            if key not in {f.name for f in fields(TrainConfig)}:
                raise CNNStudioError(f"unknown training setting '{key}'")
            if key == "augment" and isinstance(value, dict):
                value = Augmentation(**value)
            changes[key] = value
        cfg = cfg.with_changes(**changes)
        cfg.validate()
        return cfg

    # ------------------------------------------------------------------------------------------------
    # State from the rest of the app

    @Slot(object)
    def _on_dataset_changed(self, _dataset: Any) -> None:
        if not self._user_edited:
            self._fill_form(default_config(self.state.dataset_name))
        self._update_controls()

    def on_devices(self, devices: list[dict[str, Any]]) -> None:
        """Called by the main window once PyTorch has loaded: show the devices really there."""
        self.devices = list(devices)
        current = self.device_combo.currentData()
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        best = devices[0]["name"] if devices else "CPU"
        self.device_combo.addItem(f"Automatic ({self._short_name(devices[0]) if devices else best})", "auto")
        for d in devices:
            self.device_combo.addItem(self._device_title(d), d["id"])
            self.device_combo.setItemData(self.device_combo.count() - 1, f"{d['name']}: {d.get('detail', '')}",
                                          Qt.ItemDataRole.ToolTipRole)
        index = self.device_combo.findData(current)
        self.device_combo.setCurrentIndex(index if index >= 0 else 0)
        self.device_combo.blockSignals(False)
        self._update_controls()

    @staticmethod
    def _short_name(device: dict[str, Any]) -> str:
        if device["id"].startswith("cuda"):
            return f"GPU {device['id'].split(':')[-1]} ({device['name']})"
        if device["id"] == "mps":
            return "Apple GPU (MPS)"
        return "CPU"

    @staticmethod
    def _device_title(device: dict[str, Any]) -> str:
        did = device["id"]
        if did.startswith("cuda"):
            mem = device.get("memory_bytes")
            mem_text = f", {mem / 2 ** 30:.0f} GB" if mem else ""
            return f"GPU {did.split(':')[-1]}: {device['name']}{mem_text}"
        if did == "mps":
            return f"{device['name']} (MPS)"
        detail = device.get("detail") or ""
        return f"CPU: {device['name']}" + (f" ({detail})" if detail else "")

    def _device_id(self) -> str:
        """The concrete device the current choice means ("auto" resolves to the best one listed)."""
        choice = self.device_combo.currentData() or "auto"
        if choice == "auto":
            return self.devices[0]["id"] if self.devices else "cpu"
        return choice

    def resolved_precision(self) -> tuple[str | None, str | None]:
        """(precision, None) or (None, why it cannot be used); (None, None) while unknown.

        torch is consulted only after on_devices(): before that it may be half-imported by another
        thread, and touching it here would block the GUI thread on the import lock for seconds."""
        requested = self.precision_combo.currentData() or "auto"
        device = self._device_id()
        if device == "cpu" and requested == "fp16":
            return None, "fp16 training is not supported on the CPU; choose bf16 or fp32."
        if not self.devices:
            return (None if requested == "auto" else requested), None
        try:
            import torch

            from cnnstudio.core.training.device import resolve_precision

            return resolve_precision(requested, torch.device(device)), None
        except CNNStudioError as exc:
            return None, str(exc)
        except Exception:  # an unusual torch build: let the trainer decide
            return None, None

    def _update_precision_label(self) -> str | None:
        precision, problem = self.resolved_precision()
        requested = self.precision_combo.currentData() or "auto"
        where = "this GPU" if self._device_id().startswith("cuda") else (
            "Apple MPS" if self._device_id() == "mps" else "this CPU")
        if problem:
            self.precision_label.setText(problem)
            self.precision_label.setStyleSheet("color: #c0392b;")
            return problem
        self.precision_label.setStyleSheet("color: palette(placeholder-text);")
        if requested == "auto":
            if precision is None:
                self.precision_label.setText("Automatic is decided once PyTorch has loaded.")
            else:
                why = {"bf16": "native bf16 support", "fp16": "fast fp16", "fp32": "no fast 16-bit math"}[precision]
                self.precision_label.setText(f"Automatic means {precision} on {where} ({why}).")
        else:
            self.precision_label.setText(f"{precision or requested} on {where}.")
        return None

    def _update_summary(self) -> None:
        ds = self.state.dataset
        if ds is None:
            self.dataset_label.setText("none loaded yet (Data page)")
        else:
            try:
                n = int(ds.train_images.shape[0])
                shape = "x".join(str(d) for d in ds.input_shape)
                self.dataset_label.setText(f"{getattr(ds, 'title', '') or self.state.dataset_name}: "
                                           f"{n:,} training images, {ds.num_classes} classes, {shape}")
            except Exception:
                self.dataset_label.setText(self.state.dataset_name)
        spec = self.state.spec
        if spec is None:
            self.model_label.setText("none chosen yet (Model page)")
        else:
            self.model_label.setText(str(spec.get("name") or "custom model"))
        self.augment_label.setText(augmentation_text(self.augmentation()))

    # ------------------------------------------------------------------------------------------------
    # Can we start?

    def start_blocker(self) -> str | None:
        """None when Start may be pressed, else the sentence that says why not."""
        if self.is_running():
            return "Training is running."
        if self.state.dataset is None:
            return "Load a dataset first: choose one on the Data page (1  Data)."
        spec = self.state.spec
        if spec is None:
            return "Choose a model first, on the Model page (2  Model)."
        spec_problem = self.spec_problem()
        if spec_problem:
            return f"The model cannot be trained: {spec_problem} Fix it on the Model page."
        _, precision_problem = self.resolved_precision()
        if precision_problem:
            return precision_problem
        return None

    def spec_problem(self) -> str | None:
        """What is wrong with the model spec for the loaded data (naming the layer), or None."""
        spec = self.state.spec
        ds = self.state.dataset
        if spec is None:
            return None
        error = None
        if ds is not None:
            try:
                from cnnstudio.core.models.spec import infer_shapes

                report = infer_shapes(spec, ds.input_shape, ds.num_classes)
                error = report.error
            except Exception as exc:  # a spec so broken that inference itself fails
                error = str(exc)
        if error:
            return error.rstrip(".") + "."
        if not self.state.spec_valid:
            return "the Model page reports an error in it."
        return None

    def _update_controls(self) -> None:
        self._update_summary()
        self._update_precision_label()
        running = self.is_running()
        blocker = self.start_blocker()
        self.start_button.setEnabled(blocker is None)
        if blocker is None:
            self.start_button.setToolTip(f"Start training with these settings ({shortcut_text('start')})")
        else:
            self.start_button.setToolTip(f"{blocker}\n\nShortcut: {shortcut_text('start')}")
        self.pause_button.setEnabled(running and not (self._run and self._run.stop_requested))
        self.stop_button.setEnabled(running and not (self._run and self._run.stop_requested))
        self.resume_checkpoint_button.setEnabled(not running)
        # The form shows what the running run uses; edits start to count at the next Start.
        for box in (*self.form_groups, self.device_combo, self.precision_combo, self.defaults_button):
            box.setEnabled(not running)
        if not running:
            self.pause_button.setText("❚❚  Pause")
            if blocker:
                self._set_banner(blocker, "warning")
            elif self.last_result is None:
                ds = self.state.dataset
                spec = self.state.spec or {}
                self._set_banner(f"Ready to train {spec.get('name', 'the model')} on "
                                 f"{getattr(ds, 'title', None) or self.state.dataset_name}. Check the settings on "
                                 f"the left, then press Start ({shortcut_text('start')}).", "info")

    def _set_banner(self, text: str, kind: str) -> None:
        colors = {"info": ("rgba(52, 152, 219, 0.14)", "rgba(52, 152, 219, 0.6)"),
                  "warning": ("rgba(230, 126, 34, 0.16)", "rgba(230, 126, 34, 0.8)"),
                  "error": ("rgba(192, 57, 43, 0.16)", "rgba(192, 57, 43, 0.85)"),
                  "success": ("rgba(39, 174, 96, 0.16)", "rgba(39, 174, 96, 0.8)")}
        bg, border = colors[kind]
        self.banner.setText(text)
        self.banner.setProperty("kind", kind)
        self.banner.setStyleSheet(f"QLabel {{ background: {bg}; border: 1px solid {border}; border-radius: 4px; }}")
        self.banner.setVisible(bool(text))

    # ------------------------------------------------------------------------------------------------
    # Running

    def is_running(self) -> bool:
        return self._run is not None and self._run.running

    def is_paused(self) -> bool:
        return self.is_running() and self._run is not None and self._run.paused

    @property
    def run(self) -> TrainingRun | None:
        return self._run

    @Slot()
    def _start_clicked(self) -> None:
        if self.start_button.isEnabled():
            self.start_training()

    def start_training(self, config_overrides: dict[str, Any] | None = None) -> bool:
        """Start a new run from the form (plus overrides). False, with the reason in the banner, if it cannot."""
        return self._start(config_overrides, resume_from=None)

    def resume_from_checkpoint(self, path: str, config_overrides: dict[str, Any] | None = None) -> bool:
        """Continue the run a checkpoint (last.pt) belongs to. A bad file ends in a clear error dialog."""
        p = Path(path)
        if not p.is_file():
            self._show_error("Cannot continue from this checkpoint", f"{p} does not exist or is not a file.")
            return False
        return self._start(config_overrides, resume_from=str(p))

    def _start(self, overrides: dict[str, Any] | None, resume_from: str | None) -> bool:
        if self.is_running():
            return False
        dataset = self.state.dataset
        if resume_from is None:
            blocker = self.start_blocker()
            if blocker:
                self._set_banner(blocker, "warning")
                return False
        else:
            saved = self._saved_dataset_name(resume_from)
            if saved is not None and saved != self.state.dataset_name:
                dataset = None  # the trainer loads the checkpoint's own dataset
        try:
            cfg = self.build_config(overrides) if resume_from is None else self._resume_config(overrides)
        except (CNNStudioError, TypeError, ValueError) as exc:
            self._show_error("These settings cannot be used", str(exc))
            return False

        if overrides and resume_from is None:
            self._set_form(cfg)  # show what really runs
            self._user_edited = True
        run = TrainingRun(cfg, dataset=dataset, resume_from=resume_from)
        w = run.worker
        w.started.connect(self._on_started)
        w.steps.connect(self._on_steps)
        w.epoch.connect(self._on_epoch)
        w.log.connect(self._on_log)
        w.pausedChanged.connect(self._on_paused_changed)
        w.done.connect(self._on_done)
        w.failed.connect(self._on_failed)
        run.ended.connect(self._on_run_ended)
        self._run = run
        self._generation = run.generation
        self._result = None
        self._failure = None
        self._resuming_from = resume_from
        self._run_info = {"model": cfg.model, "dataset": cfg.dataset}
        self._best_val = None
        self._last_step = None
        self._chart_pending = []
        self._chart_timer.stop()
        self._chart_last = 0.0
        self.chart_interval_ms = CHART_INTERVAL_MS
        self._progress_timer.stop()
        self._progress_last = 0.0
        self.current_step = 0
        self.total_steps = 0
        self._started_at = time.monotonic()
        self.charts.begin_run(cfg.model)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Starting…")
        self.status_label.setText("Preparing the data and the model…")
        if resume_from:
            self._log(f"Continuing from {resume_from}")
        else:
            self._log(f"Starting: {cfg.model} on {cfg.dataset}, {cfg.epochs} epochs, batch {cfg.batch_size}, "
                      f"{cfg.optimizer} lr {cfg.lr:g} ({cfg.schedule}), augmentation: {augmentation_text(cfg.augment)}")
        self._set_banner(f"Training… Pause ({shortcut_text('pause')}) holds it; Stop ({shortcut_text('stop')}) "
                         "saves last.pt so you can continue later.", "info")
        run.start()
        self.state.set_training(True)
        self._update_controls()
        return True

    def _resume_config(self, overrides: dict[str, Any] | None) -> TrainConfig:
        """For a resumed run only epochs (at least the saved number) and device matter."""
        cfg = TrainConfig(dataset=self.state.dataset_name, epochs=self.epochs_spin.value(),
                          device=self.device_combo.currentData() or "auto")
        for key, value in (overrides or {}).items():
            setattr(cfg, key, value)
        return cfg

    @staticmethod
    def _saved_dataset_name(checkpoint: str) -> str | None:
        try:
            doc = json.loads((Path(checkpoint).parent / "config.json").read_text(encoding="utf-8"))
            return doc["config"]["dataset"]
        except Exception:
            return None

    def pause(self) -> None:
        if self.is_running() and self._run is not None and not self._run.paused:
            self._run.pause()
            self.pause_button.setText("▶  Resume")
            self.pause_button.setToolTip(f"Continue training ({shortcut_text('pause')})")
            self.status_label.setText("Pausing after the current batch…")

    def resume(self) -> None:
        if self.is_running() and self._run is not None and self._run.paused:
            self._run.resume()
            self.pause_button.setText("❚❚  Pause")
            self.pause_button.setToolTip(f"Pause training ({shortcut_text('pause')})")
            self._set_banner(f"Training… Pause ({shortcut_text('pause')}) holds it; Stop ({shortcut_text('stop')}) "
                             "saves last.pt so you can continue later.", "info")

    @Slot()
    def toggle_pause(self) -> None:
        if self.is_paused():
            self.resume()
        else:
            self.pause()

    @Slot()
    def stop(self) -> None:
        """Ask the run to stop; it saves last.pt within one batch. Safe to call any time."""
        if self.is_running() and self._run is not None and not self._run.stop_requested:
            self._run.stop()
            self.status_label.setText("Stopping: saving the current state to last.pt…")
            self._log("Stop requested: saving the current state…")
            self._update_controls()

    def shutdown(self) -> None:
        """Stop a running run and wait for its thread (it saves last.pt); the window may then close."""
        run = self._run
        if run is not None and run.running:
            run.stop()
            run.wait(120000)
        wait_for_runs(120000)

    # ------------------------------------------------------------------------------------------------
    # Signals from the worker (GUI thread, queued)

    def _mine(self, generation: int) -> bool:
        return generation == self._generation and self._run is not None

    @Slot(int, object)
    def _on_started(self, generation: int, data: dict) -> None:
        if not self._mine(generation):
            return
        self._run_info.update(data)
        self.total_steps = int(data["epochs"]) * int(data["steps_per_epoch"])
        self.charts.set_live_extent(self.total_steps, int(data["epochs"]))
        history = data.get("history")
        if history and (history.get("epoch") or history.get("steps", {}).get("step")):
            self.charts.begin_run(self._run_info.get("model", ""), history)
            self.charts.set_live_extent(self.total_steps, int(data["epochs"]))
            self.current_step = int(history["steps"]["step"][-1]) if history["steps"]["step"] else 0
            vals = [v for v in history.get("val_accuracy", []) if v is not None]
            self._best_val = max(vals) if vals else None
        self._log(f"Training on {data['device_name']} ({data['device']}, {data['precision']}, "
                  f"{data['threads']} threads): {data['train_samples']:,} training / {data['val_samples']:,} "
                  f"validation / {data['test_samples']:,} test images, {data['params']:,} parameters")
        self._log(f"Run folder: {data['run_dir']}")
        self.status_label.setText(f"Training on {data['device_name']} ({data['precision']})…")
        self.progress_bar.setFormat(f"Epoch {data['start_epoch'] + 1}/{data['epochs']}: starting…")
        self.runStarted.emit(data)

    @Slot(int, object)
    def _on_steps(self, generation: int, steps: list) -> None:
        if not self._mine(generation) or not steps:
            return
        self._chart_pending.extend(steps)
        wait_ms = self.chart_interval_ms - 1000 * (time.monotonic() - self._chart_last)
        if wait_ms <= 0:
            self._flush_charts()
        elif not self._chart_timer.isActive():
            self._chart_timer.start(int(wait_ms) + 1)
        last = steps[-1]
        self._last_step = last
        self.current_step = int(last["global_step"])
        self.total_steps = int(last["total_steps"])
        wait_ms = PROGRESS_INTERVAL_MS - 1000 * (time.monotonic() - self._progress_last)
        if wait_ms <= 0:
            self._flush_progress()
        elif not self._progress_timer.isActive():
            self._progress_timer.start(int(wait_ms) + 1)
        self.stepsReceived.emit(self.current_step)

    @Slot()
    def _flush_charts(self) -> None:
        self._chart_timer.stop()
        if self._chart_pending:
            pending, self._chart_pending = self._chart_pending, []
            self.charts.append_steps(pending)
        self._adapt_chart_interval()

    def _adapt_chart_interval(self) -> None:
        """Measure the GUI thread's CPU share since the last chart update (its own CPU clock, so the
        training threads do not count) and adjust the chart interval to the budget."""
        now, cpu = time.monotonic(), time.thread_time()
        if self._chart_last:
            share = (cpu - self._chart_cpu) / max(1e-3, now - self._chart_last)
            if share > GUI_CPU_BUDGET:
                self.chart_interval_ms = min(CHART_MAX_INTERVAL_MS, int(self.chart_interval_ms * 1.5))
            elif share < GUI_CPU_BUDGET / 2:
                self.chart_interval_ms = max(CHART_INTERVAL_MS, int(self.chart_interval_ms / 1.5))
        self._chart_last, self._chart_cpu = now, cpu

    @Slot()
    def _flush_progress(self) -> None:
        """Show the latest step now (also before a pause, an epoch line or the end of a run)."""
        self._progress_timer.stop()
        self._progress_last = time.monotonic()
        if self._last_step is not None:
            self._show_progress(self._last_step)

    def _show_progress(self, s: dict[str, Any]) -> None:
        total = max(1, int(s["total_steps"]))
        self.progress_bar.setValue(int(1000 * int(s["global_step"]) / total))
        self.progress_bar.setFormat(
            f"Epoch {s['epoch']}/{s['epochs']}  ·  step {s['step']}/{s['steps_per_epoch']}  ·  "
            f"{s['samples_per_second']:,.0f} images/s  ·  ETA {format_duration(s['eta_seconds'])}")
        if not (self._run and (self._run.paused or self._run.stop_requested)):
            best = f"  ·  best validation accuracy so far {format_percent(self._best_val)}" if self._best_val else ""
            self.status_label.setText(
                f"Training loss {s['loss']:.4f}, accuracy {format_percent(s['accuracy'])} (recent steps)  ·  "
                f"elapsed {format_duration(s['elapsed_seconds'])}{best}")

    @Slot(int, object)
    def _on_epoch(self, generation: int, e: dict) -> None:
        if not self._mine(generation):
            return
        self._flush_charts()
        self._flush_progress()
        self.charts.append_epoch(e)
        if e.get("val_accuracy") is not None:
            self._best_val = max(self._best_val or 0.0, e["val_accuracy"])
        val = ""
        if e.get("val_loss") is not None:
            val = f"; validation loss {e['val_loss']:.4f}, accuracy {format_percent(e['val_accuracy'])}"
        star = "  (best so far: saved best.pt)" if e.get("is_best") else ""
        self._log(f"Epoch {e['epoch']}/{e['epochs']}: training loss {e['train_loss']:.4f}, accuracy "
                  f"{format_percent(e['train_accuracy'])}{val}  ·  {e['samples_per_second']:,.0f} images/s, "
                  f"{e['seconds']:.1f} s{star}")
        self.epochFinished.emit(e)

    @Slot(int, str)
    def _on_log(self, generation: int, message: str) -> None:
        if self._mine(generation):
            self._log(message)

    @Slot(int, bool)
    def _on_paused_changed(self, generation: int, paused: bool) -> None:
        if not self._mine(generation):
            return
        if paused:
            self._flush_charts()
            self._flush_progress()
            self.status_label.setText(f"Paused at step {self.current_step:,} of {self.total_steps:,}.")
            self._set_banner(f"Paused. Press Resume ({shortcut_text('pause')}) to continue exactly where it "
                             "stopped, or Stop to end the run.", "warning")
            self.progress_bar.setFormat("Paused  ·  " + self.progress_bar.format())
            self._log(f"Paused at step {self.current_step:,}.")
        elif self._run is not None and not self._run.stop_requested:
            self._log("Resumed.")
            if self._last_step:
                self._show_progress(self._last_step)
        self.pausedChanged.emit(paused)

    @Slot(int, object)
    def _on_done(self, generation: int, result: dict) -> None:
        if generation == self._generation:
            self._result = result

    @Slot(int, str, str)
    def _on_failed(self, generation: int, message: str, details: str) -> None:
        if generation == self._generation:
            self._failure = (message, details)

    @Slot(int)
    def _on_run_ended(self, generation: int) -> None:
        if generation != self._generation:
            return
        result = self._result or {"status": "failed", "message": "the training thread ended without a result",
                                  "run_dir": self._run.run_dir if self._run else None, "checkpoint": None}
        failure = self._failure
        self._flush_charts()
        if failure is None and result.get("status") == "failed":
            failure = (str(result.get("message") or "training failed"), str(result.get("details") or ""))
        self._run = None
        self.last_result = result
        self.state.set_training(False)
        self._finish(result, failure)
        self._update_controls()
        self.runFinished.emit(result)

    def _finish(self, result: dict[str, Any], failure: tuple[str, str] | None) -> None:
        status = result.get("status", "failed")
        took = format_duration(time.monotonic() - self._started_at)
        test = result.get("test_accuracy")
        best = result.get("best_val_accuracy")
        if status in ("finished", "early-stopped"):
            self.progress_bar.setValue(1000)
            self.progress_bar.setFormat("Done  ·  100 %")
            parts = []
            if test is not None:
                parts.append(f"test accuracy {format_percent(test)}")
            if best is not None:
                parts.append(f"best validation accuracy {format_percent(best)} (epoch {result.get('best_epoch')})")
            summary = ", ".join(parts) or result.get("message", "")
            head = "Finished" if status == "finished" else "Stopped early (no more improvement)"
            text = f"{head} in {took}: {summary}."
            if result.get("checkpoint"):
                text += " The best checkpoint is now used by Evaluate, Inspect and Draw."
            self._set_banner(text, "success")
            self.status_label.setText(self._saved_text(result))
        elif status == "stopped":
            self._flush_progress()
            self.progress_bar.setFormat(f"Stopped at step {self.current_step:,} of {self.total_steps:,}")
            text = (f"Stopped after {took}. The state is saved in last.pt: use 'Continue from checkpoint…' to "
                    "go on.")
            self._set_banner(text, "warning")
            self.status_label.setText(f"{str(result.get('message') or '').capitalize()}. {self._saved_text(result)}")
        else:
            message = failure[0] if failure else str(result.get("message") or "training failed")
            self.progress_bar.setFormat("Failed")
            text = f"Training failed: {message}"
            self._set_banner(text, "error")
            self.status_label.setText(text)
        self._log(text if status != "failed" else f"FAILED: {failure[0] if failure else result.get('message')}")
        if result.get("run_dir"):
            self._log(f"Saved in {result['run_dir']}")
        self.state.message.emit(text)
        if status != "failed" or result.get("run_dir"):
            self.state.runFinished.emit(result)
        checkpoint = result.get("checkpoint")
        if checkpoint and Path(checkpoint).is_file():
            self.state.set_checkpoint(checkpoint)
        if status == "failed":
            title = "Cannot continue from this checkpoint" if self._resuming_from else "Training failed"
            message, details = failure or (str(result.get("message")), "")
            self._show_error(title, message, details)

    @staticmethod
    def _saved_text(result: dict[str, Any]) -> str:
        if not result.get("run_dir"):
            return ""
        return (f"Saved as run '{Path(result['run_dir']).name}': reopen it and compare it with other runs on the "
                "Runs page (4 Runs).")

    # ------------------------------------------------------------------------------------------------
    # Dialogs and log

    def _show_error(self, title: str, message: str, details: str = "") -> None:
        """A non-blocking error dialog (window-modal): never a silent stop."""
        box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.error_dialog = box
        box.finished.connect(lambda _r: setattr(self, "error_dialog", None))
        box.open()
        self.runFailed.emit(message)

    def _log(self, text: str) -> None:
        self.log_view.appendPlainText(f"[{time.strftime('%H:%M:%S')}] {text}")

    @Slot()
    def _resume_checkpoint_clicked(self) -> None:
        start = str(paths.runs_dir()) if paths.runs_dir().is_dir() else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Continue training from a checkpoint", start,
                                              "CNN Studio checkpoints (*.pt);;All files (*)")
        if path:
            self.resume_from_checkpoint(path)

    def showEvent(self, event) -> None:  # noqa: N802
        self._update_controls()
        super().showEvent(event)
