"""`shapes`: the built-in dataset, generated on the spot so CNN Studio works with no network at all.

Eight kinds of light figures on a dark background, 28x28 grayscale like MNIST, with random size,
position, rotation, stroke width, brightness and filled/outlined style. Every figure is drawn at 4x
resolution with PIL and box-downsampled, which gives the antialiased edges real images have.

Classes are chosen to stay distinguishable under any rotation and at 10 px: no diamond (a rotated
square) and no ring (an outlined circle). The figures' extents (about 10-26 px, mostly near 20)
match the framing profile, which prepares a user's drawing MNIST-style into a 20 px box.

Generation is deterministic for a seed. The arrays are cached on disk (cache_dir) keyed by seed,
sizes and GENERATOR_VERSION, and memoised in the process, so a test session or an app start only
draws them once.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from cnnstudio.core import paths
from cnnstudio.core.datasets.base import Dataset
from cnnstudio.core.datasets.catalog import get_spec
from cnnstudio.core.framing import FramingProfile

# Bump whenever the drawing changes, so stale caches are not reused.
GENERATOR_VERSION = 1
SIZE = 28
SUPERSAMPLE = 4
CLASSES = ("circle", "square", "triangle", "star", "cross", "pentagon", "heart", "arrow")


def framing_profile() -> FramingProfile:
    return FramingProfile(SIZE, SIZE, 1, polarity="light-on-dark", fit="box", box=20, centering="mass",
                          description="light figure on dark, fitted into 20x20, centred by centre of mass in 28x28")


def _regular(n: int, start: float = math.pi / 2) -> np.ndarray:
    angles = start + np.arange(n) * 2 * math.pi / n
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star(points: int = 5, inner: float = 0.45) -> np.ndarray:
    angles = math.pi / 2 + np.arange(2 * points) * math.pi / points
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _cross(half_width: float = 0.3) -> np.ndarray:
    a, w = 1.0, half_width
    return np.array([(-w, -a), (w, -a), (w, -w), (a, -w), (a, w), (w, w), (w, a), (-w, a),
                     (-w, w), (-a, w), (-a, -w), (-w, -w)]) / math.hypot(a, w)


def _heart(n: int = 40) -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))  # image y points down
    pts = np.stack([x, y], axis=1)
    pts -= (pts.max(axis=0) + pts.min(axis=0)) / 2  # centre the bounding box
    unit: np.ndarray = pts / np.hypot(pts[:, 0], pts[:, 1]).max()
    return unit


def _arrow() -> np.ndarray:
    pts = np.array([(-1, -0.18), (0.2, -0.18), (0.2, -0.55), (1, 0), (0.2, 0.55), (0.2, 0.18), (-1, 0.18)])
    unit: np.ndarray = pts / np.hypot(pts[:, 0], pts[:, 1]).max()
    return unit


# Outlines in unit coordinates: every vertex within radius 1 of the centre (None = circle).
_OUTLINES: dict[str, np.ndarray | None] = {
    "circle": None,
    "square": _regular(4, math.pi / 4),
    "triangle": _regular(3),
    "star": _star(),
    "cross": _cross(),
    "pentagon": _regular(5),
    "heart": _heart(),
    "arrow": _arrow(),
}


def _draw(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one figure per label; returns uint8 (N, 1, 28, 28)."""
    n = len(labels)
    # All random parameters up front, vectorised: same stream for a seed whatever PIL does.
    extent = rng.uniform(12.0, 26.0, n)  # diameter of the figure's enclosing circle, in pixels
    stroke = rng.uniform(1.5, 3.0, n)
    filled = rng.random(n) < 0.5
    angle = rng.uniform(0, 2 * math.pi, n)
    brightness = rng.integers(170, 256, n)
    radius = extent / 2
    margin = radius + stroke / 2 + 0.5
    cx = rng.uniform(0, 1, n) * np.maximum(SIZE - 2 * margin, 0) + np.minimum(margin, SIZE / 2)
    cy = rng.uniform(0, 1, n) * np.maximum(SIZE - 2 * margin, 0) + np.minimum(margin, SIZE / 2)

    s = SUPERSAMPLE
    big = SIZE * s
    out = np.empty((n, 1, SIZE, SIZE), dtype=np.uint8)
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    for i in range(n):
        draw.rectangle((0, 0, big, big), fill=0)
        name = CLASSES[int(labels[i])]
        value = int(brightness[i])
        width = max(1, int(round(stroke[i] * s)))
        r = radius[i] * s
        x0, y0 = cx[i] * s, cy[i] * s
        outline = _OUTLINES[name]
        if outline is None:
            box = (x0 - r, y0 - r, x0 + r, y0 + r)
            if filled[i]:
                draw.ellipse(box, fill=value)
            else:
                draw.ellipse(box, outline=value, width=width)
        else:
            c, sn = math.cos(angle[i]), math.sin(angle[i])
            xs = x0 + r * (outline[:, 0] * c - outline[:, 1] * sn)
            ys = y0 + r * (outline[:, 0] * sn + outline[:, 1] * c)
            pts = list(zip(xs.tolist(), ys.tolist()))
            if filled[i]:
                draw.polygon(pts, fill=value)
            else:
                draw.line(pts + pts[:1], fill=value, width=width, joint="curve")
        # reduce() averages s x s blocks: exact box-filter antialiasing, and fast.
        out[i, 0] = np.asarray(canvas.reduce(s))
    return out


def generate(seed: int = 0, n_train: int = 12000, n_test: int = 2000) -> tuple[np.ndarray, ...]:
    """(train_images, train_labels, test_images, test_labels), balanced classes, for a seed."""
    arrays = []
    for stream, n in ((0, n_train), (1, n_test)):
        # Separate streams: the test set does not change when n_train does.
        rng = np.random.default_rng([seed, stream, GENERATOR_VERSION])
        labels = rng.permutation(np.arange(n) % len(CLASSES)).astype(np.int64)
        arrays += [_draw(labels, rng), labels]
    return tuple(arrays)


_memo: dict[tuple[int, int, int], tuple[np.ndarray, ...]] = {}
_memo_lock = threading.Lock()


def _cache_file(seed: int, n_train: int, n_test: int) -> Path:
    return paths.cache_dir() / f"shapes-v{GENERATOR_VERSION}-seed{seed}-{n_train}-{n_test}.npz"


def _read_cache(path: Path, n_train: int, n_test: int) -> tuple[np.ndarray, ...] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = tuple(data[k] for k in ("train_x", "train_y", "test_x", "test_y"))
    except (OSError, KeyError, ValueError, EOFError):
        return None  # absent or damaged: generate again
    if arrays[0].shape != (n_train, 1, SIZE, SIZE) or arrays[2].shape != (n_test, 1, SIZE, SIZE):
        return None
    return arrays


def _write_cache(path: Path, arrays: tuple[np.ndarray, ...]) -> None:
    temp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(temp, train_x=arrays[0], train_y=arrays[1], test_x=arrays[2], test_y=arrays[3])
        os.replace(temp, path)
    except OSError:
        temp.unlink(missing_ok=True)  # a read-only or full disk only costs a regeneration next time


def shapes_arrays(seed: int = 0, n_train: int = 12000, n_test: int = 2000) -> tuple[np.ndarray, ...]:
    """The generated arrays, from the in-process memo, the disk cache, or freshly drawn."""
    key = (int(seed), int(n_train), int(n_test))
    with _memo_lock:  # also keeps two threads from drawing the same set twice
        if key in _memo:
            return _memo[key]
        path = _cache_file(*key)
        arrays = _read_cache(path, n_train, n_test)
        if arrays is None:
            arrays = generate(*key)
            _write_cache(path, arrays)
        for array in arrays:
            array.setflags(write=False)  # shared by every caller: nobody may edit it
        _memo[key] = arrays
        return arrays


def load_shapes(seed: int = 0, n_train: int = 12000, n_test: int = 2000) -> Dataset:
    from cnnstudio.core.datasets.assemble import make_dataset

    spec = get_spec("shapes")
    train_x, train_y, test_x, test_y = shapes_arrays(seed, n_train, n_test)
    default = (seed, n_train, n_test) == (0, spec.num_train, spec.num_test)
    return make_dataset(
        name=spec.name,
        title=spec.title if default else f"{spec.title} (seed {seed}, {n_train}/{n_test})",
        classes=list(CLASSES),
        train_images=train_x,
        train_labels=train_y,
        test_images=test_x,
        test_labels=test_y,
        framing=framing_profile(),
        source=f"generated (seed {seed})",
        hflip_ok=True,  # every class is mirror-symmetric up to rotation (heart, arrow, pentagon too)
    )
