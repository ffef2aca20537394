"""Training defaults chosen from the data itself, with the reasons the app shows beside them.

The built-in datasets have settings tuned on them (config.data_config). A user's own folder used to
get one photo recipe whatever it held: random crops and horizontal flips, 15 epochs. On 5,000
handwritten digits that cost 15 points of test accuracy (a mirrored 2 is not a 2), and a folder of
200 images got too few optimizer steps to converge. Here the folder's images decide instead:

- grayscale images (digits, letters, sketches, scans) are never mirrored and only shifted a little;
- colour images (photos) get the same small shifts and varied lighting; mirroring is offered on the
  Data page, not on;
- the epochs follow the number of images, so a small set gets about TARGET_STEPS optimizer steps,
  and a run long enough to overfit stops early when validation accuracy stalls for a third of it.

Qt-free and torch-free: it reads only the dataset's shape and size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cnnstudio.core.text import plural
from cnnstudio.core.training.config import AUGMENT_PRESETS, BUILT_IN, Augmentation, TrainConfig, data_config
from cnnstudio.core.training.recipes import Recipe, choose_recipe, warmup_for

TARGET_STEPS = 700  # optimizer steps a small set needs to converge with Adam at 1e-3 (see docs/benchmarks-history.md)
MIN_EPOCHS, MAX_EPOCHS = 10, 60
SMALL_PHOTO_SET = 5000  # fewer photos than this: the smaller network (bn-cnn4)
IMBALANCE = 3.0  # most / least images per class above which the loss is weighted by class
CHARACTER_SHIFT = 2  # pixels: "small shifts" for digits and letters, as a random crop after padding
# Photos get the same small shifts: on a messy folder of 300 pictures they beat no augmentation by 5
# points and crops of 4 px with ±10 % zoom by 8, on 1,600 photo-like ones they lost 3 points to none
# (two and three seeds, docs/benchmarks-history.md). And brightness and contrast varied by up to 30 %: a shape
# drawn grey on grey, or photographed in other light, is the same shape (on three messy folders the
# lowest of 15 runs went from 85 % to 95 %, docs/benchmarks-history.md). Mirroring stays the user's choice.
PHOTO_AUGMENT = AUGMENT_PRESETS["shift+lighting"]
# One epoch of learning-rate warm-up: measured on 3,000 font digits, convnet-5x5 with Adam at 1e-3 and
# any augmentation blew up in its first steps and never learned (10 % test accuracy); with the warm-up
# it reached 98-99 % (docs/benchmarks-history.md).
WARMUP_EPOCHS = 1.0
# A run shorter than a third of the recommended length is said to be short. Measured on a folder of 2,000
# photo-like pictures (docs/benchmarks.md, "Recipes that follow the model"): the recommended 13 epochs
# take bn-cnn4 to 83 %, 5 epochs to 29 %, and at 2 epochs no recipe tried (Adam or SGD, rates from 1e-3
# to 1e-2, batches of 8 to 32, with or without augmentation) did better than 9-23 %, where chance is 12.5 %.
SHORT_RUN = 3


@dataclass(frozen=True)
class Recommendation:
    config: TrainConfig
    kind: str  # "built-in", "characters" (grayscale) or "photos" (colour)
    reasons: tuple[str, ...]  # sentences for the Train page, the CLI and the log
    recipe: str = ""  # the model's recipe (cnnstudio.core.training.recipes): "batchnorm", "no-normalisation", ...
    # No measured recipe fits the model (a deep custom network without normalisation): its learning rate
    # is meant to be found by the learning-rate finder (`--lr auto`); config.lr is the closest recipe's.
    lr_auto: bool = False


def batch_size_for(n_train: int) -> int:
    """Smaller batches for smaller sets: 240 images in batches of 64 are 4 steps an epoch, and 60 epochs
    of those (180 steps) left a network far from converged; in batches of 16 they are 900."""
    return 16 if n_train < 1000 else 32 if n_train < 4000 else 64


def data_kind(data: Any) -> str:
    """"photos" for colour images, "characters" for grayscale ones (digits, letters, sketches, scans)."""
    return "photos" if data.input_shape[0] == 3 else "characters"


def class_imbalance(data: Any) -> tuple[float, str, str]:
    """(most / least images per class, the most common class, the rarest) among classes that have images."""
    import numpy as np

    labels = np.asarray(data.train_labels)
    counts = np.bincount(labels.astype(np.int64), minlength=len(getattr(data, "classes", []) or [0]))
    present = np.flatnonzero(counts)
    if len(present) < 2:
        return 1.0, "", ""
    most, least = present[np.argmax(counts[present])], present[np.argmin(counts[present])]
    classes = list(getattr(data, "classes", [])) or [str(i) for i in range(len(counts))]
    return float(counts[most] / counts[least]), str(classes[most]), str(classes[least])


def _with_recipe(rec: Recommendation, model: str | None, spec: Any, epochs: int | None, data: Any) -> Recommendation:
    """`rec` adapted to the model's traits (cnnstudio.core.training.recipes), with the recipe's reason."""
    shape = tuple(data.input_shape) if data is not None and hasattr(data, "input_shape") else None
    classes = len(getattr(data, "classes", []) or []) or None
    recipe: Recipe | None = choose_recipe(rec.config, model, spec, epochs, shape, classes)
    if recipe is None:
        return rec
    reasons = rec.reasons
    if recipe.changes and rec.kind == "built-in":  # the tuned settings are not the ones used: only the length stands
        reasons = (f"{rec.config.dataset}: {plural(rec.config.epochs, 'epoch')}.",)
    return Recommendation(recipe.apply(rec.config), rec.kind, (*reasons, f"Recipe \"{recipe.name}\": {recipe.reason}"),
                          recipe.name, recipe.lr_auto)


def recommend(dataset: str, data: Any = None, model: str | None = None, spec: dict[str, Any] | None = None,
              epochs: int | None = None) -> Recommendation:
    """The settings to train `dataset` with; `data` is the loaded Dataset (needed for a user's folder,
    whose images decide), `model` a preset or JSON file the user chose (else the one recommended here),
    `spec` the layer editor's network (it wins over `model`), `epochs` the run's length if already chosen.
    The data decides first, then the model's traits adapt the recipe."""
    if dataset in BUILT_IN or data is None:
        cfg = data_config(dataset, model)
        rec = Recommendation(cfg, "built-in", ((f"settings tuned on {dataset}: {plural(cfg.epochs, 'epoch')} in "
                                               f"batches of {cfg.batch_size}, {cfg.optimizer} at {cfg.lr:g}"
                                               f" ({cfg.schedule})."),))
        return _with_recipe(rec, model, spec, epochs, data)
    kind = data_kind(data)
    c, h, w = data.input_shape
    n = int(len(data.train_labels))
    # A small set keeps a larger share for validation: early stopping judges by it.
    val_split = 0.1 if n >= 1000 else 0.2
    batch = batch_size_for(int(n * (1 - val_split)))
    steps = max(1, math.ceil(n * (1 - val_split) / batch))
    run_epochs = epochs  # the run's length when the user chose one, else the recommended length below
    epochs = int(min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_STEPS / steps))))
    # One epoch of warm-up (WARMUP_EPOCHS) in a run of the recommended length; a shorter run warms up for
    # a fifth of itself, as the model recipes do (recipes.warmup_for): a 1-epoch run would otherwise never
    # leave its warm-up.
    warmup = min(WARMUP_EPOCHS, warmup_for(run_epochs or epochs))
    # A third of the run: in its first third the cosine schedule's learning rate is still near its peak
    # and a small set's validation accuracy swings by several points from epoch to epoch (0.81-0.98 on
    # the messy folder's 48 validation pictures); a sixth ended runs on such a swing (85-98 % test
    # accuracy over eight seeds, 90-98 % with a third; docs/benchmarks-history.md).
    patience = max(3, epochs // 3) if epochs >= 15 else 0
    if kind == "characters":
        augment = Augmentation(crop_padding=CHARACTER_SHIFT)
        chosen = model or ("convnet-5x5" if max(h, w) <= 32 else "vgg-bn")
        cfg = TrainConfig(dataset=dataset, model=chosen, epochs=epochs, batch_size=batch, optimizer="adam",
                          lr=1e-3, schedule="cosine", warmup_epochs=warmup, val_split=val_split,
                          augment=augment, early_stopping_patience=patience, monitor="val_accuracy")
        why_augment = (f"Grayscale images such as digits and letters are never mirrored (a mirrored 2 is not a 2): "
                       f"small shifts of up to {CHARACTER_SHIFT} pixels only.")
    else:
        augment = Augmentation(**vars(PHOTO_AUGMENT))
        # bn-cnn4 on 240 photo-like pictures: 83 % test accuracy where vgg-bn reached 37 % (too many weights
        # for so few images, docs/benchmarks-history.md); the larger network for larger sets.
        chosen = model or ("bn-cnn4" if n < SMALL_PHOTO_SET else "vgg-bn")
        cfg = TrainConfig(dataset=dataset, model=chosen, epochs=epochs, batch_size=batch, optimizer="adamw",
                          lr=1e-3, weight_decay=5e-4, schedule="cosine", warmup_epochs=warmup,
                          val_split=val_split, augment=augment, early_stopping_patience=patience,
                          monitor="val_accuracy")
        why_augment = ("Photos: small shifts of up to 2 pixels, brightness and contrast varied by up to "
                       f"{100 * PHOTO_AUGMENT.lighting:.0f} %. Mirroring is offered on the Data page, not on: "
                       "turn it on when a mirrored picture is still the same class.")
    length = (f"{n:,} training images: {plural(epochs, 'epoch')} in batches of {batch} (about {epochs * steps:,} "
              "optimizer steps)")
    if patience:
        length += f", stopping early when validation accuracy has not improved for {plural(patience, 'epoch')}"
    reasons = [length + ".", why_augment]
    if run_epochs and run_epochs * SHORT_RUN < epochs:
        reasons.append(f"This run's {plural(run_epochs, 'epoch')} are about {run_epochs * steps:,} optimizer steps, "
                       f"under a third of the {epochs * steps:,} these images are given: a network trained from "
                       "scratch may end far below what it reaches in the full run, or near chance on hard "
                       "pictures.")
    ratio, most, least = class_imbalance(data)
    if ratio > IMBALANCE:
        cfg.class_weights = True
        reasons.append(f"Unbalanced classes: '{most}' has {ratio:.0f}x as many training images as '{least}', so "
                       "the loss is weighted by class and the rare classes count as much.")
    if model is None:
        reasons.append(f"{chosen}: recommended for {h}x{w} {'grayscale' if c == 1 else 'colour'} images.")
    return _with_recipe(Recommendation(cfg, kind, tuple(reasons)), chosen, spec, run_epochs or epochs, data)


def default_config(dataset: str, model: str | None = None, data: Any = None, spec: dict[str, Any] | None = None,
                   epochs: int | None = None) -> TrainConfig:
    """Defaults that train well for the data and the model: `model` a preset or JSON file, or `spec` the
    layer editor's network, for `epochs` epochs (recommend() says why). A user's folder: pass its
    loaded Dataset as `data` and its images decide; without it, cautious photo-style defaults."""
    return recommend(dataset, data, model, spec=spec, epochs=epochs).config
