"""The learning-rate finder's curve as a PNG (`cnnstudio lr-find --plot`): the smoothed loss against the
learning rate on a log axis, the suggestion marked. Drawn with Pillow (a dependency already), so the
command line needs no plotting library; the app draws the same curve with pyqtgraph."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.export.destination import check_new_png, place, shown
from cnnstudio.core.training.lr_find import LrFindResult

WIDTH, HEIGHT = 720, 440
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 50  # margins around the plot area
CURVE, MARK, AXIS, GRID = (31, 119, 180), (214, 39, 40), (40, 40, 40), (225, 225, 225)


def render(result: LrFindResult, title: str = "learning-rate finder") -> Image.Image:
    """The curve as an RGB image."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    draw.text((LEFT, 12), title, fill=AXIS, font=font)
    points = [(math.log10(lr), loss) for lr, loss in zip(result.lrs, result.losses) if lr > 0 and math.isfinite(loss)]
    if points:
        lo_x, hi_x = math.floor(min(p[0] for p in points)), math.ceil(max(p[0] for p in points))
        lo_y, hi_y = min(p[1] for p in points), max(p[1] for p in points)
        # The divergence at the end can be many times the rest: keep the falling part readable.
        hi_y = min(hi_y, points[0][1] + 0.6 * (points[0][1] - lo_y + 0.1))
        points = [(x, min(y, hi_y)) for x, y in points]
        if hi_x == lo_x:
            hi_x += 1
        pad = (hi_y - lo_y) * 0.05 or 0.5
        lo_y, hi_y = lo_y - pad, hi_y + pad

        def at(lx: float, loss: float) -> tuple[float, float]:
            return (x0 + (lx - lo_x) / (hi_x - lo_x) * (x1 - x0), y1 - (loss - lo_y) / (hi_y - lo_y) * (y1 - y0))

        for decade in range(lo_x, hi_x + 1):  # a grid line and a label at every power of ten
            x = at(decade, lo_y)[0]
            draw.line([(x, y0), (x, y1)], fill=GRID)
            draw.text((x - 12, y1 + 6), f"1e{decade}", fill=AXIS, font=font)
        for k in range(5):
            loss = lo_y + (hi_y - lo_y) * k / 4
            y = at(lo_x, loss)[1]
            draw.line([(x0, y), (x1, y)], fill=GRID)
            draw.text((8, y - 6), f"{loss:.3g}", fill=AXIS, font=font)
        draw.line([at(*p) for p in points], fill=CURVE, width=2)
        if result.suggested_lr:
            lx = math.log10(result.suggested_lr)
            near = min(points, key=lambda p: abs(p[0] - lx))
            x, y = at(lx, near[1])
            draw.line([(x, y0), (x, y1)], fill=MARK, width=1)
            draw.ellipse([x - 5, y - 5, x + 5, y + 5], outline=MARK, width=2)
            draw.text((min(x + 8, x1 - 170), y0 + 4), f"suggested {result.suggested_lr:.3g} ({result.rule})",
                      fill=MARK, font=font)
    draw.rectangle([x0, y0, x1, y1], outline=AXIS)
    draw.text(((x0 + x1) // 2 - 60, HEIGHT - 20), "learning rate (log scale)", fill=AXIS, font=font)
    draw.text((8, TOP - 16), "smoothed loss", fill=AXIS, font=font)
    return image


def check_plot_path(path: str | os.PathLike[str]) -> Path:
    """Refuse, in one line, a plot file that could not or must not be written: an existing file (never
    replaced), a name that is not .png, a folder that does not exist."""
    return check_new_png(path, "plot", "lr-find")


def write_plot(result: LrFindResult, path: str | os.PathLike[str], title: str = "learning-rate finder") -> Path:
    """Write the curve as a PNG at `path`. An existing file is never replaced (nor one that appears while
    writing): the user names a new file."""
    final = check_plot_path(path)
    fd, tmp = tempfile.mkstemp(prefix=".lr-find-", suffix=".png", dir=final.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            render(result, title).save(f, format="PNG")
        place(Path(tmp), final, replace=False)
    except OSError as exc:
        raise CNNStudioError(f"cannot write {shown(final)}: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return final
