"""The Train page's settings form: what will be trained, the optimiser, regularisation, hardware.

A view only: values() gives the form as TrainConfig fields, set_config() shows a config, fill() puts the
recommended values in (and forgets that the user edited anything). The page decides what they mean.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractSpinBox, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QFrame, QGroupBox,
                               QHBoxLayout, QLabel, QPushButton, QScrollArea, QSizePolicy, QSpinBox, QVBoxLayout,
                               QWidget)

from cnnstudio.core.training.config import (OPTIMIZERS, SCHEDULES, Augmentation, ConfigValues, TrainConfig,
                                           augmentation_text)
from cnnstudio.core.training.device import DeviceInfo
from cnnstudio.ui.widgets.queue_panel import QueuePanel

if TYPE_CHECKING:  # imports torch: only its type is needed here
    from cnnstudio.core.datasets.base import Dataset
    from cnnstudio.core.models.spec import ModelSpec

OPTIMIZER_TITLES = {"adam": "Adam", "adamw": "AdamW (decoupled weight decay)", "sgd": "SGD with momentum"}
SCHEDULE_TITLES = {"constant": "Constant", "step": "Step decay (x0.1)", "cosine": "Cosine decay",
                   "onecycle": "One-cycle (warm up, then anneal)"}
# How a pretrained backbone trains (the spec's backbone "train" parameter), as the form offers it.
BACKBONE_MODE_TITLES = {"features": "Features only (fastest)", "last": "Fine-tune the last stage",
                        "all": "Fine-tune everything"}
PRECISION_TITLES = {"auto": "Automatic", "fp32": "fp32 (full precision)", "bf16": "bf16 (mixed)",
                    "fp16": "fp16 (mixed, GPUs only)"}


def device_short_name(device: DeviceInfo) -> str:
    if device.id.startswith("cuda"):
        return f"GPU {device.id.split(':')[-1]} ({device.name})"
    if device.id == "mps":
        return "Apple GPU (MPS)"
    return "CPU"


def device_title(device: DeviceInfo) -> str:
    did = device.id
    if did.startswith("cuda"):
        mem = device.memory_bytes
        mem_text = f", {mem / 2 ** 30:.0f} GB" if mem else ""
        return f"GPU {did.split(':')[-1]}: {device.name}{mem_text}"
    if did == "mps":
        return f"{device.name} (MPS)"
    detail = device.detail
    return f"CPU: {device.name}" + (f" ({detail})" if detail else "")

class _NoWheelSpinBox(QSpinBox):
    """Scrolling the form must not change the number under the mouse."""

    def wheelEvent(self, event):
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class _NoWheelDoubleSpinBox(QDoubleSpinBox):
    def wheelEvent(self, event):
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

    def stepBy(self, steps: int) -> None:
        value = self.value() * (10.0 ** (steps / 2))  # two clicks per decade: 1e-3, 3.16e-3, 1e-2
        self.setValue(float(f"{value:.2g}"))

    def textFromValue(self, value: float) -> str:
        return f"{value:.6f}".rstrip("0").rstrip(".") if value else "0"


class TrainForm(QScrollArea):
    edited = Signal()  # a setting changed (typed, or filled in): what depends on them follows (the estimate)
    hardwareChanged = Signal()  # device or precision changed
    backboneModeChosen = Signal(str)  # "features" / "last" / "all": the user picked how the backbone trains
    resetRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(255)
        self.setMaximumWidth(380)
        self.user_edited = False  # the user changed a value since the form was last filled
        self._filling = False
        holder = QWidget()
        col = QVBoxLayout(holder)
        col.setContentsMargins(0, 0, 6, 0)

        # While a run trains, what it trains, read-only, above the form, which stays editable: the form holds
        # the settings of the next run ("Train next" queues them).
        self.running_box = QGroupBox("Training now")
        running_col = QVBoxLayout(self.running_box)
        self.running_label = QLabel()
        self.running_label.setWordWrap(True)
        self.running_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.running_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens
        running_col.addWidget(self.running_label)
        self.running_box.setVisible(False)
        col.addWidget(self.running_box)
        # The runs lined up next, in order, editable (hidden while none waits): between what trains now and
        # the settings of the next run.
        self.queue_panel = QueuePanel(editable=True)
        col.addWidget(self.queue_panel)

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
        self.time_label = QLabel("")  # how long the run will take, before Start (the page estimates it)
        self.time_label.setWordWrap(True)
        self.time_label.setToolTip("Estimated from the last comparable run on this computer, or from a few "
                                   "steps of this very run measured in the background")
        what_form.addRow("Time:", self.time_label)
        # Shown for a model with a pretrained backbone: the three ways to train it (the Model page shows
        # the same choice as the layer's "What learns", with the stages it freezes).
        self.backbone_combo = QComboBox()
        for key, title in BACKBONE_MODE_TITLES.items():
            self.backbone_combo.addItem(title, key)
        self.backbone_combo.setToolTip(
            "Features only: the pretrained network is frozen and each picture's features are computed once "
            "(cached), so only the head trains - seconds.\nFine-tune the last stage: its last stage learns "
            "too.\nFine-tune everything: the whole network learns, the backbone at a tenth of the rate.")
        self.backbone_combo.currentIndexChanged.connect(self._on_backbone_mode)
        what_form.addRow("Backbone:", self.backbone_combo)
        self._what_form = what_form
        what_form.setRowVisible(self.backbone_combo, False)
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
        self.find_lr_button = QPushButton("Find learning rate…")
        self.find_lr_button.setToolTip("A short range test with these settings: the loss against a rising learning "
                                       "rate, and a suggestion you can use.")
        form.addRow("", self.find_lr_button)
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
                                      "many epochs (an epoch of equal accuracy and lower validation loss counts "
                                      "as better). Off = always train all epochs.")
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
        self.class_weights_check = QCheckBox("on")
        self.class_weights_check.setToolTip("For unbalanced classes: each class counts as much in the loss as if "
                                            "every class had as many images. Recommended when the most common "
                                            "class has more than 3x the images of the rarest.")
        aform.addRow("Class weights:", self.class_weights_check)
        self.recover_check = QCheckBox("on")
        self.recover_check.setChecked(True)
        self.recover_check.setToolTip("When the loss blows up or stays at chance, go back to the last good state "
                                      "with a lower learning rate (up to 3 times). Off: the run stops there, "
                                      "as when showing what divergence looks like.")
        aform.addRow("Recover:", self.recover_check)
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

        # Why the recommended values are what they are (from the data: its size and kind).
        self.recommendation_label = QLabel()
        self.recommendation_label.setWordWrap(True)
        self.recommendation_label.setStyleSheet("color: palette(placeholder-text);")
        col.addWidget(self.recommendation_label)
        self.defaults_button = QPushButton("Reset to recommended values")
        self.defaults_button.setToolTip("Refill the form with the recommended values for this dataset.")
        self.defaults_button.clicked.connect(self.resetRequested)
        col.addWidget(self.defaults_button)
        # Beside the settings rather than beside Start: the Start row then fits a 1024-pixel-wide window.
        self.resume_checkpoint_button = QPushButton("Continue a run…")
        self.resume_checkpoint_button.setMinimumHeight(28)
        self.resume_checkpoint_button.setToolTip(
            "Pick a run's last.pt to continue a stopped or finished run (with more epochs, if you raise Epochs).")
        self.export_button = QPushButton("Command line…")
        self.export_button.setMinimumHeight(28)
        self.export_button.setToolTip("These settings as a `cnnstudio train` command, or a torchrun launcher for "
                                      "several GPUs and machines")
        row = QHBoxLayout()
        row.addWidget(self.export_button)
        row.addWidget(self.resume_checkpoint_button)
        col.addLayout(row)
        col.addStretch(1)

        for spin in (self.epochs_spin, self.batch_spin, self.lr_spin, self.momentum_spin, self.weight_decay_spin,
                     self.warmup_spin, self.smoothing_spin, self.val_spin, self.patience_spin, self.limit_spin,
                     self.seed_spin):
            spin.valueChanged.connect(self._on_form_edited)
            spin.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.UpDownArrows)
            spin.setKeyboardTracking(False)
        self.class_weights_check.toggled.connect(self._on_form_edited)
        self.recover_check.toggled.connect(self._on_form_edited)
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
        self.device_combo.currentIndexChanged.connect(lambda _i: self.hardwareChanged.emit())
        self.precision_combo.currentIndexChanged.connect(lambda _i: self.hardwareChanged.emit())
        self.setWidget(holder)
        # Never narrower than its contents plus the scroll bar: with horizontal scrolling off, a narrower
        # column clipped the spin boxes and the dataset line on a 1024-pixel screen.
        self.setMinimumWidth(holder.minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width() + 4)

    def _on_backbone_mode(self, _index: int) -> None:
        if not self._filling:  # a mode the user chose, not one fill() shows
            self.backboneModeChosen.emit(self.backbone_combo.currentData())

    def show_backbone_mode(self, mode: str | None) -> None:
        """The model's backbone training mode, or None (no backbone: the row is hidden)."""
        self._what_form.setRowVisible(self.backbone_combo, mode is not None)
        if mode is not None:
            self._filling = True
            try:
                self.backbone_combo.setCurrentIndex(max(0, self.backbone_combo.findData(mode)))
            finally:
                self._filling = False

    def fill(self, cfg: TrainConfig) -> None:
        """Fill the form with recommended values (a dataset change refills it until the user edits it)."""
        self.set_config(cfg)
        self.user_edited = False

    def set_config(self, cfg: TrainConfig) -> None:
        """Show these values (what really runs, when a run was started with overrides)."""
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
            self.class_weights_check.setChecked(bool(cfg.class_weights))
            self.recover_check.setChecked(bool(cfg.recover))
            for combo, value in ((self.device_combo, cfg.device), (self.precision_combo, cfg.precision)):
                index = combo.findData(value)
                if index >= 0:
                    combo.setCurrentIndex(index)
        finally:
            self._filling = False
        self._update_optimizer_fields()

    def _on_form_edited(self, *_args) -> None:
        if not self._filling:
            self.user_edited = True
        self.edited.emit()

    def _update_optimizer_fields(self) -> None:
        self.momentum_spin.setEnabled(self.optimizer_combo.currentData() == "sgd")

    def values(self) -> ConfigValues:
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
            "class_weights": self.class_weights_check.isChecked(),
            "recover": self.recover_check.isChecked(),
            "device": self.device_choice(),
            "precision": self.precision_choice(),
        }

    @property
    def what_form(self) -> QFormLayout:
        """The "What is trained" rows (the Backbone row shows only for a pretrained backbone)."""
        return self._what_form

    def device_choice(self) -> str:
        """The device chosen: "auto" or a device id ("cpu", "cuda:0", "mps")."""
        return str(self.device_combo.currentData() or "auto")

    def precision_choice(self) -> str:
        return str(self.precision_combo.currentData() or "auto")

    def set_devices(self, devices: list[DeviceInfo]) -> None:
        """The devices PyTorch found, best first; the current choice is kept when it is still there."""
        current = self.device_combo.currentData()
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        self.device_combo.addItem(f"Automatic ({device_short_name(devices[0]) if devices else 'CPU'})", "auto")
        for d in devices:
            self.device_combo.addItem(device_title(d), d.id)
            self.device_combo.setItemData(self.device_combo.count() - 1, f"{d.name}: {d.detail}",
                                          Qt.ItemDataRole.ToolTipRole)
        index = self.device_combo.findData(current)
        self.device_combo.setCurrentIndex(index if index >= 0 else 0)
        self.device_combo.blockSignals(False)

    def show_recommendation(self, reasons: tuple[str, ...] | list[str]) -> None:
        """The sentences that explain the recommended values (shown under the form)."""
        self.recommendation_label.setText("Recommended: " + " ".join(reasons) if reasons else "")
        self.recommendation_label.setVisible(bool(reasons))

    def show_precision(self, precision: str | None, problem: str | None, device: str) -> None:
        """What the precision chosen means on `device` (the concrete device id), or why it cannot be used."""
        requested = self.precision_combo.currentData() or "auto"
        where = "this GPU" if device.startswith("cuda") else ("Apple MPS" if device == "mps" else "this CPU")
        if problem:
            self.precision_label.setText(problem)
            self.precision_label.setStyleSheet("color: #c0392b;")
            return
        self.precision_label.setStyleSheet("color: palette(placeholder-text);")
        if requested == "auto":
            if precision is None:
                self.precision_label.setText("Automatic is decided once PyTorch has loaded.")
            else:
                why = {"bf16": "native bf16 support", "fp16": "fast fp16", "fp32": "no fast 16-bit math"}[precision]
                self.precision_label.setText(f"Automatic means {precision} on {where} ({why}).")
        else:
            self.precision_label.setText(f"{precision or requested} on {where}.")

    def show_summary(self, dataset: Dataset | None, dataset_name: str, spec: ModelSpec | None,
                     augmentation: Augmentation) -> None:
        """What will be trained: the loaded data (None: not yet), the model spec and the augmentation."""
        if dataset is None:
            self.dataset_label.setText("none loaded yet (Data page)")
        else:
            n = int(dataset.train_images.shape[0])
            shape = "x".join(str(d) for d in dataset.input_shape)
            self.dataset_label.setText(f"{getattr(dataset, 'title', '') or dataset_name}: "
                                       f"{n:,} training images, {dataset.num_classes} classes, {shape}")
        self.model_label.setText("none chosen yet (Model page)" if spec is None else
                                 str(spec.get("name") or "custom model"))
        self.augment_label.setText(augmentation_text(augmentation))

    def set_running(self, summary: str | None) -> None:
        """While a run trains (`summary`: what it trains), show that read-only above the form; the form stays
        editable, for the next run. The learning-rate finder waits for the run to end (it would compete
        with it for the cores)."""
        running = summary is not None
        self.running_box.setVisible(running)
        self.running_label.setText(f"{summary}\n\nThe settings below are for the next run: Train next queues "
                                   "them." if running else "")
        self.find_lr_button.setEnabled(not running)
