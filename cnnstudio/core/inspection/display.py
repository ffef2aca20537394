"""Turning float arrays into pixels: level mapping, tile mosaics, colour maps, heatmap overlays.

Numpy only, and vectorised: the Inspect view redraws these on every new image or slider move, and a
Python loop over 512 channels would be the slowest part of an inspection. Every image returned is a
C-contiguous uint8 array, so a UI can wrap it in one QImage / ImageItem without another copy.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

Levels = Literal["map", "layer"] | tuple[float, float]


def layer_number(key: str | int) -> str:
    """A layer key as the app shows it, counted from 1 like the Model page's table: "3" -> "4",
    "5.conv1" -> "6.conv1". Keys stay 0-based (nn.Sequential's indices, state_dict names)."""
    head, _, rest = str(key).partition(".")
    return str(int(head) + 1) + (f".{rest}" if rest else "")


def levels_of(values: np.ndarray, levels: Levels) -> tuple[np.ndarray, np.ndarray]:
    """Black and white points for a stack of maps (N, ...): float32 arrays lo, hi of shape (N,).

    "map": each map its own min..max (shows every map's pattern, hides which maps are strong);
    "layer": one min..max for the whole stack (comparable brightness across maps);
    (lo, hi): fixed values, e.g. to compare the same layer across images.
    """
    n = values.shape[0]
    if isinstance(levels, str):
        if levels == "map":
            flat = values.reshape(n, -1)
            return flat.min(axis=1).astype(np.float32), flat.max(axis=1).astype(np.float32)
        if levels == "layer":
            lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
            return np.full(n, lo, np.float32), np.full(n, hi, np.float32)
        raise ValueError(f"levels must be 'map', 'layer' or (lo, hi), got {levels!r}")
    lo, hi = float(levels[0]), float(levels[1])
    return np.full(n, lo, np.float32), np.full(n, hi, np.float32)


def to_uint8(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Map each of the N maps in `values` (N, ...) from [lo[i], hi[i]] to 0..255, clipped.

    A map with hi == lo (a dead ReLU channel, a constant input) comes out black rather than as
    noise from dividing by ~0.
    """
    n = values.shape[0]
    shape = (n,) + (1,) * (values.ndim - 1)
    span = (hi - lo).astype(np.float32)
    scale = np.where(span > 0, 255.0 / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)
    out = (values - lo.reshape(shape)) * scale.reshape(shape)
    np.clip(out, 0, 255, out=out)
    out += 0.5  # round to nearest when truncating below
    return np.ascontiguousarray(out, dtype=np.uint8)


def symmetric_to_uint8(values: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Map (N, ...) so that 0 -> 127.5 (mid grey), +limit[i] -> 255, -limit[i] -> 0.

    For weights the sign is the message (excitatory vs inhibitory), so zero must look the same in
    every tile; min..max scaling would make a filter of all positive weights look half negative.
    """
    n = values.shape[0]
    shape = (n,) + (1,) * (values.ndim - 1)
    safe = np.where(limit > 0, limit, 1.0).astype(np.float32)
    out = values * (127.5 / safe).reshape(shape) + 127.5
    np.clip(out, 0, 255, out=out)
    out += 0.5
    return np.ascontiguousarray(out, dtype=np.uint8)


def grid_columns(count: int, tile_h: int = 1, tile_w: int = 1) -> int:
    """Columns for a roughly square mosaic of `count` tiles."""
    if count <= 0:
        return 1
    return max(1, min(count, math.ceil(math.sqrt(count * tile_h / max(tile_w, 1)))))


def tile(images: np.ndarray, cols: int | None = None, pad: int = 1, pad_value: int = 0) -> np.ndarray:
    """Compose N tiles (N, h, w) or colour tiles (N, h, w, 3) into one C-contiguous uint8 image.

    Tiles go row by row, `cols` per row (default: a roughly square grid); `pad` pixels of
    `pad_value` separate neighbouring tiles (no outer border); unused cells of the last row are
    `pad_value`. Drawing one image is far cheaper for a UI than drawing hundreds of tiny ones. Use
    tile_at() to map a mouse position back to a tile index.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise ValueError(f"tile expects (N, h, w) or (N, h, w, 3) images, got shape {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"tile expects uint8 images, got {images.dtype}")
    n, h, w = images.shape[:3]
    extra = images.shape[3:]
    cols = grid_columns(n, h, w) if cols is None else max(1, int(cols))
    rows = max(1, math.ceil(n / cols))
    pad = max(0, int(pad))
    grid = np.full((rows * cols, h + pad, w + pad, *extra), pad_value, dtype=np.uint8)
    grid[:n, :h, :w] = images
    # (rows, cols, h+pad, w+pad) -> (rows, h+pad, cols, w+pad): one reshape instead of a Python loop.
    grid = grid.reshape(rows, cols, h + pad, w + pad, *extra).swapaxes(1, 2)
    grid = grid.reshape(rows * (h + pad), cols * (w + pad), *extra)
    return np.ascontiguousarray(grid[:rows * (h + pad) - pad, :cols * (w + pad) - pad])


def tile_at(y: float, x: float, tile_shape: tuple[int, int], cols: int, count: int, pad: int = 1) -> int | None:
    """The index of the tile under pixel (y, x) of a tile() mosaic, or None over padding / empty cells."""
    h, w = tile_shape
    if y < 0 or x < 0:
        return None
    row, ry = divmod(int(y), h + pad)
    col, rx = divmod(int(x), w + pad)
    if ry >= h or rx >= w or col >= cols:
        return None
    index = row * cols + col
    return index if index < count else None


# --------------------------------------------------------------------------------------------------
# Colour maps: small lookup tables, so no matplotlib


def _jet() -> np.ndarray:
    x = np.linspace(0.0, 1.0, 256)
    rgb = np.stack([np.clip(1.5 - np.abs(4 * x - s), 0, 1) for s in (3.0, 2.0, 1.0)], axis=1)
    return np.ascontiguousarray(np.round(rgb * 255), dtype=np.uint8)


# Matplotlib's inferno sampled at 0, 1/8, ..., 1; linear interpolation between these is within a few
# levels of the real map and keeps its point: dark = nothing, bright yellow = most, perceptually even.
_INFERNO_ANCHORS = np.array([
    (0, 0, 4), (31, 12, 72), (85, 15, 109), (136, 34, 106), (186, 54, 85),
    (227, 89, 51), (249, 140, 10), (249, 201, 50), (252, 255, 164)], dtype=np.float64)


def _inferno() -> np.ndarray:
    x = np.linspace(0.0, 1.0, 256)
    xp = np.linspace(0.0, 1.0, len(_INFERNO_ANCHORS))
    rgb = np.stack([np.interp(x, xp, _INFERNO_ANCHORS[:, c]) for c in range(3)], axis=1)
    return np.ascontiguousarray(np.round(rgb), dtype=np.uint8)


COLORMAPS: dict[str, np.ndarray] = {"jet": _jet(), "inferno": _inferno()}
for _lut in COLORMAPS.values():
    _lut.flags.writeable = False


def colorize(values01: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """float array in 0..1 (any shape S) -> uint8 RGB (*S, 3) through a 256-entry lookup table."""
    try:
        lut = COLORMAPS[colormap]
    except KeyError:
        raise ValueError(f"unknown colour map {colormap!r}; choose from {', '.join(COLORMAPS)}") from None
    idx = np.clip(np.asarray(values01, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    rgb: np.ndarray = lut[idx]
    return rgb


def as_rgb(image_u8: np.ndarray) -> np.ndarray:
    """uint8 (H, W), (1, H, W), (3, H, W) or (H, W, 3) -> (H, W, 3)."""
    img = np.asarray(image_u8)
    if img.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {img.dtype}")
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
        img = img.transpose(1, 2, 0)  # (C, H, W), as PreparedImage.pixels holds it
    if img.ndim == 3 and img.shape[-1] == 1:
        return np.repeat(img, 3, axis=2)
    if img.ndim == 3 and img.shape[-1] == 3:
        return img
    raise ValueError(f"expected a grey or RGB image, got shape {img.shape}")


def overlay(input_u8: np.ndarray, cam: np.ndarray, alpha: float = 0.5, colormap: str = "jet") -> np.ndarray:
    """The input with a heatmap blended over it: uint8 RGB (H, W, 3), C-contiguous.

    input_u8: uint8 (H, W), (C, H, W) or (H, W, C) with C in (1, 3); cam: float (H, W) in 0..1;
    alpha: the heatmap's weight (0 = input only, 1 = heatmap only).
    """
    rgb = as_rgb(input_u8)
    cam = np.asarray(cam)
    if cam.shape != rgb.shape[:2]:
        raise ValueError(f"the heatmap is {cam.shape} but the image is {rgb.shape[:2]}")
    a = float(np.clip(alpha, 0.0, 1.0))
    heat = colorize(cam, colormap).astype(np.float32)
    out = rgb.astype(np.float32) * (1.0 - a) + heat * a + 0.5
    return np.ascontiguousarray(np.clip(out, 0, 255), dtype=np.uint8)
