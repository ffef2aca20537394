"""Scaling a picture to cover a frame, with the crop following its subject: torch-free.

Folders of a user's own pictures mix aspect ratios. Scaling the shorter side to the frame and cutting
the longer one in the middle (a centre crop) is right for photos, whose subject fills the picture, but
on a picture that is much longer than wide with its subject towards one end it cuts the subject away:
on the messy folder (benchmarks/messy_folder.py) 8 of 11 test errors were such pictures. So when the
picture's border is plain (a drawing, an icon, a product shot on a backdrop), the crop is placed over
the subject: centred on it when it fits, over most of it when it does not. A busy border (a photo of a
scene) keeps the centre crop.

The folder loader and every user image (cnnstudio.core.preparation) call draft_for_cover() and
cover(), so a model is shown its predictions' pictures framed exactly as its training pictures were.
Only numpy and Pillow: the exported predictor bundle ships this module.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# A pixel is the backdrop's colour when no channel differs from the border's median by more than this
# (15 % of the range, the threshold preparation.py uses for content); otherwise it is subject.
BACKDROP_TOLERANCE = 38
# The border is plain when at least this share of its pixels is the backdrop's colour.
PLAIN_BORDER = 0.6
# The subject's extent along the crop's axis ignores this share of its pixels at each end (specks, noise).
TAIL = 0.01
# A picture more than this many times as long as the frame (scaled) is a strip: only its middle is
# scaled and kept. Scaling all of a 1 x 50,000 picture to a 64-pixel frame would make 614 MB of pixels.
STRIP = 16


def draft_for_cover(img: Image.Image, width: int, height: int, channels: int) -> None:
    """Before decoding: have a JPEG decoded at the smallest 1/2, 1/4 or 1/8 scale that still covers the
    frame, in the mode it will be used in (a phone photo then decodes several times faster). Both sides
    ask for the frame's longer side, since an EXIF rotation applied later may swap them. Other formats
    are decoded whole. The folder loader and prediction both call this before cover(), so a photo
    reaches the model as its training photos did, to the pixel."""
    if img.format == "JPEG":
        side = max(width, height)
        img.draft("L" if channels == 1 else "RGB", (side, side))


def cover(img: Image.Image, width: int, height: int) -> Image.Image:
    """`img` scaled so it covers width x height, then cropped to it (around the subject, see above)."""
    scale = max(width / img.width, height / img.height)
    nw, nh = max(width, round(img.width * scale)), max(height, round(img.height * scale))
    if nw * nh > STRIP * width * height:
        # The middle of the strip, at the frame's shape, in the picture's own pixels: scaled alone.
        bw, bh = min(img.width, width / scale), min(img.height, height / scale)
        left, top = (img.width - bw) / 2, (img.height - bh) / 2
        return img.resize((width, height), Image.Resampling.BILINEAR, box=(left, top, left + bw, top + bh))
    if (nw, nh) != img.size:
        # reducing_gap: a cheap integer reduce first, then bilinear - fast and without aliasing.
        img = img.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=2.0)
    left, top = (nw - width) // 2, (nh - height) // 2
    if nw > width:
        left = subject_window(np.asarray(img), width, axis=1)
    elif nh > height:
        top = subject_window(np.asarray(img), height, axis=0)
    return img.crop((left, top, left + width, top + height))


def subject_window(pixels: np.ndarray, length: int, axis: int) -> int:
    """Where a window `length` long along `axis` (0: rows, 1: columns) of `pixels` (H, W) or (H, W, C)
    uint8 should start to show the subject: the centre when the border is busy or nothing stands out."""
    extent = pixels.shape[axis]
    centre = int(extent - length) // 2
    values = pixels.astype(np.int16)
    if values.ndim == 2:
        values = values[..., None]
    border = np.concatenate([values[0], values[-1], values[:, 0], values[:, -1]])
    backdrop = np.median(border, axis=0).astype(np.int16)  # integers: the whole picture is compared below
    if (np.abs(border - backdrop).max(axis=-1) <= BACKDROP_TOLERANCE).mean() < PLAIN_BORDER:
        return centre
    subject = np.abs(values - backdrop).max(axis=-1) > BACKDROP_TOLERANCE
    profile = subject.sum(axis=1 - axis)  # subject pixels at each position along the axis
    total = int(profile.sum())
    if total == 0:
        return centre
    cumulative = np.cumsum(profile)
    first = int(np.searchsorted(cumulative, TAIL * total, side="right"))
    last = int(np.searchsorted(cumulative, (1 - TAIL) * total, side="left"))
    if last - first + 1 <= length:
        start = (first + last + 1 - length) // 2  # the subject fits: centre the window on it
    else:
        # Larger than the window: the window that holds most of it, the most central of equals.
        sums = np.concatenate([[0], cumulative])
        held = sums[length:] - sums[:-length]
        best = np.flatnonzero(held == held.max())
        start = int(best[np.argmin(np.abs(best - centre))])
    return int(min(max(start, 0), extent - length))
