"""What the Inspect page draws, computed off the GUI thread: mosaics ready to show, with explicit levels.

Feature maps become wide RGBA strips (one per layer, padding transparent so the view's own background
shows between tiles); a convolution's filters become one mosaic with its layout, so hovering can name
the filter and weight under the pointer. Torch is imported only inside the functions that need it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:  # torch-heavy: imported by the functions that need them
    from cnnstudio.core.inspection.attribution import Inspection
    from cnnstudio.core.inspection.kernels import FilterGrid
    from cnnstudio.core.inspection.maximise import ChannelImages
    from cnnstudio.core.inspection.patches import ChannelPatches

MAX_FILTER_INPUTS = 64  # wider layers show the kernels of their first 64 input channels

ONE_ROW = 12  # up to this many maps or filters go in a single row


@dataclass(frozen=True)
class MosaicLayout:
    """How a mosaic's tiles lie, for tile_at(): columns, tile count, tile shape and the gap between tiles.

    A convolution's filters may show one kernel per input channel: then `inputs` is the layer's input
    channels and `shown_inputs` how many of them a row shows (one row per filter).
    """

    cols: int
    count: int
    tile: tuple[int, int]
    inputs: int = 1
    shown_inputs: int = 1
    pad: int = 1


@dataclass(frozen=True)
class FilterMosaic:
    """What a layer's filter view shows: its weights (`grid`), its top test-image patches (`patches`), or a
    picture synthesised for each channel (`synthesised`, activation maximisation)."""

    key: str  # the layer
    kind: Literal["weights", "patches", "synthesised"]
    mosaic: np.ndarray  # uint8 grey (H, W) or RGB (H, W, 3)
    display: np.ndarray  # the mosaic as RGBA, padding transparent
    layout: MosaicLayout
    grid: FilterGrid | None = None  # kind "weights"
    patches: ChannelPatches | None = None  # kind "patches"
    synthesised: ChannelImages | None = None  # kind "synthesised"


@dataclass(frozen=True)
class LayerSection:
    """One layer of an inspection as the feature-map view draws it: a mosaic of maps, or a vector."""

    key: str
    index: int
    label: str
    shape: tuple[int, ...]
    kind: Literal["maps", "vector"]
    image: np.ndarray | None = None  # maps: RGBA mosaic
    tile: tuple[int, int] = (0, 0)  # maps: one map's (h, w)
    cols: int = 0
    count: int = 0
    lo: np.ndarray | None = None  # maps: each map's value range
    hi: np.ndarray | None = None
    values: np.ndarray | None = None  # vector: float32 values


@dataclass(frozen=True)
class InspectionResult:
    """One input inspected: the core's Inspection, its layers ready to draw, and how it went."""

    inspection: Inspection
    sections: tuple[LayerSection, ...]
    cam_note: str | None  # why the chosen Grad-CAM layer was replaced by the default, or None
    ms: float


def wide_columns(count: int, h: int, w: int) -> int:
    """Columns for a mosaic about three times wider than tall (sections are wide strips); a few maps: one row."""
    if count <= ONE_ROW:
        return max(1, count)
    return max(1, min(count, math.ceil(math.sqrt(count * 3 * h / max(w, 1)))))


def filter_layout(grid: FilterGrid, max_inputs: int = MAX_FILTER_INPUTS) -> MosaicLayout:
    """How FilterGrid.mosaic lays out its tiles: columns, tile count, tile shape, inputs per row."""
    from cnnstudio.core.inspection.display import grid_columns

    o, i = grid.out_channels, grid.in_channels
    kh, kw = grid.weights.shape[2:]
    if grid.color or i == 1:
        cols = o if o <= ONE_ROW else grid_columns(o, kh, kw)
        return MosaicLayout(cols=cols, count=o, tile=(kh, kw))
    n_in = max(1, min(i, max_inputs))
    return MosaicLayout(cols=n_in, count=o * n_in, tile=(kh, kw), inputs=i, shown_inputs=n_in)


def inspect_sections(predictor: Any, pixels: np.ndarray, cam_key: str | None, target: int | None, saliency: bool,
             levels: str) -> InspectionResult:
    import torch

    from cnnstudio.core.inspection import InspectionError, inspect_image

    start = time.perf_counter()
    x = predictor.normalise(torch.from_numpy(np.ascontiguousarray(pixels))[None])[0]
    cam_note = None
    try:
        ins = inspect_image(predictor.model, x, layer_ref=cam_key, target_class=target, with_saliency=saliency)
    except InspectionError as exc:  # the chosen Grad-CAM layer cannot be used: fall back to the default
        cam_note = str(exc)
        ins = inspect_image(predictor.model, x, layer_ref=None, target_class=target, with_saliency=saliency)
    sections = []
    # A pretrained backbone's stages come just before the backbone's own (vector) output.
    shown = [m for fm in ins.feature_maps for m in [s for s in ins.stage_maps if s.index == fm.index] + [fm]]
    for fm in shown:
        if fm.is_spatial:
            t = fm.tiles(levels)
            c, h, w = t.images.shape
            cols = wide_columns(c, h, w)
            sections.append(LayerSection(fm.key, fm.index, fm.label, tuple(fm.shape), "maps",
                                         image=rgba_mosaic(t.images, cols), tile=(h, w), cols=cols, count=c,
                                         lo=t.lo, hi=t.hi))
        else:
            sections.append(LayerSection(fm.key, fm.index, fm.label, tuple(fm.shape), "vector",
                                         values=np.array(fm.values, dtype=np.float32)))
    return InspectionResult(ins, tuple(sections), cam_note, (time.perf_counter() - start) * 1000)


def tile_mask(count: int, tile_shape: tuple[int, int], cols: int, pad: int = 1) -> np.ndarray:
    """uint8 mask of a tile() mosaic: 255 on tiles, 0 on padding and empty cells."""
    from cnnstudio.core.inspection import tile

    mask: np.ndarray = tile(np.full((count, *tile_shape), 255, np.uint8), cols, pad, pad_value=0)
    return mask


def with_transparent_padding(mosaic: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A grey (H, W) or RGB (H, W, 3) mosaic as RGBA whose padding is transparent: the view's own
    background shows between the tiles, so dark tiles stay apart in light and dark themes alike."""
    rgb = np.repeat(mosaic[:, :, None], 3, axis=2) if mosaic.ndim == 2 else mosaic
    return np.ascontiguousarray(np.concatenate([rgb, mask[:, :, None]], axis=2))


def rgba_mosaic(images: np.ndarray, cols: int) -> np.ndarray:
    from cnnstudio.core.inspection import tile

    grey = tile(images, cols, 1, pad_value=0)
    return with_transparent_padding(grey, tile_mask(len(images), images.shape[1:3], cols))


def filter_mosaic(model: Any, key: str, per_filter: bool) -> FilterMosaic:
    from cnnstudio.core.inspection import filters

    grid = filters(model, key, per_filter=per_filter)
    layout = filter_layout(grid)
    mosaic = grid.mosaic(pad=1, cols=layout.cols if (grid.color or grid.in_channels == 1) else None,
                         max_inputs=MAX_FILTER_INPUTS)
    display = with_transparent_padding(mosaic, tile_mask(layout.count, layout.tile, layout.cols))
    return FilterMosaic(key=str(key), kind="weights", mosaic=np.ascontiguousarray(mosaic), display=display,
                        layout=layout, grid=grid)
