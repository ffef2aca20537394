"""Out-of-sample class probabilities for every picture, and features to compare pictures by.

Confident learning needs each picture's probabilities from a model that never trained on that picture:
a model that has seen a mislabelled picture learns its wrong label and agrees with it. So the pool is
cut into k folds (stratified), k models are trained with the Trainer and the recommendation every run
gets for this (data, model), each on k-1 folds, and each predicts the fold it did not see (the
cross-validation of Northcutt et al., JAIR 2021, section 4).

The features (the input of the model's last linear layer, its penultimate activations) all come from
one model, so that distances between any two pictures are measured in one space: the first fold's
model, or the given checkpoint's.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstudio.core.doctor.pool import Pool, stratified_folds
from cnnstudio.core.errors import CNNStudioError, TrainingError
from cnnstudio.core.training.config import TrainConfig, build_config
from cnnstudio.core.training.control import RunControl

if TYPE_CHECKING:
    import torch

    from cnnstudio.core.inference import Predictor

# (done, total, what): done and total in units of work, what in words
Progress = Callable[[float, float, str], None]
MIN_PER_CLASS = 2  # a class needs a picture in at least two folds to be learnt without that picture
# The cross-validation models: a small BatchNorm network, at most ten epochs each. On scikit-learn's 1,797
# handwritten digits with 8 % moved, fast-cnn for 10 epochs found 88 % of them in 116 s on a busy 2-core
# machine, lenet5 for 10 epochs 94 % in 184 s, the recommended convnet-5x5 for 30 epochs (batches of 16)
# would have taken about 15 minutes; docs/benchmarks.md has the figures on several folders.
DOCTOR_MODEL = "fast-cnn"
DOCTOR_MAX_EPOCHS = 10


@dataclass(frozen=True)
class CrossValidation:
    probabilities: np.ndarray  # (N, K) float32: each row from the model that did not see that picture
    features: np.ndarray  # (N, D) float32: one model's penultimate activations
    method: str  # in words, for the report
    seconds: float


def doctor_config(data_name: str, data: Any, model: str | None, epochs: int | None, seed: int) -> TrainConfig:
    """The recommendation every run gets for this data and model (the one recommend()), for DOCTOR_MODEL
    unless the user names another, at most DOCTOR_MAX_EPOCHS epochs unless the user says how many."""
    from cnnstudio.core.training.recommend import recommend

    cfg = recommend(data_name, data, model or DOCTOR_MODEL, epochs=epochs).config
    changes: dict[str, Any] = {"seed": seed, "epochs": epochs or min(cfg.epochs, DOCTOR_MAX_EPOCHS)}
    return build_config(cfg, changes)


def out_of_sample(pool: Pool, cfg: TrainConfig, *, folds: int = 4, progress: Progress | None = None,
                  control: RunControl | None = None, work_dir: Path | None = None) -> CrossValidation:
    """Train `folds` models on the pool (each on all folds but one) and predict the fold each left out."""
    from cnnstudio.core.inference import Predictor
    from cnnstudio.core.training.trainer import Trainer

    start = time.perf_counter()
    control = control or RunControl()
    counts = np.bincount(pool.labels, minlength=len(pool.data.classes))
    thin = [pool.data.classes[k] for k in range(len(counts)) if 0 < counts[k] < MIN_PER_CLASS]
    if thin:
        raise CNNStudioError(f"class {', '.join(repr(c) for c in thin[:3])} has a single picture: the doctor "
                             "needs at least two of every class to judge a label by the others")
    folds = max(2, min(folds, int(counts[counts > 0].min())))
    fold_of = stratified_folds(pool.labels, folds, cfg.seed)
    probs = np.zeros((len(pool), len(pool.data.classes)), dtype=np.float32)
    first: Predictor | None = None  # the first fold's model: every picture's features come from it
    with tempfile.TemporaryDirectory(prefix="cnnstudio-doctor-", dir=work_dir) as temp:
        for f in range(folds):
            held = np.flatnonzero(fold_of == f)
            kept = np.flatnonzero(fold_of != f)
            sub = pool.split(kept, held)

            def on_event(event: Any, f: int = f) -> None:
                epoch, epochs = getattr(event, "epoch", None), getattr(event, "epochs", None)
                if progress is not None and epoch is not None and epochs:
                    step = getattr(event, "step", None)
                    per = getattr(event, "steps_per_epoch", None)
                    within = (epoch - 1 + step / per) / epochs if step and per else epoch / epochs
                    progress(f + within, folds + 1, f"training model {f + 1} of {folds}")

            trainer = Trainer(cfg, dataset=sub, run_dir=Path(temp) / f"fold-{f}", on_event=on_event,
                              control=control)
            result = trainer.run()
            if result.status == "stopped" or control.stop_requested:
                raise DoctorCancelled("the data doctor was cancelled")
            if result.status == "failed" or result.checkpoint is None:
                raise TrainingError(f"the data doctor's model {f + 1} of {folds} did not train: {result.message}")
            predictor = Predictor(result.checkpoint)
            fold_probs, _ = predict_with_features(predictor, pool.rows(held), want_features=False)
            probs[held] = fold_probs
            first = first or predictor
    if progress is not None:
        progress(folds, folds + 1, "measuring every picture's features")
    assert first is not None
    _, features = predict_with_features(first, pool.images, want_features=True,
                                        cancelled=lambda: control.stop_requested)
    if control.stop_requested:
        raise DoctorCancelled("the data doctor was cancelled")
    method = (f"{folds}-fold cross-validation: {folds} {cfg.model} models trained {cfg.epochs} epochs each "
              f"({cfg.optimizer} at {cfg.lr:g}), each predicting the pictures it did not train on")
    return CrossValidation(probs, features, method, time.perf_counter() - start)


class DoctorCancelled(CNNStudioError):
    """The user cancelled the doctor (nothing was changed)."""


def last_linear(model: torch.nn.Module) -> torch.nn.Module:
    """The model's classifier: its last linear layer, whose input is the penultimate feature vector."""
    import torch

    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise CNNStudioError("the model has no linear layer to read features before (it ends in a convolution)")
    return linears[-1]


def predict_with_features(predictor: Predictor, images: Any, *, want_features: bool, batch_size: int = 512,
                          cancelled: Callable[[], bool] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities (N, K), penultimate features (N, D) or an empty array) for uint8 images, in batches."""
    import torch

    captured: list[torch.Tensor] = []
    hook = None
    if want_features:
        hook = last_linear(predictor.model).register_forward_hook(
            lambda _m, inputs, _out: captured.append(inputs[0].detach().flatten(1).float().cpu()))
    probs: list[np.ndarray] = []
    try:
        predictor.model.eval()
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                if cancelled is not None and cancelled():
                    raise DoctorCancelled("the data doctor was cancelled")
                logits = predictor.model(predictor.normalise(images[start:start + batch_size]))
                probs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    finally:
        if hook is not None:
            hook.remove()
    k = len(predictor.classes)
    out = np.concatenate(probs) if probs else np.zeros((0, k), np.float32)
    feats = torch.cat(captured).numpy() if captured else np.zeros((len(out), 0), np.float32)
    return out.astype(np.float32), feats.astype(np.float32)
