"""Convolution weights as pictures.

Display choice for layers whose input is not the RGB image: every (output, input) kernel slice is its
own grey tile, one row per output filter (`FilterGrid.mosaic`). Averaging over the inputs would be
misleading (a filter may weight channel 3 positively and channel 7 negatively; the mean cancels to a
blank tile) and showing only the first input hides the rest; the full grid is exact, and for a
single-channel input (the first layer of an MNIST model) it is simply one tile per filter.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnnstudio.core.inspection.display import grid_columns, symmetric_to_uint8, tile
from cnnstudio.core.inspection.layers import InspectionError, LayerRef, conv_layers, module_label, resolve


@dataclass(frozen=True)
class FilterGrid:
    """One conv layer's weights and their display form. Arrays are read-only (they are cached)."""

    key: str
    name: str  # "3: Conv 3x3, 64, pad 1"
    weights: np.ndarray  # float32 (out, in, kh, kw)
    bias: np.ndarray | None  # float32 (out,)
    color: bool  # first layer of an RGB model: each filter is one colour image
    # uint8: colour (out, kh, kw, 3); otherwise (out, in, kh, kw). 0 -> 128 (mid grey), +limit -> 255,
    # -limit -> 0, so positive weights are bright, negative dark, and zero looks the same everywhere.
    images: np.ndarray
    ranges: np.ndarray  # float32 (out, 2): min and max weight of each filter, for hover text
    limits: np.ndarray  # float32 (out,): the |weight| shown as black / white
    per_filter: bool  # limits per filter (each filter's pattern) or the layer's max (compare strengths)

    @property
    def out_channels(self) -> int:
        return int(self.weights.shape[0])

    @property
    def in_channels(self) -> int:
        return int(self.weights.shape[1])

    def mosaic(self, pad: int = 1, cols: int | None = None, max_inputs: int | None = None) -> np.ndarray:
        """All filters as one uint8 image (colour (H, W, 3) for RGB first layers, else (H, W)).

        Grey layers with several inputs: row o holds filter o's kernels for inputs 0..in-1 (at most
        `max_inputs` of them, for very wide layers). Single-input and colour layers: a square grid of
        filters, `cols` per row. Padding is mid grey's darker neighbour (64) so tiles stay apart
        without looking like weights of zero.
        """
        if self.color:
            return tile(self.images, cols, pad, pad_value=64)
        o, i, kh, kw = self.images.shape
        if i == 1:
            return tile(self.images[:, 0], cols or grid_columns(o, kh, kw), pad, pad_value=64)
        n_in = i if max_inputs is None else max(1, min(i, max_inputs))
        return tile(self.images[:, :n_in].reshape(o * n_in, kh, kw), n_in, pad, pad_value=64)

    def describe(self, filter_index: int) -> str:
        """Hover text: "filter 3: weights -0.214 .. 0.338, bias 0.012"."""
        lo, hi = self.ranges[filter_index]
        text = f"filter {filter_index}: weights {lo:.3g} .. {hi:.3g}"
        if self.bias is not None:
            text += f", bias {self.bias[filter_index]:.3g}"
        return text


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _build(key: str, conv: nn.Conv2d, color: bool, per_filter: bool) -> FilterGrid:
    # Copies: the cache must not change when the optimizer updates the weights in place.
    w = conv.weight.detach().to("cpu", torch.float32).numpy().copy()
    b = conv.bias.detach().to("cpu", torch.float32).numpy().copy() if conv.bias is not None else None
    o = w.shape[0]
    flat = w.reshape(o, -1)
    ranges = np.stack([flat.min(axis=1), flat.max(axis=1)], axis=1).astype(np.float32)
    limits = np.abs(ranges).max(axis=1)
    if not per_filter:
        limits = np.full(o, limits.max() if o else 0.0, np.float32)
    images = symmetric_to_uint8(w, limits)
    if color:
        images = np.ascontiguousarray(images.transpose(0, 2, 3, 1))
    return FilterGrid(key, f"{key}: {module_label(conv)}", _readonly(w), _readonly(b) if b is not None else None,
                      color, _readonly(images), _readonly(ranges), _readonly(limits.astype(np.float32)), per_filter)


# Weights change only when trained or loaded; both bump the tensor's version counter (in-place
# updates) or replace its storage, so (version, data_ptr) tells a stale entry. Weak keys: a model
# that is dropped takes its entries with it.
_cache: weakref.WeakKeyDictionary[nn.Conv2d, dict[tuple[str, bool, bool], tuple[int, int, FilterGrid]]] = (
    weakref.WeakKeyDictionary())
_lock = threading.Lock()


def _first_conv(model: nn.Module) -> nn.Module | None:
    return next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)


def filters(model: nn.Module, layer_ref: LayerRef, per_filter: bool = True) -> FilterGrid:
    """The weights of one convolution and their display images (cached until the weights change).

    layer_ref: a conv key ("0", "5.conv1"), a spec index of a conv layer, an entry of conv_layers(),
    or the module. per_filter: scale each filter to its own largest |weight| (default: every filter's
    pattern is visible) or all to the layer's largest (shows which filters are strong).
    """
    key, conv = resolve(model, layer_ref)
    if not isinstance(conv, nn.Conv2d):
        inner = [c.key for c in conv_layers(model) if c.key.startswith(key + ".")]
        hint = f"; its convolutions are {', '.join(inner)}" if inner else ""
        raise InspectionError(f"layer {key} ({module_label(conv)}) is not a convolution{hint}")
    # Colour tiles only where the three input channels are the image's R, G, B: the model's first conv.
    color = conv.in_channels == 3 and _first_conv(model) is conv
    weight = conv.weight
    stamp = (weight._version, weight.data_ptr())
    slot = (key, color, per_filter)
    with _lock:
        entry = _cache.get(conv, {}).get(slot)
        if entry is not None and entry[:2] == stamp:
            return entry[2]
    grid = _build(key, conv, color, per_filter)
    with _lock:
        _cache.setdefault(conv, {})[slot] = (*stamp, grid)
    return grid


def all_filters(model: nn.Module, per_filter: bool = True) -> list[FilterGrid]:
    """filters() for every convolution, in forward order (block-internal ones included)."""
    return [filters(model, c.key, per_filter) for c in conv_layers(model)]


def clear_filter_cache() -> None:
    """Forget every cached FilterGrid (for benchmarks; weight changes are detected without it)."""
    with _lock:
        _cache.clear()
