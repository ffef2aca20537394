"""A messy folder of a user's own pictures: odd modes, odd sizes, broken files; a clearly separable task.

Circles, squares and triangles in any colour on any background, ~100 per class, saved in the modes
real folders mix (palette, CMYK JPEG, 16-bit grey, transparent, grey, RGB) at sizes from 24 to 200
pixels, plus three broken files per class (empty, not an image, cut in half). Used by the tests and by
benchmarks/own_data_defaults.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_messy_folder(root: Path, per_class: int = 100, seed: int = 0) -> None:
    """Circles, squares and triangles in any colour on any background, in odd modes (palette, CMYK,
    16-bit grey, transparent, grey) and sizes, with three broken files per class."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    modes = ["RGB", "P", "CMYK", "I;16", "RGBA", "L", "RGB", "RGB"]
    for cls in ("circle", "square", "triangle"):
        folder = root / cls
        folder.mkdir(parents=True)
        for i in range(per_class):
            w, h = int(rng.integers(24, 200)), int(rng.integers(24, 200))
            im = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 256, 3)))
            s = min(w, h) * rng.uniform(0.45, 0.8)
            cx, cy = w / 2 + rng.uniform(-0.1, 0.1) * w, h / 2 + rng.uniform(-0.1, 0.1) * h
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            if np.abs(np.subtract(colour, im.getpixel((0, 0)))).sum() < 150:  # keep the shape visible
                colour = tuple(255 - v for v in im.getpixel((0, 0)))
            box = (cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2)
            draw = ImageDraw.Draw(im)
            if cls == "circle":
                draw.ellipse(box, fill=colour)
            elif cls == "square":
                draw.rectangle(box, fill=colour)
            else:
                draw.polygon([(cx, box[1]), (box[0], box[3]), (box[2], box[3])], fill=colour)
            mode = modes[i % len(modes)]
            if mode == "I;16":
                im = Image.fromarray(np.asarray(im.convert("L"), np.uint16) * 257)  # 16-bit grey
            elif mode == "P":
                im = im.convert("P", palette=Image.Palette.ADAPTIVE)
            elif mode != "RGB":
                im = im.convert(mode)
            if mode == "CMYK":
                im.save(folder / f"{i}.jpg", quality=92)
            else:
                im.save(folder / f"{i}.png")
        (folder / "empty.png").write_bytes(b"")
        (folder / "notes.png").write_text("not a picture")
        good = folder / "0.png" if (folder / "0.png").exists() else next(folder.glob("*.png"))
        (folder / "cut.png").write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
