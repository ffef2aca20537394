"""How a dataset's images were framed, so user images can be prepared the same way.

A model trained on MNIST has only ever seen light digits on a dark background, fitted into a 20x20
box and centred by centre of mass in 28x28. A photo of a digit written in ink on paper must be
brought into that frame before the model can say anything sensible about it. The profile records
the convention; cnnstudio.core.inference applies it. Torch-free and JSON-serialisable, so it travels
inside datasets and checkpoints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

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
      centre-crops (photos).
    - box: the side of the box the content is fitted into (MNIST: 20 in 28).
    - centering: "mass" shifts the content so its centre of mass is the image centre (MNIST);
      "box" centres its bounding box.
    """

    height: int
    width: int
    channels: int
    polarity: Polarity = "natural"
    fit: Fit = "cover"
    box: int | None = None
    centering: Centering = "box"
    description: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FramingProfile":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def mnist_profile(description: str = "light digit on dark, fitted into 20x20, centred by centre of mass in 28x28") -> FramingProfile:
    return FramingProfile(28, 28, 1, polarity="light-on-dark", fit="box", box=20, centering="mass",
                          description=description)


def natural_profile(height: int, width: int, channels: int) -> FramingProfile:
    return FramingProfile(height, width, channels, polarity="natural", fit="cover", box=None,
                          centering="box", description=f"photo scaled to cover {width}x{height}, centre-cropped")


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
        parts.append("scaled to cover, centre-cropped")
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
