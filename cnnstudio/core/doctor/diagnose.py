"""The data doctor: one call that finds the label issues, the duplicates and the outliers of a dataset.

The CLI (`cnnstudio doctor`) and the app's Review view both call diagnose(); the work is in the modules
beside this one, each with one job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cnnstudio.core.datasets.base import Dataset
from cnnstudio.core.doctor.crossval import CrossValidation, Progress, doctor_config, out_of_sample, \
    predict_with_features
from cnnstudio.core.doctor.duplicates import find_duplicates, pixel_digests
from cnnstudio.core.doctor.label_issues import find_label_issues
from cnnstudio.core.doctor.neighbours import nearest, reduce
from cnnstudio.core.doctor.outliers import find_outliers, pixel_spread
from cnnstudio.core.doctor.phash import phash
from cnnstudio.core.doctor.pool import Pool
from cnnstudio.core.doctor.report import DoctorReport
from cnnstudio.core.errors import CheckpointError
from cnnstudio.core.training.config import TrainConfig
from cnnstudio.core.training.control import RunControl

NEIGHBOURS = 10


def checkpoint_cross_validation(pool: Pool, checkpoint: str | Path, folds: int = 5,
                                cancelled: Callable[[], bool] | None = None) -> CrossValidation:
    """With a trained model: its penultimate features for every picture and a linear head (logistic
    regression) cross-validated on them. Seconds instead of k trainings; the features have seen the
    training labels, so label issues are found less well than by crossval.out_of_sample."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    from cnnstudio.core.inference import Predictor

    start = time.perf_counter()
    predictor = Predictor(checkpoint)
    # Only the model's features are used (the linear head learns this dataset's classes), so a model of
    # other classes, or of the same classes in another order, serves as well; the picture size must fit.
    if tuple(predictor.input_shape) != tuple(pool.data.input_shape):
        raise CheckpointError(f"{checkpoint} takes {predictor.input_shape} pictures, this dataset's are "
                              f"{pool.data.input_shape}")
    _, features = predict_with_features(predictor, pool.images, want_features=True, cancelled=cancelled)
    counts = np.bincount(pool.labels)
    folds = max(2, min(folds, int(counts[counts > 0].min())))
    # On the top principal components, standardised: the raw features (thousands of dimensions for a
    # network that flattens its last feature maps) took lbfgs 40 s of CPU for 600 pictures and did not
    # converge; 64 standardised components take well under a second and converge.
    reduced = reduce(features)
    reduced = (reduced - reduced.mean(axis=0)) / reduced.std(axis=0).clip(min=1e-6)
    head = LogisticRegression(max_iter=1000)
    probs = cross_val_predict(head, reduced, pool.labels, cv=folds, method="predict_proba")
    full = np.zeros((len(pool), len(pool.data.classes)), dtype=np.float32)
    full[:, np.unique(pool.labels)] = probs
    method = (f"{folds}-fold cross-validation of a linear head on the penultimate features of "
              f"{Path(checkpoint).name}")
    return CrossValidation(full, features, method, time.perf_counter() - start)


def diagnose(data: Dataset, *, data_name: str | None = None, checkpoint: str | Path | None = None,
             model: str | None = None, epochs: int | None = None, folds: int = 4, seed: int = 0,
             progress: Progress | None = None, control: RunControl | None = None) -> DoctorReport:
    """Everything the doctor finds in `data` (both splits)."""
    start = time.perf_counter()
    control = control or RunControl()
    pool = Pool.of(data)
    if checkpoint is not None:
        cv = checkpoint_cross_validation(pool, checkpoint, cancelled=lambda: control.stop_requested)
    else:
        cfg = doctor_config(data_name or data.name, data, model, epochs, seed)
        cv = out_of_sample(pool, cfg, folds=folds, progress=progress, control=control)
    return findings(pool, cv, progress=progress, control=control, started=start)


def findings(pool: Pool, cv: CrossValidation, *, progress: Progress | None = None,
             control: RunControl | None = None, started: float | None = None) -> DoctorReport:
    """The report from the probabilities and features (what the tests feed directly)."""
    start = started if started is not None else time.perf_counter()
    control = control or RunControl()
    if progress is not None:
        progress(0.95, 1.0, "comparing the pictures")
    issues = find_label_issues(pool, cv.probabilities)
    neighbours = nearest(cv.features, NEIGHBOURS, cancelled=lambda: control.stop_requested)
    hashes = np.concatenate([phash(batch.numpy()) for _, batch in pool.batches()])
    duplicates = find_duplicates(pool, pixel_digests(pool, lambda: control.stop_requested), neighbours, hashes)
    outliers = find_outliers(pool, neighbours, pixel_spread(pool))
    data = pool.data
    return DoctorReport(dataset=data.name, source=data.source or data.name, classes=tuple(data.classes),
                        pictures=len(pool), label_issues=tuple(issues), duplicates=tuple(duplicates),
                        outliers=tuple(outliers), method=cv.method, seconds=time.perf_counter() - start)


def estimate_seconds(data: Dataset, cfg: TrainConfig, folds: int = 4) -> float:
    """How long diagnose() will take without a checkpoint: `folds` trainings on (folds-1)/folds of the
    pictures, timed by the estimate every run gets (core/training/estimate.py), plus the comparisons."""

    from cnnstudio.core.training.estimate import estimate_duration

    pool = Pool.of(data)
    share = (folds - 1) / folds
    n = len(pool)
    kept = np.arange(int(n * share))
    held = np.arange(int(n * share), n)
    sub = pool.split(kept, held)
    one = estimate_duration(cfg, sub).seconds
    return folds * one + n / 5000.0  # the comparisons: about 5,000 pictures a second here
