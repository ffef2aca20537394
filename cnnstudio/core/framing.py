"""How a dataset's images were framed, so user images can be prepared the same way.

A model trained on MNIST has only ever seen light digits on a dark background, fitted into a 20x20
box and centred by centre of mass in 28x28. A photo of a digit written in ink on paper must be
brought into that frame before the model can say anything sensible about it. The profile records
the convention; cnnstudio.core.inference applies it. Torch-free and JSON-serialisable, so it travels
inside datasets and checkpoints.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

Polarity = Literal["light-on-dark", "dark-on-light", "natural"]
Centering = Literal["mass", "box"]
Fit = Literal["box", "cover"]


@dataclass(frozen=True)
class FramingProfile:
    """The framing convention of a dataset's images.

    - polarity: "light-on-dark" (MNIST: white strokes on black), "dark-on-light", or "natural"
      (photos: leave colours alone).
    - fit: "box" crops the content's bounding box and fits it, aspect kept, into box x box pixels
      placed in the size x size image; "cover" scales the whole image so it covers the frame and
      crops it, around the subject when the border is plain, else in the centre (photos; cover.py).
    - box: the side of the box the content is fitted into (MNIST: 20 in 28).
    - centering: "mass" shifts the content so its centre of mass is the image centre (MNIST);
      "box" centres its bounding box.
    - stroke: the typical width of a stroke in the frame, for line drawings (None: not measured). Shown,
      not applied: thickening or thinning a drawing towards it cost 2.7 points on drawn font digits
      (98.3 % -> 95.6 %, docs/benchmarks-history.md); fitting the drawing into `box` already scales its pen.
    """

    height: int
    width: int
    channels: int
    polarity: Polarity = "natural"
    fit: Fit = "cover"
    box: int | None = None
    centering: Centering = "box"
    description: str = ""
    stroke: float | None = None  # typical stroke width in pixels (line drawings), measured from the images

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FramingProfile:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def mnist_profile(
        description: str = "light digit on dark, fitted into 20x20, centred by centre of mass in 28x28",
) -> FramingProfile:
    return FramingProfile(28, 28, 1, polarity="light-on-dark", fit="box", box=20, centering="mass",
                          description=description)


def natural_profile(height: int, width: int, channels: int) -> FramingProfile:
    return FramingProfile(height, width, channels, polarity="natural", fit="cover", box=None, centering="box",
                          description=f"picture scaled to cover {width}x{height}, cropped around its subject")


def describe_preparation(framing: FramingProfile, inverted: bool) -> str:
    """One line on how an input was framed, e.g. '28x28 gray, inverted, fitted into 20x20, centred by mass'."""
    c, h, w = framing.channels, framing.height, framing.width
    parts = [f"{w}×{h} {'gray' if c == 1 else 'colour'}"]
    if framing.fit == "box":
        if inverted:
            parts.append("inverted")
        if framing.box:
            parts.append(f"fitted into {framing.box}×{framing.box}")
        parts.append("centred by mass" if framing.centering == "mass" else "centred")
    else:
        parts.append("scaled to cover, cropped around the subject")
    return " · ".join(parts)


def explain_preparation(framing: FramingProfile, inverted: bool) -> str:
    """A sentence on why the input looks the way it does."""
    if framing.fit != "box":
        return (f"Like the training photos, the picture is scaled to cover {framing.width}×{framing.height} "
                "pixels and its centre is cut out.")
    steps = ["cropped to its content"]
    if inverted:
        light = framing.polarity != "dark-on-light"
        steps.append("inverted to " + ("light strokes on dark" if light else "dark strokes on light"))
    if framing.box:
        steps.append(f"scaled into a {framing.box}×{framing.box} box")
    steps.append("centred by its centre of mass" if framing.centering == "mass" else "centred")
    return "Like the training images, your input is " + ", ".join(steps[:-1]) + " and " + steps[-1] + "."


# -- measured from the images ------------------------------------------------------------------------
MEASURE_SAMPLE = 2000  # images looked at: the profile of a set is stable long before that
MEASURE_PIXELS = 4_000_000  # pixels looked at in all (16 MB as float32): fewer images when they are large
MEASURE_SIDE = 256  # larger images are measured reduced to about this side
UNIFORM_BORDER = 0.85  # share of images whose border is plain (near black or white) for "line drawings"
INK = 0.3  # content threshold, as a share of an image's own peak contrast


def measure_framing(images: np.ndarray, description_name: str = "content") -> FramingProfile:
    """How a dataset's images are framed, measured from (a sample of) them: uint8 (N, C, H, W).

    Colour images, and grayscale ones without a plain background (photos, scans of scenes), are
    "natural": scaled to cover the frame. Grayscale images on a plain background (digits, letters,
    sketches) are line drawings: their polarity, how large their content is (the median side of its
    bounding box), whether it is centred by mass or by box (whichever the images are closer to), and
    the median stroke width are recorded, so a user's drawing can be brought into the same frame.
    """
    images = np.asarray(images)
    n, c, h, w = images.shape
    if c != 1 or n == 0 or min(h, w) < 8:
        return natural_profile(h, w, c)
    sample, scale = _bounded_sample(images)
    sh, sw = sample.shape[1:]  # the sample's sides: h, w reduced `scale` times
    border = np.concatenate([sample[:, 0], sample[:, -1], sample[:, :, 0], sample[:, :, -1]], axis=1)
    border_median = np.median(border, axis=1)
    plain = (np.abs(border - border_median[:, None]) < 0.1).mean(axis=1) > 0.9
    dark = border_median < 0.2
    light = border_median > 0.8
    if (plain & (dark | light)).mean() < UNIFORM_BORDER:
        return natural_profile(h, w, c)
    light_on_dark = dark.mean() >= light.mean()
    content = (sample - border_median[:, None, None]) * (1.0 if light_on_dark else -1.0)
    np.clip(content, 0.0, 1.0, out=content)
    sides, d_mass, d_box, strokes = [], [], [], []
    centre = np.array([(sh - 1) / 2, (sw - 1) / 2])
    yy, xx = np.indices((sh, sw))
    for img in content:
        peak = float(img.max())
        if peak < 0.15:
            continue
        mask = ink_mask(img)
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        y0, y1, x0, x1 = rows[0], rows[-1], cols[0], cols[-1]
        sides.append(max(y1 - y0 + 1, x1 - x0 + 1))
        total = float(img.sum())
        mass = np.array([(img * yy).sum() / total, (img * xx).sum() / total])
        d_mass.append(float(np.abs(mass - centre).max()))
        d_box.append(float(np.abs(np.array([(y0 + y1) / 2, (x0 + x1) / 2]) - centre).max()))
        strokes.append(stroke_width(mask))
    if len(sides) < max(3, len(sample) // 4):  # mostly empty frames: nothing to measure reliably
        return natural_profile(h, w, c)
    # Measured on images reduced `scale` times (large ones only): sizes back in the images' own pixels.
    box = int(round(float(np.median(sides)) * scale))
    centering: Centering = "mass" if np.median(d_mass) <= np.median(d_box) else "box"
    stroke = round(float(np.median(strokes)) * scale, 2)
    polarity: Polarity = "light-on-dark" if light_on_dark else "dark-on-light"
    text = (f"{'light strokes on dark' if light_on_dark else 'dark strokes on light'}, {description_name} about "
            f"{box} of {max(h, w)} px, centred by {'mass' if centering == 'mass' else 'its box'}, strokes about "
            f"{stroke:.1f} px wide")
    return FramingProfile(h, w, c, polarity=polarity, fit="box", box=min(box, min(h, w)), centering=centering,
                          description=text, stroke=stroke)


def _bounded_sample(images: np.ndarray) -> tuple[np.ndarray, int]:
    """(float32 sample in 0..1 of shape (k, h', w'), reduction factor): at most MEASURE_SAMPLE images and
    MEASURE_PIXELS pixels in all, whatever the set's size. Images larger than MEASURE_SIDE are reduced
    one at a time by averaging scale x scale blocks (strokes survive, unlike with strides), so no float
    copy of a whole large image, let alone of the set, is ever made."""
    n, _, h, w = images.shape
    scale = max(1, math.ceil(max(h, w) / MEASURE_SIDE))
    rh, rw = h // scale, w // scale
    count = max(1, min(MEASURE_SAMPLE, n, MEASURE_PIXELS // max(1, rh * rw)))
    picks = np.arange(0, n, max(1, n // count))[:count]  # evenly spread, as before the pixel bound
    sample = np.empty((len(picks), rh, rw), np.float32)
    for row, index in enumerate(picks):
        image = images[int(index), 0]
        if scale > 1:
            blocks = image[: rh * scale, : rw * scale].reshape(rh, scale, rw, scale)
            sample[row] = blocks.mean(axis=(1, 3), dtype=np.float32)
        else:
            sample[row] = image
    sample /= 255.0
    return sample, scale


def ink_mask(image: np.ndarray) -> np.ndarray:
    """The strokes of a light-on-dark image: pixels above INK of its brightest (one rule for training
    images and prepared drawings, so their stroke widths compare)."""
    return image > INK * float(image.max())


def stroke_width(mask: np.ndarray) -> float:
    """The mean width of the strokes in a boolean image: area over half the outline (a stroke of width t
    and length L has area t*L and an outline of about 2L)."""
    area = int(mask.sum())
    if not area:
        return 0.0
    padded = np.pad(mask, 1)
    inner = padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    edge = area - int(inner.sum())  # pixels with a neighbour outside the stroke
    return 2.0 * area / max(edge, 1) if edge else float(min(mask.shape))
