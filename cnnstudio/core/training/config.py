"""The training configuration: one dataclass, JSON round-trippable, with per-dataset defaults."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any
from collections.abc import Mapping

from cnnstudio.core.bounded import short_repr
from cnnstudio.core.errors import CNNStudioError

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MONITORS = ("val_accuracy", "val_loss")
MAX_SEED = 2**32 - 1  # what every RNG we seed takes, with room for the per-epoch seeds derived from it
MAX_EPOCHS = 100_000
MAX_BATCH = 1 << 20
MAX_COUNT = 10**9  # training samples, steps between logs
# Every numeric setting's range (low, high, as the message names it), checked by TrainConfig.validate.
# Generous for any real run, tight enough that no arithmetic on a setting overflows: the CLI's option
# types, the Train page and a config read from a checkpoint all meet the same bounds.
SETTING_RANGES: dict[str, tuple[float, float, str]] = {
    "epochs": (1, MAX_EPOCHS, "epochs"),
    "batch_size": (1, MAX_BATCH, "batch size"),
    "eval_batch_size": (1, MAX_BATCH, "evaluation batch size"),
    "step_size": (0, MAX_EPOCHS, "step size"),
    "early_stopping_patience": (0, MAX_EPOCHS, "early-stopping patience"),
    "seed": (0, MAX_SEED, "seed"),
    "limit_train": (0, MAX_COUNT, "--limit-train"),
    "log_every": (0, MAX_COUNT, "steps between logs"),
    "lr": (0, 1e15, "learning rate"),  # huge rates are allowed to diverge, as a lesson
    "momentum": (0, 1, "momentum"),
    "weight_decay": (0, 1e3, "weight decay"),
    "warmup_epochs": (0, MAX_EPOCHS, "warmup epochs"),
    "label_smoothing": (0, 1, "label smoothing"),
    "val_split": (0, 1, "validation split"),
    "augment.crop_padding": (0, 1024, "augmentation crop_padding"),
    "augment.rotation": (0, 360, "augmentation rotation"),
    "augment.scale": (0, 1, "augmentation scale"),
    "augment.translate": (0, 1, "augmentation translate"),
    "augment.lighting": (0, 1, "augmentation lighting"),
}
WHOLE_SETTINGS = frozenset({"epochs", "batch_size", "eval_batch_size", "step_size", "early_stopping_patience",
                            "seed", "limit_train", "log_every"})


@dataclass
class Augmentation:
    """Label-preserving augmentations, applied on the training device as batched tensor ops."""

    crop_padding: int = 0  # random crop after zero padding by this many pixels (0 = off)
    hflip: bool = False  # random horizontal flip (off for digits and text: a flipped 2 is no 2)
    rotation: float = 0.0  # random rotation in degrees, uniform in [-rotation, rotation]
    scale: float = 0.0  # random zoom, uniform in [1 - scale, 1 + scale]
    translate: float = 0.0  # random shift as a fraction of the image size
    # Random brightness and contrast: each image's scaled by its own factors in [1 - lighting, 1 + lighting]
    # (photos taken in other light; a shape's colour and contrast told apart from its form).
    lighting: float = 0.0

    @property
    def enabled(self) -> bool:
        return bool(self.crop_padding or self.hflip or self.rotation or self.scale or self.translate or self.lighting)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Augmentation:
        """From a saved config: fields this version does not know (a newer version's) are left out."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def affine(self) -> bool:
        return bool(self.rotation or self.scale or self.translate)


@dataclass
class TrainConfig:
    dataset: str = "shapes"
    model: str = "convnet-5x5"  # preset name or path of a JSON spec; the spec itself travels in `spec`
    spec: dict[str, Any] | None = None
    epochs: int = 3
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9  # SGD only
    nesterov: bool = True  # SGD only
    weight_decay: float = 0.0
    schedule: str = "constant"
    step_size: int = 0  # epochs between x0.1 decays for the step schedule (0: a third of the run)
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    val_split: float = 0.1
    augment: Augmentation = field(default_factory=Augmentation)
    early_stopping_patience: int = 0  # epochs without improvement before stopping (0 = off)
    class_weights: bool = False  # weight the loss by inverse class frequency (for unbalanced classes)
    monitor: str = "val_accuracy"
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    limit_train: int = 0  # use only the first N training samples (0 = all): quick experiments
    data_dir: str | None = None
    eval_batch_size: int = 1024
    log_every: int = 0  # steps between step events (0 = about 50 per epoch)
    # Go back to the last good state with a lower learning rate when the loss blows up or stays at chance
    # (training/recovery.py); off: a divergence ends the run, as a teacher may want to show.
    recover: bool = True

    def validate(self) -> None:
        """Raise CNNStudioError with one clear sentence for any value that cannot work."""

        def bad(msg: str) -> None:
            raise CNNStudioError(msg)

        if not isinstance(self.augment, Augmentation):
            bad(f"augmentation settings are damaged (got {short_repr(self.augment)})")
        for name in ("dataset", "model", "optimizer", "schedule", "device", "precision", "monitor"):
            if not isinstance(getattr(self, name), str):
                bad(f"{name} must be text (got {short_repr(getattr(self, name))})")
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            bad(f"data folder must be text (got {short_repr(self.data_dir)})")
        if self.spec is not None and not isinstance(self.spec, dict):
            bad(f"the model spec must be an object (got {short_repr(self.spec)})")
        for name in ("nesterov", "class_weights", "recover"):
            if not isinstance(getattr(self, name), bool):
                bad(f"{name.replace('_', ' ')} must be true or false (got {short_repr(getattr(self, name))})")
        if not isinstance(self.augment.hflip, bool):
            bad(f"augmentation hflip must be true or false (got {short_repr(self.augment.hflip)})")
        # Types first, then ranges: a config read from JSON or typed by hand may hold text, NaN or 1e308,
        # and comparisons with NaN are all False; every setting has a range, so no later arithmetic on it
        # (warm-up steps, schedules, buffers) can overflow or allocate without bound.
        for name, (low, high, label) in SETTING_RANGES.items():
            value = getattr(self.augment, name[8:]) if name.startswith("augment.") else getattr(self, name)
            whole = name in WHOLE_SETTINGS
            if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
                bad(f"{label} must be {'a whole number' if whole else 'a finite number'} (got {short_repr(value)})")
            if not whole and not math.isfinite(value):
                bad(f"{label} must be a finite number (got {short_repr(value)})")
            if value < low:
                bad(f"{label} cannot be negative (got {short_repr(value)})" if low == 0 else
                    f"{label} must be at least {low:g} (got {short_repr(value)})")
            if value > high:
                bad(f"{label} must be at most {high:,} (got {short_repr(value)})" if whole else
                    f"{label} must be at most {high:g} (got {short_repr(value)})")
        if not self.lr > 0:
            bad(f"learning rate must be positive (got {self.lr})")
        if not 0 <= self.val_split < 1:
            bad(f"validation split must be in [0, 1) (got {self.val_split})")
        if not 0 <= self.label_smoothing < 1:
            bad(f"label smoothing must be in [0, 1) (got {self.label_smoothing})")
        if self.optimizer not in OPTIMIZERS:
            bad(f"unknown optimizer '{self.optimizer}' (choose from {', '.join(OPTIMIZERS)})")
        if self.schedule not in SCHEDULES:
            bad(f"unknown LR schedule '{self.schedule}' (choose from {', '.join(SCHEDULES)})")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            bad(f"unknown device '{self.device}' (choose from {', '.join(DEVICES)})")
        if self.precision not in PRECISIONS:
            bad(f"unknown precision '{self.precision}' (choose from {', '.join(PRECISIONS)})")
        if self.monitor not in MONITORS:
            bad(f"unknown monitor '{self.monitor}' (choose from {', '.join(MONITORS)})")
        if not 0 <= self.augment.lighting < 1:
            bad(f"lighting augmentation must be in [0, 1) (got {self.augment.lighting})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("augment"), dict):
            values["augment"] = Augmentation.from_dict(values["augment"])
        return cls(**values)

    def with_changes(self, **changes: Any) -> TrainConfig:
        return replace(self, **changes)


# The augmentations `cnnstudio train --augment NAME` offers; launch.py names a config's augmentation by
# this table when it writes the command line back.
AUGMENT_PRESETS: dict[str, Augmentation] = {
    "none": Augmentation(),
    "crop": Augmentation(crop_padding=4),
    "flip": Augmentation(hflip=True),
    "crop+flip": Augmentation(crop_padding=4, hflip=True),
    "affine": Augmentation(rotation=10.0, scale=0.1, translate=0.1),
    "shift": Augmentation(crop_padding=2),  # the default for grayscale folders (digits, letters)
    "crop+zoom": Augmentation(crop_padding=4, scale=0.1),
    "shift+lighting": Augmentation(crop_padding=2, lighting=0.3),  # the default for colour folders (photos)
}


def augmentation_text(aug: Augmentation | None) -> str:
    """The augmentation in words, as the Train and Runs pages and the log show it."""
    if aug is None or not aug.enabled:
        return "none"
    parts = []
    if aug.crop_padding:
        parts.append(f"random crop (pad {aug.crop_padding})")
    if aug.hflip:
        parts.append("horizontal flips")
    if aug.rotation:
        parts.append(f"rotation ±{aug.rotation:g}°")
    if aug.scale:
        parts.append(f"zoom ±{100 * aug.scale:.0f} %")
    if aug.translate:
        parts.append(f"shift ±{100 * aug.translate:.0f} %")
    if aug.lighting:
        parts.append(f"brightness and contrast ±{100 * aug.lighting:.0f} %")
    return ", ".join(parts)


# The registered datasets, whose settings below were tuned on them; any other name is a user's folder.
BUILT_IN = ("mnist", "kmnist", "fashion-mnist", "cifar10", "shapes")


def data_config(dataset: str, model: str | None = None) -> TrainConfig:
    """The recipe tuned for a built-in dataset (or cautious defaults for a folder not loaded yet), before
    the model's traits adapt it (cnnstudio.core.training.recipes)."""
    if dataset in ("mnist", "kmnist", "fashion-mnist"):
        # Designed for time to accuracy, as the CIFAR-10 speed records were: a small BatchNorm net
        # (fast-cnn), large batches, SGD with Nesterov momentum on a one-cycle schedule, label smoothing,
        # two epochs. Measured on Fashion-MNIST (docs/benchmarks-history.md; the current figure is in
        # docs/benchmarks.md, "Time to a good model"): 91.5 % test accuracy in 41 s from process start,
        # 14.5x sooner than the tutorial recipe (convnet-5x5, Adam, batch 100: 10 epochs to 91 % on that
        # machine).
        cfg = TrainConfig(dataset=dataset, model=model or "fast-cnn", epochs=2, batch_size=256, optimizer="sgd",
                          lr=0.2, momentum=0.9, nesterov=True, weight_decay=5e-4, schedule="onecycle",
                          label_smoothing=0.1)
    elif dataset == "cifar10":
        cfg = TrainConfig(dataset=dataset, model=model or "resnet20", epochs=30, batch_size=256,
                          optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4,
                          schedule="onecycle", label_smoothing=0.1,
                          augment=Augmentation(crop_padding=4, hflip=True))
    elif dataset == "shapes":
        cfg = TrainConfig(dataset=dataset, model=model or "cnn3-dropout", epochs=3, batch_size=128,
                          optimizer="adam", lr=1e-3, schedule="constant")
    else:  # a folder of the user's own images, not loaded yet: never mirrored (it may hold characters)
        cfg = TrainConfig(dataset=dataset, model=model or "vgg-bn", epochs=15, batch_size=64,
                          optimizer="adamw", lr=1e-3, weight_decay=5e-4, schedule="cosine",
                          val_split=0.1, augment=Augmentation(crop_padding=4))
    return cfg


# TrainConfig field names with their values, as build_config() takes them: the Train form's values, a
# run's overrides. Checked there, field by field.
ConfigValues = dict[str, object]


def build_config(base: TrainConfig, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """The one way to make a run's config: `base` with `overrides` (TrainConfig field names) applied, then
    validated. The CLI, the Train page and a resumed run all come through here, so every caller gets
    the same checks and the same one-sentence CNNStudioError for an unknown setting or a bad value."""
    known = {f.name for f in fields(TrainConfig)}
    changes: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if key not in known:
            raise CNNStudioError(f"unknown training setting '{key}'")
        if key == "augment" and isinstance(value, dict):
            aug_known = {f.name for f in fields(Augmentation)}
            unknown = sorted(set(value) - aug_known)
            if unknown:
                raise CNNStudioError(f"unknown augmentation setting '{unknown[0]}'")
            value = Augmentation(**value)
        changes[key] = value
    cfg = replace(base, **changes)
    cfg.validate()
    return cfg


# What a resumed run may change; everything else continues as the checkpoint saved it.
RESUMABLE = ("epochs", "device", "data_dir")


def resumed_config(saved: TrainConfig, requested: TrainConfig) -> TrainConfig:
    """The config a resumed run trains with: the saved one, with more epochs (never fewer), and the
    requested device and data folder."""
    epochs = max(saved.epochs, requested.epochs) if requested.epochs else saved.epochs
    return build_config(saved, {"epochs": epochs, "device": requested.device,
                                "data_dir": requested.data_dir or saved.data_dir})
