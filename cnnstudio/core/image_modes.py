"""Any PIL image mode to 8-bit grey or RGB: one rule for the folder loader and for every user image.

Pillow's own convert("RGB") / convert("L") clips 16-bit, 32-bit and float pixels at 255, so a 16-bit
grey PNG (scans, microscopy, medical exports) came out almost white wherever it went through it. The
loader scaled those images and the prediction path did not, so a model trained on them saw the
pictures and was then asked about blank pages. Both now come here.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

DEEP_MODES = ("I", "F")  # plus every "I;16..." variant


def is_deep(mode: str) -> bool:
    """16-bit, 32-bit integer or float pixels: what convert() would clip."""
    return mode in DEEP_MODES or mode.startswith("I;16")


def over_white(im: Image.Image) -> Image.Image:
    """Composite a transparent image over white (drawings and icons usually mean white paper)."""
    rgba = im.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def to_8bit_gray(im: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float images scaled into 0..255 (not clipped, not wrapped)."""
    array = np.asarray(im)
    if im.mode.startswith("I;16") or (im.mode == "I" and im.format == "PNG"):
        scaled = array.astype(np.float32) / 257.0  # 0..65535 -> 0..255
    elif im.mode == "F" and array.size and np.nanmin(array) >= 0 and np.nanmax(array) <= 1.0:
        scaled = array.astype(np.float32) * 255.0  # the usual 0..1 float convention
    else:
        array = array.astype(np.float64)
        lo = float(np.nanmin(array)) if array.size else 0.0
        hi = float(np.nanmax(array)) if array.size else 0.0
        if lo >= 0 and hi <= 255:
            scaled = array
        elif lo >= 0 and hi <= 65535:
            scaled = array / 257.0
        else:  # anything else: stretch its own range
            scaled = (array - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(array)
    scaled = np.nan_to_num(scaled, nan=0.0)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")


def to_channels(im: Image.Image, channels: int) -> Image.Image:
    """Any PIL mode -> "L" (channels 1) or "RGB" (channels 3), transparency over white."""
    mode = im.mode
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or (mode in ("P", "L", "RGB") and "transparency" in im.info):
        im = over_white(im)
    elif is_deep(mode):
        im = to_8bit_gray(im)
    elif mode == "1":
        im = im.convert("L")
    elif mode not in ("L", "RGB"):
        im = im.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV ...
    return im.convert("L" if channels == 1 else "RGB")
