"""Digits that are not MNIST's: rendered from the fonts on this computer, varied like handwriting.

Each digit gets a random font (every TrueType or OpenType font found, at least the DejaVu family: sans,
serif, mono, condensed, bold, oblique; half of the digits from a handwriting-like font such as Humor
Sans or Comic Neue when one is installed), stroke width, slant, rotation, size and position. Like many users'
own digit sets they are light on dark but fill less of their frame than MNIST's (about 12 to 20 px of
28, where MNIST fits them into 20x20). The same digit can also be drawn as a user would on the Draw
page: dark ink on a white 320x320 canvas, at a random size, place and pen width.

    python benchmarks/font_digits.py OUT_FOLDER [--train 5000] [--test 1000]   writes an IDX folder

Used by benchmarks/own_data_defaults.py and by the tests (small sets).
"""

from __future__ import annotations

import argparse
import glob
import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

HI = 112  # digits are drawn at 4x and reduced: smooth edges, sub-pixel stroke widths
FONT_GLOBS = ("/usr/share/fonts/**/*.ttf", "/usr/share/fonts/**/*.otf", "/usr/local/share/fonts/**/*.ttf")
SKIP_FONTS = ("Math", "ExtraLight")  # symbol fonts, and hairlines no pen draws
# Handwriting-like fonts (Debian: fonts-humor-sans, fonts-comic-neue; URW's Z003 and Chancery): when
# present, half the digits are drawn with one of them.
HANDWRITING = ("Humor", "Comic", "Z003", "Chancery", "Script")


def fonts() -> list[str]:
    found = sorted({p for pattern in FONT_GLOBS for p in glob.glob(pattern, recursive=True)
                    if not any(s in Path(p).name for s in SKIP_FONTS)})
    if not found:
        raise SystemExit("font_digits: no TrueType fonts found (apt-get install fonts-dejavu-core)")
    return found


@dataclass(frozen=True)
class DigitStyle:
    """How one digit looks, apart from where and how large it is drawn."""

    digit: int
    font: str
    weight: float  # extra stroke, as a share of the glyph height
    slant: float  # horizontal shear
    rotation: float  # degrees


def random_style(digit: int, rng: np.random.Generator, font_files: list[str]) -> DigitStyle:
    hand = [f for f in font_files if any(h in Path(f).name for h in HANDWRITING)]
    pool = hand if hand and rng.random() < 0.5 else font_files
    return DigitStyle(digit, pool[int(rng.integers(len(pool)))], float(rng.uniform(0.0, 0.06)),
                      float(rng.uniform(-0.35, 0.35)), float(rng.uniform(-12, 12)))


def glyph(style: DigitStyle, height: int, ink: int, paper: int, pen: float = 0.0) -> Image.Image:
    """The digit alone, about `height` px tall, ink on paper, in an image just large enough for it."""
    font = ImageFont.truetype(style.font, size=height)
    stroke = int(round(style.weight * height + pen))
    pad = height // 2 + stroke
    left, top, right, bottom = font.getbbox(str(style.digit), stroke_width=stroke)
    w, h = right - left + 2 * pad, bottom - top + 2 * pad
    im = Image.new("L", (w, h), paper)
    ImageDraw.Draw(im).text((pad - left, pad - top), str(style.digit), font=font, fill=ink, stroke_width=stroke,
                            stroke_fill=ink)
    # Slant (shear about the centre), then a small rotation: the paper colour fills the corners.
    im = im.transform(im.size, Image.Transform.AFFINE, (1, style.slant, -style.slant * h / 2, 0, 1, 0),
                      resample=Image.Resampling.BILINEAR, fillcolor=paper)
    return im.rotate(style.rotation, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=paper)


def crop_to_ink(im: Image.Image, paper: int) -> Image.Image:
    a = np.abs(np.asarray(im, dtype=np.int16) - paper) > 20
    rows, cols = np.flatnonzero(a.any(axis=1)), np.flatnonzero(a.any(axis=0))
    return im.crop((cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)) if len(rows) else im


def training_image(style: DigitStyle, rng: np.random.Generator, size: int = 28) -> np.ndarray:
    """uint8 (size, size): light digit on black, its longer side 12-20 px of 28, placed off-centre a little."""
    ink = crop_to_ink(glyph(style, HI, 255, 0), 0)
    side = rng.uniform(12, 20) / 28 * size * 4
    scale = side / max(ink.size)
    ink = ink.resize((max(1, round(ink.width * scale)), max(1, round(ink.height * scale))), Image.Resampling.LANCZOS)
    canvas = Image.new("L", (size * 4, size * 4), 0)
    room_x, room_y = canvas.width - ink.width, canvas.height - ink.height
    x = int(np.clip(room_x / 2 + rng.normal(0, 4), 0, room_x))
    y = int(np.clip(room_y / 2 + rng.normal(0, 4), 0, room_y))
    canvas.paste(ink, (x, y))
    return np.asarray(canvas.resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8)


def drawn_image(style: DigitStyle, rng: np.random.Generator, canvas: int = 320) -> Image.Image:
    """The digit as a user draws it on the Draw page: dark ink on a white canvas, 60-260 px tall, anywhere,
    with a pen from thin to bold for its size (3-28 px, the canvas' brush sizes)."""
    height = int(rng.uniform(60, 260))
    pen = float(np.clip(rng.uniform(0.0, 0.08) * height, 0, 28))
    ink = crop_to_ink(glyph(style, height, 0, 255, pen=pen / 2), 255)
    if max(ink.size) > canvas - 8:
        scale = (canvas - 8) / max(ink.size)
        ink = ink.resize((max(1, round(ink.width * scale)), max(1, round(ink.height * scale))),
                         Image.Resampling.LANCZOS)
    im = Image.new("L", (canvas, canvas), 255)
    im.paste(ink, (int(rng.uniform(0, canvas - ink.width)), int(rng.uniform(0, canvas - ink.height))))
    return im


def make_set(n: int, seed: int, size: int = 28) -> tuple[np.ndarray, np.ndarray, list[DigitStyle]]:
    """n digits (balanced classes): images uint8 (n, size, size), labels uint8 (n,), and their styles."""
    rng = np.random.default_rng(seed)
    font_files = fonts()
    labels = (np.arange(n) % 10).astype(np.uint8)
    rng.shuffle(labels)
    styles = [random_style(int(d), rng, font_files) for d in labels]
    images = np.stack([training_image(s, rng, size) for s in styles])
    return images, labels, styles


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx_folder(folder: Path, n_train: int, n_test: int, seed: int = 0) -> list[DigitStyle]:
    """An MNIST-style IDX folder of font digits; returns the test digits' styles (to draw them again)."""
    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y, _ = make_set(n_train, seed)
    test_x, test_y, test_styles = make_set(n_test, seed + 1)
    for name, array in (("train-images-idx3-ubyte", train_x), ("train-labels-idx1-ubyte", train_y),
                        ("t10k-images-idx3-ubyte", test_x), ("t10k-labels-idx1-ubyte", test_y)):
        (folder / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(array), mtime=0))
    return test_styles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_idx_folder(Path(args.out), args.train, args.test, args.seed)
    print(f"wrote {args.train} training and {args.test} test digits to {args.out} ({len(fonts())} fonts)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
