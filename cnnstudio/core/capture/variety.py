"""Is a class being recorded with enough variety? Brightness spread and how alike consecutive frames are.

A webcam set recorded under one light, against one background, at one angle, fails elsewhere (one report
of a Teachable Machine model: 40 % in the field). While a class is recorded, each saved frame adds its
mean brightness and a small grey thumbnail; the advice comes from two figures:

- brightness spread: the standard deviation of the frames' mean brightness (0..1). Under one lamp it stays
  below LOW_BRIGHTNESS_SPREAD; moving between a window and a lamp spreads it well beyond.
- similarity: the median correlation of each frame's thumbnail with the one before it. A camera pointed
  at a still object gives nearly identical frames (above HIGH_SIMILARITY): more pictures, no more variety.

Nothing is said before ADVICE_AFTER frames: a handful of frames cannot show a spread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

ADVICE_AFTER = 15
LOW_BRIGHTNESS_SPREAD = 0.04
HIGH_SIMILARITY = 0.97
THUMB = 16


@dataclass(frozen=True)
class Variety:
    """What the recording of one class looks like so far."""

    frames: int
    brightness_spread: float  # std of the frames' mean brightness, 0..1
    similarity: float  # median correlation of consecutive frames (1: identical); nan before two frames
    advice: str  # one line, or "" when the variety looks fine (or it is too early to say)


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """A THUMB x THUMB grey float32 picture of an RGB frame, and the frame's brightness is its mean."""
    grey = Image.fromarray(rgb).convert("L").resize((THUMB, THUMB), Image.Resampling.BOX)
    small: np.ndarray = np.asarray(grey, dtype=np.float32) / 255.0
    return small


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    if denominator < 1e-9:  # both flat: alike exactly when their levels are
        return 1.0
    return float((a * b).sum() / denominator)


@dataclass
class VarietyWatch:
    """The running figures of one class's recording."""

    brightness: list[float] = field(default_factory=list)
    similarities: list[float] = field(default_factory=list)
    _last: np.ndarray | None = None

    def add(self, rgb: np.ndarray) -> Variety:
        small = thumbnail(rgb)
        self.brightness.append(float(small.mean()))
        if self._last is not None:
            self.similarities.append(_correlation(self._last, small))
        self._last = small
        return self.variety()

    def variety(self) -> Variety:
        n = len(self.brightness)
        spread = float(np.std(self.brightness)) if n else 0.0
        similarity = float(np.median(self.similarities)) if self.similarities else float("nan")
        return Variety(n, spread, similarity, advise(n, spread, similarity))


def advise(frames: int, spread: float, similarity: float) -> str:
    if frames < ADVICE_AFTER:
        return ""
    needs = []
    if spread < LOW_BRIGHTNESS_SPREAD:
        needs.append("other light (a window, a lamp, the room dimmer)")
    if similarity > HIGH_SIMILARITY:
        needs.append("other angles, distances and backgrounds (the frames are nearly identical)")
    if not needs:
        return ""
    return "Record this class with " + " and ".join(needs) + ": the model will meet them."
