"""Any PIL image mode to 8-bit grey or RGB: one rule for the folder loader and for every user image.

Pillow's own convert("RGB") / convert("L") clips 16-bit, 32-bit and float pixels at 255, so a 16-bit
grey PNG (scans, microscopy, medical exports) came out almost white wherever it went through it. The
loader scaled those images and the prediction path did not, so a model trained on them saw the
pictures and was then asked about blank pages. Both now come here.
"""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image

DEEP_MODES = ("I", "F")  # plus every "I;16..." variant


def is_deep(mode: str) -> bool:
    """16-bit, 32-bit integer or float pixels: what convert() would clip."""
    return mode in DEEP_MODES or mode.startswith("I;16")


# over_white works on bands of about this many pixels: compositing a whole 50-million-pixel picture at
# once held four full-size RGBA copies (1 GB); a band at a time gives the same pixels for the RGB result.
BAND_PIXELS = 1 << 20


def over_white(im: Image.Image) -> Image.Image:
    """Composite a transparent image over white (drawings and icons usually mean white paper)."""
    rgba = im if im.mode == "RGBA" else im.convert("RGBA")
    out = Image.new("RGB", rgba.size, (255, 255, 255))
    rows = max(1, BAND_PIXELS // max(1, rgba.width))
    for top in range(0, rgba.height, rows):
        band = rgba.crop((0, top, rgba.width, min(rgba.height, top + rows)))
        background = Image.new("RGBA", band.size, (255, 255, 255, 255))
        out.paste(Image.alpha_composite(background, band).convert("RGB"), (0, top))
    return out


def _unit_range(array: np.ndarray) -> bool:
    with warnings.catch_warnings():  # NaN only: numpy's RuntimeWarning on stderr, and not a 0..1 picture
        warnings.simplefilter("ignore", RuntimeWarning)
        return bool(np.nanmin(array) >= 0 and np.nanmax(array) <= 1.0)


def to_8bit_gray(im: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float images scaled into 0..255 (not clipped, not wrapped).

    The scaling is chosen on the whole picture, then applied a band of rows at a time: a float copy of a
    50-million-pixel picture is 200 to 400 MB, a band's is 4 to 8 MB, for the same pixels."""
    array = np.asarray(im)
    shift, factor, divisor = 0.0, 1.0, 1.0  # 8-bit value = (value - shift) * factor / divisor, rounded, clipped
    if im.mode.startswith("I;16") or (im.mode == "I" and im.format == "PNG"):
        dtype, divisor = np.float32, 257.0  # 0..65535 -> 0..255
    elif im.mode == "F" and array.size and _unit_range(array):
        dtype, factor = np.float32, 255.0  # the usual 0..1 float convention
    else:
        dtype = np.float64
        with warnings.catch_warnings():  # a picture of NaN only: numpy warns on stderr, the range is then NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            lo = float(np.nanmin(array)) if array.size else 0.0
            hi = float(np.nanmax(array)) if array.size else 0.0
        if lo >= 0 and hi <= 255:
            pass
        elif lo >= 0 and hi <= 65535:
            divisor = 257.0
        elif hi > lo:  # anything else: stretch its own range
            shift, factor = lo, 255.0 / (hi - lo)
        else:
            factor = 0.0
    out = np.empty(array.shape, dtype=np.uint8)
    rows = max(1, BAND_PIXELS // max(1, array.shape[1] if array.ndim > 1 else 1))
    for top in range(0, array.shape[0], rows):
        band = array[top:top + rows].astype(dtype)
        _scale(band, shift, factor, divisor)
        np.nan_to_num(band, nan=0.0, copy=False)
        np.rint(band, out=band)
        np.clip(band, 0, 255, out=band)
        out[top:top + rows] = band
    return Image.fromarray(out, "L")


def _scale(band: np.ndarray, shift: float, factor: float, divisor: float) -> None:
    """In place, with the operations the scaling always used (so the pixels are the same to the bit)."""
    if factor == 0.0:
        band[...] = 0.0
        return
    if shift:
        band -= shift
    if factor != 1.0:
        band *= factor
    if divisor != 1.0:
        band /= divisor


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
    target = "L" if channels == 1 else "RGB"
    return im if im.mode == target else im.convert(target)  # convert() to the same mode copies
