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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio.core.checkpoint import CheckpointSummary, fit_problem

if TYPE_CHECKING:  # torch-heavy modules: imported by the functions that need them
    from cnnstudio.core.datasets.base import Dataset
    from cnnstudio.core.inference import Predictor
    from cnnstudio.core.inspection.layers import ConvLayer, LayerChoice

# (dataset name, data_dir, side) -> Dataset: at most two, so switching between two runs does not reload.
_CACHE_SIZE = 2
_cache: OrderedDict[tuple[str, str | None, int], Dataset] = OrderedDict()
_lock = threading.Lock()  # one load at a time: a second view asking for the same dataset waits, then shares it


@dataclass(frozen=True)
class ModelContext:
    """A loaded checkpoint and the test set to use with it (None when it is not available)."""

    path: str
    predictor: Predictor
    dataset: Dataset | None = None  # whose classes and input shape fit the model
    dataset_note: str = ""  # why dataset is None, or where it came from when it is not the app's dataset
    from_app: bool = False  # dataset is the one loaded in the app (state.dataset)
    # The model's layers as Inspect offers them.
    conv_layers: list[ConvLayer] = field(default_factory=list)
    cam_layers: list[LayerChoice] = field(default_factory=list)
    default_cam: str | None = None
    live: bool = False  # a training run's last.pt, reloaded after an epoch (Inspect's "Update during training")

    @property
    def summary(self) -> CheckpointSummary:
        return self.predictor.summary

    @property
    def classes(self) -> list[str]:
        return list(self.predictor.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.predictor.input_shape


def trained_on(checkpoint: dict[str, Any]) -> str:
    """A readable name of the dataset a checkpoint was trained on: "Shapes", "MNIST", a folder name."""
    return CheckpointSummary.of(checkpoint).dataset_title


def dataset_fits(checkpoint: dict[str, Any], dataset: Dataset | None) -> bool:
    """Whether `dataset` has exactly the checkpoint's classes (same order) and input shape."""
    return dataset is not None and fit_problem(checkpoint, dataset) is None


def describe_mismatch(checkpoint: dict[str, Any], dataset: Dataset | None) -> str:
    return fit_problem(checkpoint, dataset) or ""


def load_dataset_for(checkpoint: dict[str, Any]) -> Dataset:
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


def load_context(path: str, app_dataset: Dataset | None, load_missing: bool = True, live: bool = False) -> ModelContext:
    """Background: load the checkpoint (CheckpointError if unusable) and find its test set.

    The app's dataset is used when it fits; otherwise the checkpoint's dataset is loaded from disk
    (load_missing) and, when that is impossible, dataset is None and dataset_note says what to load.
    live marks a training run's last.pt reloaded after an epoch.
    """
    from cnnstudio.core.errors import CNNStudioError
    from cnnstudio.core.inference import Predictor

    predictor = Predictor(str(path))
    context = replace(ModelContext(str(path), predictor, live=live), **_describe_layers(predictor))
    checkpoint = predictor.checkpoint
    if dataset_fits(checkpoint, app_dataset):
        return replace(context, dataset=app_dataset, from_app=True)
    mismatch = describe_mismatch(checkpoint, app_dataset)
    if not load_missing:
        return replace(context, dataset_note=f"{mismatch} Load {trained_on(checkpoint)} on the Data page (1  Data).")
    try:
        return replace(context, dataset=load_dataset_for(checkpoint), dataset_note=(
            f"Using the test set of {trained_on(checkpoint)}, the dataset this model was trained on."))
    except CNNStudioError as exc:
        note = (f"{mismatch} Its test set could not be loaded ({exc}). Load "
                f"{trained_on(checkpoint)} on the Data page (1  Data).")
    except Exception as exc:  # noqa: BLE001 - a damaged dataset folder: say so, the model itself is still usable
        note = (f"{mismatch} Its test set could not be loaded ({type(exc).__name__}: {exc}). "
                f"Load {trained_on(checkpoint)} on the Data page (1  Data).")
    return replace(context, dataset_note=note)


def _describe_layers(predictor: Predictor) -> dict[str, Any]:
    """The layers Inspect offers (filters, Grad-CAM), found once per load rather than once per page."""
    from cnnstudio.core.inspection import cam_layers, conv_layers, default_cam_layer

    model, shape = predictor.model, predictor.input_shape
    try:
        default_cam: str | None = default_cam_layer(model, shape)
    except Exception:  # noqa: BLE001 - no layer Grad-CAM can use (e.g. no spatial output)
        default_cam = None  # no layer with a spatial output: Grad-CAM is not offered
    return {"conv_layers": conv_layers(model), "cam_layers": cam_layers(model, shape), "default_cam": default_cam}
