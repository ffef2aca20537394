"""A user's image, prepared the way the model's training images were: torch-free on purpose.

Every caller (`cnnstudio predict`, the drawing canvas, an image dropped on Inspect, folder
classification) goes through open_image() and prepare_image(), which frame the picture the way the
training data was framed (framing.py), and normalise(), which scales pixels exactly as the trainer did.
Only numpy and Pillow are needed, and the imports inside the core are relative, so an exported
predictor bundle (core/export/bundle.py) ships this module with framing.py, image_modes.py, cover.py,
orientation.py and errors.py unchanged: the bundle prepares images with the app's own code, not a
copy that can drift.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence

import numpy as np
from PIL import Image

from .cover import cover, draft_for_cover
from .errors import CNNStudioError
from .framing import FramingProfile
from .image_modes import is_deep, to_8bit_gray, to_channels
from .orientation import upright

# Content is what differs from the background by more than this fraction of the full range.
CONTENT_THRESHOLD = 0.15
# The same limit as an image folder's loader: above it an image is refused before decoding.
MAX_IMAGE_PIXELS = 50_000_000
# Framing to the content's box works on float copies of the whole picture: above this many pixels the
# picture is first reduced by an integer factor (a box filter), so a 69-byte PNG declaring 1 x 50,000,000
# pixels costs tens of MB, not 1.5 GB. The content is then scaled to a 20-pixel box anyway.
BOX_WORK_PIXELS = 4_000_000
# Pillow keeps a picture as rows, each with its own pointer and allocation: a strip 1 pixel wide and
# 50 million tall (a 69-byte PNG) took 845 MB to decode, against 50 MB of pixels. So each side counts as
# at least this many pixels: 1 x 50,000 is fine, 1 x 50,000,000 counts as 800 million and is refused.
MIN_COUNTED_SIDE = 16


def pixel_cost(width: int, height: int) -> int:
    """The pixels a picture of this size counts as against MAX_IMAGE_PIXELS (see MIN_COUNTED_SIDE)."""
    return max(width, MIN_COUNTED_SIDE) * max(height, MIN_COUNTED_SIDE)


@dataclass
class PreparedImage:
    pixels: np.ndarray  # uint8 (C, H, W), exactly what the model sees before normalisation
    empty: bool  # nothing drawn / no content found: callers show a hint instead of a guess
    inverted: bool  # dark-on-light input was inverted to match the dataset


def open_image(path: str | os.PathLike[str], framing: FramingProfile | None = None) -> Image.Image:
    """Open an image file with a clear error for missing, unreadable or damaged files.

    With the framing of the model it is for, a picture to be scaled to cover the frame is decoded as the
    folder loader decoded the training pictures (draft_for_cover: a JPEG at 1/2^k scale), so prediction
    sees the same pixels, and a large photo opens several times faster. Without it, the whole picture
    (to show it, or for framings that crop to the content first)."""
    path = Path(path)
    if not path.exists():
        raise CNNStudioError(f"image not found: {path}")
    if path.is_dir():
        raise CNNStudioError(f"{path} is a folder, not an image")
    if not path.is_file():  # a FIFO would block the read below until someone wrote to it; a device never ends
        raise CNNStudioError(f"{path} is not a regular file (a FIFO, socket or device), not an image")
    try:
        with warnings.catch_warnings():
            # Pillow's other warnings (corrupt EXIF data, ...) are lines of its source on stderr while the
            # picture is still good: silenced. Over ~89 M pixels it warns: refused with a sentence instead.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if pixel_cost(img.width, img.height) > MAX_IMAGE_PIXELS:
                    raise Image.DecompressionBombError("too many pixels")
                img.seek(0)  # animated GIF / multi-page TIFF: the first frame
                if framing is not None and framing.fit == "cover":
                    draft_for_cover(img, framing.width, framing.height, framing.channels)
                img.load()
                return upright(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise CNNStudioError(f"cannot read {path}: the image is too large (more than "
                             f"{MAX_IMAGE_PIXELS // 1_000_000} million pixels, or a strip millions of pixels "
                             "long)") from None
    except PermissionError:
        raise CNNStudioError(f"cannot read {path}: permission denied") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise CNNStudioError(f"cannot read {path}: not an image or damaged ({exc})") from None


def to_float_gray(img: Image.Image) -> np.ndarray:
    """Luminance in 0..1 (H, W) float32 from any PIL mode. Transparent images: the opaque part is the content."""
    if is_deep(img.mode):
        # Scaled as the folder loader scales them (not stretched to this image's own range), so a
        # 16-bit picture looks to the model as its training pictures did.
        img = to_8bit_gray(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3]
        if alpha.min() < 0.99:
            # Strokes on a transparent sheet: whatever their colour, where they are opaque is the content.
            lum = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
            bg_lum = float(np.median(lum[alpha < 0.5])) if (alpha < 0.5).any() else 1.0
            ink = np.abs(lum - (1.0 if bg_lum > 0.5 else 0.0))
            # Light-on-dark convention for the alpha mask; polarity is fixed up by the caller.
            content: np.ndarray = 1.0 - alpha * np.maximum(ink, 0.5)
            return content
    gray = np.asarray(img if img.mode == "L" else img.convert("L"), dtype=np.float32)
    gray *= 1.0 / 255.0
    return gray


def _border_median(gray: np.ndarray) -> float:
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return float(np.median(border))


def prepare_image(img: Image.Image | np.ndarray, framing: FramingProfile) -> PreparedImage:
    """Frame any image (size, mode, polarity, aspect ratio) the way the dataset's images were framed."""
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    try:
        if framing.fit == "box":
            return _prepare_box(img, framing)
        return _prepare_cover(img, framing)
    except ValueError as exc:  # a mode Pillow cannot convert (LAB, La): one line, not a traceback
        raise CNNStudioError(f"cannot prepare a picture in Pillow's {img.mode} mode ({exc})") from None


def _within_box_budget(img: Image.Image) -> Image.Image:
    """`img` reduced by integer factors (box filter) to at most BOX_WORK_PIXELS, in a mode reduce() takes."""
    n = img.width * img.height
    if n <= BOX_WORK_PIXELS:
        return img
    if img.mode in ("P", "PA", "1") or is_deep(img.mode) and img.mode not in ("I", "F"):
        # Palette indices cannot be averaged; 16-bit modes are not reduced by Pillow.
        transparent = img.mode == "PA" or "transparency" in img.info
        img = img.convert("RGBA" if transparent else "I" if is_deep(img.mode) else "L")
    fx = min(img.width, math.ceil(math.sqrt(n / BOX_WORK_PIXELS)))  # a strip 1 pixel wide stays 1 wide
    fy = min(img.height, math.ceil(n / BOX_WORK_PIXELS / fx))
    return img.reduce((fx, fy))


def _prepare_cover(img: Image.Image, framing: FramingProfile) -> PreparedImage:
    h, w = framing.height, framing.width
    # Exactly as the folder loader converts its pictures: 16-bit scaled, transparency over white (grey
    # models too: a stroke on a clear sheet trained as a stroke on white paper).
    img = to_channels(img, 1 if framing.channels == 1 else 3)
    # The folder loader's own function: the crop follows the subject as it did for the training pictures.
    arr = np.asarray(cover(img, w, h), dtype=np.uint8)
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return PreparedImage(np.ascontiguousarray(arr), empty=bool(arr.max() == arr.min()), inverted=False)


def _prepare_box(img: Image.Image, framing: FramingProfile) -> PreparedImage:
    h, w = framing.height, framing.width
    gray = to_float_gray(_within_box_budget(img))
    background = _border_median(gray)
    # Bring the content to the dataset's polarity: light strokes on dark for MNIST-style data.
    want_light = framing.polarity != "dark-on-light"
    inverted = (background > 0.5) == want_light
    if inverted:
        np.subtract(1.0, gray, out=gray)
        background = 1.0 - background
    # Content = how far each pixel is from the background, so grey paper or a faint scan still works.
    # (One in-place pass each: a 560x560 drawing is prepared on every stroke.)
    content = gray
    if want_light:
        content -= background
    else:
        np.subtract(background, content, out=content)
    np.clip(content, 0.0, 1.0, out=content)
    peak = float(content.max())
    out = np.zeros((h, w), dtype=np.float32)
    if peak < CONTENT_THRESHOLD:
        return _finish(out, framing, empty=True, inverted=inverted)
    # Bounding box from row/column projections (cheaper than nonzero on the full image), then
    # stretch contrast on the crop only: the faintest drawing uses the full range.
    mask = content > CONTENT_THRESHOLD * peak
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop = content[y0:y1, x0:x1] / peak
    box = framing.box or min(h, w)
    ch, cw = crop.shape
    scale = box / max(ch, cw)
    nh, nw = max(1, round(ch * scale)), max(1, round(cw * scale))
    patch_img = Image.fromarray((crop * 255).astype(np.uint8), "L").resize((nw, nh), Image.Resampling.LANCZOS)
    patch = np.asarray(patch_img, dtype=np.float32) / 255.0
    if framing.centering == "mass" and patch.sum() > 0:
        yy, xx = np.indices(patch.shape)
        cy, cx = (patch * yy).sum() / patch.sum(), (patch * xx).sum() / patch.sum()
        top, left = round(h / 2 - cy - 0.5), round(w / 2 - cx - 0.5)
    else:
        top, left = (h - nh) // 2, (w - nw) // 2
    top = int(min(max(top, 0), h - nh))
    left = int(min(max(left, 0), w - nw))
    out[top:top + nh, left:left + nw] = patch
    return _finish(out, framing, empty=False, inverted=inverted)


def _finish(gray01: np.ndarray, framing: FramingProfile, empty: bool, inverted: bool) -> PreparedImage:
    if framing.polarity == "dark-on-light":
        gray01 = 1.0 - gray01
    pixels = np.clip(gray01 * 255 + 0.5, 0, 255).astype(np.uint8)[None]
    if framing.channels > 1:
        pixels = np.repeat(pixels, framing.channels, axis=0)
    return PreparedImage(np.ascontiguousarray(pixels), empty=empty, inverted=inverted)


def normalise(pixels_u8: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """uint8 (C, H, W) or (N, C, H, W) -> float32 model input, (x / 255 - mean) / std per channel.

    The same folded multiply-add as the trainer's BatchPreprocessor (scale 1 / (255 std), shift
    -mean / std, both float32), so an exported model fed by this function sees what training saw.
    """
    std_a = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)
    mean_a = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
    scale = np.float32(1.0) / (np.float32(255.0) * std_a)
    shift = -mean_a / std_a
    normalised: np.ndarray = np.asarray(pixels_u8, dtype=np.float32) * scale + shift
    return normalised
