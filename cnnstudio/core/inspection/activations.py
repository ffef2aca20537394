"""Feature maps: every layer's output for one image, from one hooked forward pass.

Also the two pieces every inspection shares: putting the model in eval mode for exactly as long as
the inspection runs (inspecting), and forward hooks that are removed whatever happens (capture).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnstudio.core.inspection.display import Levels, grid_columns, levels_of, tile, to_uint8
from cnnstudio.core.inspection.layers import InspectionError, backbone_stage_entries, child_labels
from cnnstudio.core.models.spec import Shape

# --------------------------------------------------------------------------------------------------
# Shared machinery


@contextmanager
def inspecting(model: nn.Module) -> Iterator[None]:
    """Eval mode while inside, then every module's own training flag back as it was.

    Eval mode because an inspection must show what the trained model does: dropout off, BatchNorm
    using its running statistics (in train mode a batch of one image would normalise every channel
    to zero, and BatchNorm1d refuses it outright). Flags are restored per module, not with
    model.train(), so a model that was partly frozen stays exactly as it was.
    """
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in flags:
            m.training = training


@contextmanager
def capture(modules: dict[str, nn.Module]) -> Iterator[dict[str, torch.Tensor]]:
    """Forward hooks that store each module's output under its key; removed on exit, even on error.

    The stored tensors are the outputs themselves (not copies, not detached): Grad-CAM differentiates
    with respect to one of them. Nothing in the built models is in-place, so they stay valid.
    """
    outputs: dict[str, torch.Tensor] = {}
    handles = []

    def hook_for(key: str) -> Callable[[nn.Module, tuple[Any, ...], torch.Tensor], None]:
        def hook(_module: nn.Module, _inputs: tuple[Any, ...], output: torch.Tensor) -> None:
            outputs[key] = output
        return hook

    try:
        for key, module in modules.items():
            handles.append(module.register_forward_hook(hook_for(key)))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def as_input(model: nn.Module, x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """One normalised image (C, H, W) or (1, C, H, W), tensor or array -> (1, C, H, W) on the model's
    device and dtype, never attached to the caller's autograd graph."""
    t = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x
    if not isinstance(t, torch.Tensor):
        raise InspectionError(f"expected an image tensor or array, got {type(x).__name__}")
    if not t.is_floating_point():
        raise InspectionError(f"expected a normalised float image, got {t.dtype}; normalise the uint8 pixels "
                              f"first (Predictor.normalise does it the way the model was trained)")
    if t.ndim == 3:
        t = t.unsqueeze(0)
    if t.ndim != 4 or t.shape[0] != 1:
        raise InspectionError(f"expected one image (C, H, W) or (1, C, H, W), got shape {tuple(t.shape)}")
    param = next(model.parameters(), None)
    device, dtype = (param.device, param.dtype) if param is not None else (t.device, torch.float32)
    return t.detach().to(device=device, dtype=dtype)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """First item of a batch as a read-only C-contiguous float32 array (shared with the tensor when
    possible: feature maps are read, never written, so a copy would only cost time)."""
    a = np.ascontiguousarray(t.detach()[0].to("cpu", torch.float32).numpy())
    a.flags.writeable = False
    return a


# --------------------------------------------------------------------------------------------------
# Feature maps


@dataclass(frozen=True)
class MapTiles:
    """A layer's channels as grey images with the levels that made them (for hover and colour bars)."""

    images: np.ndarray  # uint8 (C, H, W), C-contiguous
    lo: np.ndarray  # float32 (C,): value shown black
    hi: np.ndarray  # float32 (C,): value shown white


@dataclass(frozen=True)
class FeatureMap:
    """The output of one layer (one child of the Sequential, or a stage of a pretrained backbone) for one image."""

    index: int  # spec layer index
    key: str  # "3", or "0.net.layer2" for a backbone's stage
    label: str  # "Conv 3x3, 64, pad 1"
    values: np.ndarray  # float32, read-only: (C, H, W) for image-shaped outputs, (F,) for vectors

    @property
    def shape(self) -> Shape:
        return tuple(int(d) for d in self.values.shape)

    @property
    def name(self) -> str:
        return f"{self.index}: {self.label}"

    @property
    def is_spatial(self) -> bool:
        return self.values.ndim == 3

    def tiles(self, levels: Levels = "map") -> MapTiles:
        """Each channel as a uint8 image. levels: "map" (each channel its own min..max), "layer" (one
        min..max for all channels, so strong and weak channels can be compared) or (lo, hi)."""
        if not self.is_spatial:
            raise InspectionError(f"layer {self.name} outputs a vector of {self.shape[0]} values, not maps")
        lo, hi = levels_of(self.values, levels)
        return MapTiles(to_uint8(self.values, lo, hi), lo, hi)

    def mosaic(self, levels: Levels = "map", cols: int | None = None, pad: int = 1) -> np.ndarray:
        """All channels as one uint8 image (a roughly square grid unless `cols` is given)."""
        t = self.tiles(levels)
        c, h, w = t.images.shape
        return tile(t.images, cols or grid_columns(c, h, w), pad)


def feature_maps(model: nn.Sequential, x: torch.Tensor | np.ndarray) -> list[FeatureMap]:
    """The output of every layer for one normalised image, from a single forward pass.

    Forward hooks on each child record its output; they are removed afterwards even if the forward
    fails, the model runs in eval mode and gets its flags back, and inference_mode skips all autograd
    bookkeeping. The last entry holds the class scores (logits).
    """
    x = as_input(model, x)
    children = dict(model.named_children())
    labels = child_labels(model)
    with inspecting(model), capture(children) as outputs, torch.inference_mode():
        model(x)
    return [FeatureMap(i, key, labels[i], to_numpy(outputs[key])) for i, key in enumerate(children)]


def stage_maps(model: nn.Sequential, outputs: dict[str, torch.Tensor]) -> list[FeatureMap]:
    """The maps of each pretrained backbone's stages, from a pass that recorded them (their keys are
    those of layers.backbone_stages): a backbone is one layer whose output is a vector, so its stages
    are where its pictures are. Each map's index is its backbone's layer index."""
    return [FeatureMap(int(key.split(".", 1)[0]), key, label, to_numpy(outputs[key]))
            for key, label, _ in backbone_stage_entries(model) if key in outputs]
