"""What the Inspect page draws, computed off the GUI thread: mosaics ready to show, with explicit levels.

Feature maps become wide RGBA strips (one per layer, padding transparent so the view's own background
shows between tiles); a convolution's filters become one mosaic with its layout, so hovering can name
the filter and weight under the pointer. Torch is imported only inside the functions that need it.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

MAX_FILTER_INPUTS = 64  # wider layers show the kernels of their first 64 input channels

ONE_ROW = 12  # up to this many maps or filters go in a single row


def wide_columns(count: int, h: int, w: int) -> int:
    """Columns for a mosaic about three times wider than tall (sections are wide strips); a few maps: one row."""
    if count <= ONE_ROW:
        return max(1, count)
    return max(1, min(count, math.ceil(math.sqrt(count * 3 * h / max(w, 1)))))


def filter_layout(grid: Any, max_inputs: int = MAX_FILTER_INPUTS) -> dict[str, Any]:
    """How FilterGrid.mosaic lays out its tiles: columns, tile count, tile shape, inputs per row."""
    from cnnstudio.core.inspection.display import grid_columns

    o, i = grid.out_channels, grid.in_channels
    kh, kw = grid.weights.shape[2:]
    if grid.color or i == 1:
        cols = o if o <= ONE_ROW else grid_columns(o, kh, kw)
        return {"cols": cols, "count": o, "tile": (kh, kw), "inputs": 1, "shown_inputs": 1}
    n_in = max(1, min(i, max_inputs))
    return {"cols": n_in, "count": o * n_in, "tile": (kh, kw), "inputs": i, "shown_inputs": n_in}


def inspect_sections(predictor: Any, pixels: np.ndarray, cam_key: str | None, target: int | None, saliency: bool,
             levels: str) -> dict[str, Any]:
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
            sections.append({"key": fm.key, "index": fm.index, "label": fm.label, "shape": fm.shape, "kind": "maps",
                             "image": rgba_mosaic(t.images, cols), "tile": (h, w), "cols": cols,
                             "count": c, "lo": t.lo, "hi": t.hi})
        else:
            sections.append({"key": fm.key, "index": fm.index, "label": fm.label, "shape": fm.shape,
                             "kind": "vector", "values": np.array(fm.values, dtype=np.float32)})
    return {"inspection": ins, "sections": sections, "cam_note": cam_note,
            "ms": (time.perf_counter() - start) * 1000}


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


def filter_mosaic(model: Any, key: str, per_filter: bool) -> dict[str, Any]:
    from cnnstudio.core.inspection import filters

    grid = filters(model, key, per_filter=per_filter)
    layout = filter_layout(grid)
    mosaic = grid.mosaic(pad=1, cols=layout["cols"] if (grid.color or grid.in_channels == 1) else None,
                         max_inputs=MAX_FILTER_INPUTS)
    display = with_transparent_padding(mosaic, tile_mask(layout["count"], layout["tile"], layout["cols"]))
    return {"grid": grid, "mosaic": np.ascontiguousarray(mosaic), "display": display, "layout": layout}
