"""The one framing of a camera or video frame: the centred square the model sees.

A camera frame is wider than tall; a model's input is square. The Camera page's preview marks the
centred square, recording saves that square, live prediction and `cnnstudio predict --video` classify
it, and `cnnstudio frames` extracts it: every path takes `camera_square()` of the frame and hands the
result to the one preparation path (cnnstudio.core.inference.prepare_image), so what was recorded,
what is classified live and what the command line says about a clip are the same pictures. The square
is kept up to SAVED_SIDE pixels a side (enough for a 224-pixel backbone), never enlarged.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Recorded and extracted squares are at most this many pixels a side: a 1080p frame's 1080-pixel square
# is reduced (decoding, saving and the folder loader are then cheap), a 224-pixel backbone still fits.
SAVED_SIDE = 320


def square_box(width: int, height: int) -> tuple[int, int, int]:
    """(left, top, side) of the centred square of a width x height frame (what the preview outlines)."""
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side


def camera_square(rgb: np.ndarray, max_side: int = SAVED_SIDE) -> np.ndarray:
    """The centred square of an RGB frame (H, W, 3) uint8, reduced to at most max_side a side."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"a frame is uint8 (H, W, 3), not {rgb.dtype} {rgb.shape}")
    height, width = rgb.shape[:2]
    left, top, side = square_box(width, height)
    square = rgb[top:top + side, left:left + side]
    if side <= max_side:
        return np.ascontiguousarray(square)
    reduced = Image.fromarray(np.ascontiguousarray(square)).resize((max_side, max_side), Image.Resampling.BOX)
    return np.asarray(reduced)
