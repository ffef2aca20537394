"""The CNN Studio icon, drawn with Pillow: one source for every size and platform format.

The picture is a CNN diagram reduced to a mark: three feature maps in a row, each smaller and further
back, an orange 3x3 kernel on the front map, and the lines of its receptive field meeting in one unit
of the next map. Small sizes (<= 32 px) drop the thin lines and thicken the outlines, so the mark still
reads at 16 px in a taskbar.

    python -m cnnstudio.icon [OUT_DIR]      # writes the files listed in write_all() (default: resources/)

The app uses the PNGs from resources/icons when it finds them (source tree, frozen bundle) and draws
the icon with render() otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)  # Windows: shell, taskbar, Explorer's views
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)  # macOS: every size of an .iconset

BACKGROUND_TOP = (33, 64, 142)  # deep blue, top-left
BACKGROUND_BOTTOM = (18, 148, 160)  # teal, bottom-right
MAP_FILL = (255, 255, 255, 52)
MAP_EDGE = (255, 255, 255, 235)
KERNEL = (255, 159, 28, 255)
UNIT = (255, 199, 120, 255)


def _gradient(size: int) -> Image.Image:
    """A diagonal two-colour gradient, size x size."""
    ramp = Image.linear_gradient("L").resize((size, size))  # top (0) to bottom (255)
    diagonal = Image.blend(ramp, ramp.transpose(Image.Transpose.ROTATE_90).transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                           0.5)
    top = Image.new("RGB", (size, size), BACKGROUND_TOP)
    bottom = Image.new("RGB", (size, size), BACKGROUND_BOTTOM)
    return Image.composite(bottom, top, diagonal)


def _draw(size: int, small: bool) -> Image.Image:
    """The icon at `size` px, drawn directly at that size (render() supersamples); `small`: the bold
    variant without thin lines, for icons of 32 px and less."""
    s = size / 1024.0
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))

    # Rounded-square plate with the gradient, leaving the margin platforms expect around the artwork.
    margin = round(64 * s)
    radius = round(200 * s)
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rounded_rectangle((margin, margin, size - margin, size - margin), radius, fill=255)
    img.paste(_gradient(size), (0, 0), mask)

    layer = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    edge = max(1, round((44 if small else 22) * s))

    # Three feature maps: (left, top, side) in 1024-space, front to back.
    maps = [(140, 310, 380), (575, 385, 230), (850, 445, 110)]
    if small:
        maps = [(120, 270, 460), (650, 370, 260)]
    for i, (x, y, side) in reversed(list(enumerate(maps))):
        box = tuple(round(v * s) for v in (x, y, x + side, y + side))
        d.rounded_rectangle(box, round(side * 0.08 * s), fill=MAP_FILL, outline=MAP_EDGE, width=edge)
        if i == 0 and not small:
            # The grid of the front map's pixels, faint.
            step = side / 6
            for k in range(1, 6):
                xv, yv = x + k * step, y + k * step
                d.line([(round(xv * s), round((y + 8) * s)), (round(xv * s), round((y + side - 8) * s))],
                       fill=(255, 255, 255, 70), width=max(1, round(6 * s)))
                d.line([(round((x + 8) * s), round(yv * s)), (round((x + side - 8) * s), round(yv * s))],
                       fill=(255, 255, 255, 70), width=max(1, round(6 * s)))

    # The kernel: a 3x3 window on the front map, and the unit it produces on the second map.
    fx, fy, fside = maps[0]
    cell = fside / 6
    kx, ky = fx + 2 * cell, fy + 1 * cell
    kbox = tuple(round(v * s) for v in (kx, ky, kx + 3 * cell, ky + 3 * cell))
    sx, sy, sside = maps[1]
    unit_c = (sx + sside * 0.55, sy + sside * 0.4)
    if not small:
        for corner in ((kbox[2], kbox[1]), (kbox[2], kbox[3])):
            d.line([corner, (round(unit_c[0] * s), round(unit_c[1] * s))], fill=(255, 214, 150, 220),
                   width=max(1, round(10 * s)))
    d.rectangle(kbox, fill=(255, 176, 72, 165), outline=KERNEL, width=max(1, round((40 if small else 20) * s)))
    r = (46 if small else 30) * s
    d.ellipse((round(unit_c[0] * s - r), round(unit_c[1] * s - r), round(unit_c[0] * s + r),
               round(unit_c[1] * s + r)), fill=UNIT)

    img.alpha_composite(layer)
    return img


def render(size: int) -> Image.Image:
    """The icon as an RGBA image of size x size px (drawn at 4x and averaged down: smooth edges)."""
    return _draw(size * 4, small=size <= 32).reduce(4)  # a 4x4 box average: no ringing at the edges


def write_all(out_dir: Path) -> list[Path]:
    """Write every file the platforms need into out_dir:
    icons/cnnstudio-<N>.png for N in PNG_SIZES (Linux hicolor theme, the app's window icon),
    cnnstudio.ico (Windows), cnnstudio.icns (macOS)."""
    out_dir = Path(out_dir)
    (out_dir / "icons").mkdir(parents=True, exist_ok=True)
    images = {n: render(n) for n in PNG_SIZES}
    written = []
    for n, im in images.items():
        path = out_dir / "icons" / f"cnnstudio-{n}.png"
        im.save(path, optimize=True)
        written.append(path)
    ico = out_dir / "cnnstudio.ico"
    images[256].save(ico, sizes=[(n, n) for n in ICO_SIZES], append_images=[images[n] for n in ICO_SIZES])
    written.append(ico)
    icns = out_dir / "cnnstudio.icns"
    images[1024].save(icns, append_images=[images[n] for n in ICNS_SIZES if n != 1024])
    written.append(icns)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path(__file__).resolve().parents[1] / "resources"
    for path in write_all(out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
