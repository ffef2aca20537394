"""Training recipes that follow the model as well as the data.

The MNIST family's defaults (SGD with Nesterov at 0.2, one-cycle, batch 256, label smoothing) were tuned
for fast-cnn, a BatchNorm network, and used to be applied to any model. Measured on Fashion-MNIST, one
epoch (issue 29, docs/benchmarks.md "Recipes that follow the model"): the tutorial's ConvNet
(convnet-5x5, no normalisation) diverged at step 52 with them and sigmoid-cnn stayed at chance, where
Adam at 1e-3 trains both. So the model's traits (cnnstudio.core.models.traits) choose among:

- "batchnorm": a network with normalisation layers keeps the data's recipe, which was tuned on such a
  network (fast-cnn's time to 91 % on Fashion-MNIST is unchanged);
- "no-normalisation": Adam at 1e-3 in batches of 100, a short warm-up, cosine decay to zero, no weight
  decay or label smoothing: the tutorial's recipe, made safe in the first steps and annealed at the end;
- "saturating": the same at 3e-3 for sigmoid and tanh units (a sigmoid passes back at most a quarter of
  the gradient and saturated units little, so the first layers learn slowly at 1e-3: after one epoch
  lenet5 reached 80.6 % at 1e-3 and 84.3 % at 3e-3, sigmoid-cnn 79.3 % at 3e-3);
- "pretrained": AdamW at 1e-3 with weight decay, warm-up and cosine: the head of a frozen (or slowly
  fine-tuned) ImageNet backbone, as for a folder of photos;
- a custom network that none of these was measured on (deep without normalisation) still gets the
  closest recipe but is marked `lr_auto`: its learning rate is meant to come from the learning-rate
  finder (`cnnstudio train --lr auto`).

Where the data's recipe already is Adam at 1e-3 (the shapes set, a user's folder) it stands, except for
a saturating network's learning rate. Qt-free and torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from cnnstudio.core.models.traits import ModelTraits, traits_for
from cnnstudio.core.training.config import TrainConfig

PLAIN_LR = 1e-3  # Adam, no normalisation: the tutorial's rate
SATURATING_LR = 3e-3  # Adam, sigmoid or tanh units (measured: docs/benchmarks.md)
# The tutorial's batch. Measured on Fashion-MNIST, one epoch, the five networks without normalisation
# (convnet-5x5, cnn3-dropout, lenet5, sigmoid-cnn, a custom spec): each trained 0.2 to 0.7 points better in
# batches of 100 than of 128 (docs/benchmarks.md, "Recipes that follow the model").
PLAIN_BATCH = 100
PRETRAINED_BATCH = 128  # the head of a pretrained backbone (by rule: no ImageNet weights offline to measure)
# Warm-up: a fifth of the run, at most one epoch. One epoch of warm-up kept convnet-5x5 from blowing up
# in its first steps on a folder of digits (recommend.WARMUP_EPOCHS); in a one-epoch run a whole epoch
# of warm-up would leave no time at the full rate.
WARMUP_SHARE, WARMUP_MAX = 0.2, 1.0
# Plain networks deeper than this (weight layers, without normalisation) were not measured: the presets
# without normalisation have at most 5 (lenet5, cnn3-dropout).
MAX_PLAIN_DEPTH = 6


@dataclass(frozen=True)
class Recipe:
    name: str  # "batchnorm", "no-normalisation", "saturating", "pretrained"
    reason: str  # one sentence for the Train page, the CLI and the log
    changes: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields that differ from the data's recipe
    lr_auto: bool = False  # no measured recipe fits: the learning rate should come from the finder

    def apply(self, base: TrainConfig) -> TrainConfig:
        return replace(base, **self.changes) if self.changes else base


def warmup_for(epochs: int) -> float:
    return round(min(WARMUP_MAX, WARMUP_SHARE * max(1, epochs)), 2)


def lr_text(lr: float) -> str:
    """0.001 -> "1e-3", 0.2 -> "0.2": rates as people write them."""
    return f"{lr:g}" if lr >= 0.01 else f"{lr:.0e}".replace("e-0", "e-")


OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}


def _settings(cfg: TrainConfig) -> str:
    warm = f" with a {cfg.warmup_epochs:g}-epoch warm-up" if cfg.warmup_epochs else ""
    return (f"{OPTIMIZER_NAMES.get(cfg.optimizer, cfg.optimizer)} at {lr_text(cfg.lr)} in batches of "
            f"{cfg.batch_size}{warm}, {cfg.schedule}")


def choose_recipe(base: TrainConfig, model: str | None = None, spec: Any = None, epochs: int | None = None,
                  input_shape: tuple[int, ...] | None = None, num_classes: int | None = None) -> Recipe | None:
    """The recipe for training `model` (a preset or JSON file) or `spec` (the layer editor's) on the data
    whose recipe is `base`, for `epochs` epochs (else base's); None when the model cannot be read."""
    found = traits_for(model or base.model, spec, input_shape, num_classes)
    if found is None:
        return None
    name, traits = found
    return recipe_for(base, name, traits, epochs or base.epochs, custom=spec is not None or not _is_preset(model))


def _is_preset(model: str | None) -> bool:
    from cnnstudio.core.models.presets import PRESETS

    return model is None or model in PRESETS


def recipe_for(base: TrainConfig, name: str, traits: ModelTraits, epochs: int, custom: bool = False) -> Recipe:
    tuned_for_batchnorm = base.optimizer == "sgd"  # the built-in large-rate recipes (MNIST family, CIFAR-10)
    size = f" ({traits.params:,} parameters)" if traits.params else ""
    if traits.pretrained:
        changes: dict[str, Any] = {}
        if tuned_for_batchnorm:
            changes = dict(optimizer="adamw", lr=1e-3, weight_decay=5e-4, schedule="cosine",
                           warmup_epochs=warmup_for(epochs), batch_size=min(base.batch_size, PRETRAINED_BATCH))
        cfg = replace(base, **changes)
        part = "frozen" if traits.frozen else "fine-tuned at a tenth of the rate"
        return Recipe("pretrained", f"{name} starts from ImageNet weights ({part}): {_settings(cfg)}, so the new "
                      "head learns without large steps disturbing what the backbone knows.", changes)
    if traits.normalised and traits.saturating is None:
        return Recipe("batchnorm", f"{name} has normalisation layers{size}: the settings tuned for "
                      f"{base.dataset} suit it.")
    lr = SATURATING_LR if traits.saturating else PLAIN_LR
    if tuned_for_batchnorm:
        changes = dict(optimizer="adam", lr=lr, batch_size=PLAIN_BATCH, weight_decay=0.0, schedule="cosine",
                       warmup_epochs=warmup_for(epochs), label_smoothing=0.0)
    else:  # the data's recipe is already Adam-style: only a saturating network needs a larger rate
        changes = {"lr": lr} if lr != base.lr and base.lr == PLAIN_LR else {}
    cfg = replace(base, **changes)
    if traits.saturating:
        why = (f"{name} uses {traits.saturating} units{size}: {_settings(cfg)} (saturating units pass back "
               "small gradients, so a larger rate than the usual 1e-3)")
        kind = "saturating"
    else:
        why = (f"{name} has no normalisation layers{size}: {_settings(cfg)} (the large-rate recipe for "
               "BatchNorm networks diverges on such networks)" if tuned_for_batchnorm else
               f"{name} has no normalisation layers{size}: {_settings(cfg)}, the data's recipe")
        kind = "no-normalisation"
    lr_auto = custom and not traits.normalised and traits.depth > MAX_PLAIN_DEPTH
    if lr_auto:
        why += (f"; no measured recipe fits a network this deep ({traits.depth} weight layers) without "
                "normalisation, so its learning rate is found by the learning-rate finder when the run starts")
    return Recipe(kind, why + ".", changes, lr_auto)
