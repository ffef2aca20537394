"""What the Evaluate and Inspect views need for one checkpoint: the model, and the test set it was trained for.

A checkpoint describes itself (classes, input shape, the dataset's name in its config), so both views
can check that the dataset loaded in the app is the one the model expects. When it is not, the
checkpoint's own dataset is loaded in the background (never downloaded: that is the Data page's job,
with its progress bar and Cancel button) and kept in a small cache, so Evaluate and Inspect share one
copy and agree on what "test image 17" is. Everything here runs on worker threads; it never touches
a widget, and it never changes the app's chosen dataset (the Data page owns that).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnstudio.core.checkpoint import CheckpointSummary, fit_problem

# (dataset name, data_dir) -> Dataset: at most two, so switching between two runs does not reload.
_CACHE_SIZE = 2
_cache: "OrderedDict[tuple[str, str | None], Any]" = OrderedDict()
_lock = threading.Lock()  # one load at a time: a second view asking for the same dataset waits, then shares it


@dataclass
class ModelContext:
    """A loaded checkpoint and the test set to use with it (None when it is not available)."""

    path: str
    predictor: Any  # cnnstudio.core.inference.Predictor
    dataset: Any = None  # cnnstudio.core.datasets.base.Dataset whose classes and input shape fit the model
    dataset_note: str = ""  # why dataset is None, or where it came from when it is not the app's dataset
    from_app: bool = False  # dataset is the one loaded in the app (state.dataset)
    # The model's layers as Inspect offers them (core.inspection.ConvLayer / LayerChoice lists).
    conv_layers: list[Any] = field(default_factory=list)
    cam_layers: list[Any] = field(default_factory=list)
    default_cam: str | None = None
    live: bool = False  # a training run's last.pt, reloaded after an epoch (Inspect's "Update during training")

    @property
    def summary(self) -> CheckpointSummary:
        return CheckpointSummary.of(self.predictor.checkpoint)

    @property
    def classes(self) -> list[str]:
        return list(self.predictor.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.predictor.input_shape)  # type: ignore[return-value]


def trained_on(checkpoint: dict[str, Any]) -> str:
    """A readable name of the dataset a checkpoint was trained on: "Shapes", "MNIST", a folder name."""
    return CheckpointSummary.of(checkpoint).dataset_title


def dataset_fits(checkpoint: dict[str, Any], dataset: Any) -> bool:
    """Whether `dataset` has exactly the checkpoint's classes (same order) and input shape."""
    return dataset is not None and fit_problem(checkpoint, dataset) is None


def describe_mismatch(checkpoint: dict[str, Any], dataset: Any) -> str:
    return fit_problem(checkpoint, dataset) or ""


def load_dataset_for(checkpoint: dict[str, Any]) -> Any:
    """The checkpoint's own dataset, from the cache or loaded now (no download). Raises CNNStudioError."""
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.errors import DatasetError

    summary = CheckpointSummary.of(checkpoint)
    name, data_dir = summary.dataset_name, summary.data_dir
    if not name:
        raise DatasetError("the checkpoint does not say which dataset it was trained on")
    # A folder of pictures is decoded at the side the model was trained at (a backbone's 224, say).
    side = summary.input_shape[1]
    key = (str(name), str(data_dir) if data_dir else None, side)
    with _lock:
        dataset = _cache.get(key)
        if dataset is None:
            dataset = load_dataset(str(name), data_dir=Path(data_dir) if data_dir else None, download=False,
                                   image_size=side)
            _cache[key] = dataset
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        else:
            _cache.move_to_end(key)
    if not dataset_fits(checkpoint, dataset):
        raise DatasetError(f"the dataset {name!r} on this computer no longer matches the model: "
                           f"{describe_mismatch(checkpoint, dataset)}")
    return dataset


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def load_context(path: str, app_dataset: Any, load_missing: bool = True) -> ModelContext:
    """Background: load the checkpoint (CheckpointError if unusable) and find its test set.

    The app's dataset is used when it fits; otherwise the checkpoint's dataset is loaded from disk
    (load_missing) and, when that is impossible, dataset is None and dataset_note says what to load.
    """
    from cnnstudio.core.errors import CNNStudioError
    from cnnstudio.core.inference import Predictor

    predictor = Predictor(str(path))
    context = ModelContext(str(path), predictor)
    _describe_layers(context)
    checkpoint = predictor.checkpoint
    if dataset_fits(checkpoint, app_dataset):
        context.dataset, context.from_app = app_dataset, True
        return context
    mismatch = describe_mismatch(checkpoint, app_dataset)
    if not load_missing:
        context.dataset_note = f"{mismatch} Load {trained_on(checkpoint)} on the Data page (1  Data)."
        return context
    try:
        context.dataset = load_dataset_for(checkpoint)
        context.dataset_note = f"Using the test set of {trained_on(checkpoint)}, the dataset this model was trained on."
    except CNNStudioError as exc:
        context.dataset_note = (f"{mismatch} Its test set could not be loaded ({exc}). Load "
                                f"{trained_on(checkpoint)} on the Data page (1  Data).")
    except Exception as exc:  # a damaged dataset folder: say so, the model itself is still usable
        context.dataset_note = (f"{mismatch} Its test set could not be loaded ({type(exc).__name__}: {exc}). "
                                f"Load {trained_on(checkpoint)} on the Data page (1  Data).")
    return context


def _describe_layers(context: ModelContext) -> None:
    """The layers Inspect offers (filters, Grad-CAM), found once per load rather than once per page."""
    from cnnstudio.core.inspection import cam_layers, conv_layers, default_cam_layer

    model, shape = context.predictor.model, context.predictor.input_shape
    context.conv_layers = conv_layers(model)
    context.cam_layers = cam_layers(model, shape)
    try:
        context.default_cam = default_cam_layer(model, shape)
    except Exception:  # noqa: BLE001 - no layer Grad-CAM can use (e.g. no spatial output)
        context.default_cam = None  # no layer with a spatial output: Grad-CAM is not offered
