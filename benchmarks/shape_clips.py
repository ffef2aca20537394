"""Short video clips of two kinds of shapes, made with ffmpeg: the camera's stand-in for tests and benchmarks.

Each frame is drawn with Pillow (a red square or a blue disc gliding from place to place and size to
size on a light background that slowly changes brightness, with a little noise) and piped to Debian's ffmpeg as raw RGB,
which encodes it as H.264 in MP4 (yuv420p, as a phone or a webcam would). `tests/test_camera_*.py`
and `benchmarks/camera_live.py` use it; without ffmpeg on PATH the callers skip.

    python benchmarks/shape_clips.py OUT.mp4 squares|discs|both [--seconds S] [--fps F]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

WIDTH, HEIGHT = 160, 120


def ffmpeg() -> str | None:
    return shutil.which("ffmpeg")


def _places(count: int, rng: np.random.Generator, hold: int = 8) -> list[tuple[int, int, int]]:
    """(size, left, top) of the shape in each of `count` frames: it glides from one random place (and
    size) to the next every `hold` frames, as an object moved in front of a camera does."""
    def place() -> np.ndarray:
        size = int(rng.integers(34, 60))
        # Within the centred square (columns 20..140), which is what the model sees.
        return np.array([size, rng.integers(22, 140 - size), rng.integers(2, HEIGHT - size - 2)], dtype=float)

    stops = [place() for _ in range(count // hold + 2)]
    out = []
    for i in range(count):
        a, b, f = stops[i // hold], stops[i // hold + 1], (i % hold) / hold
        size, left, top = (a + (b - a) * f).round().astype(int)
        out.append((int(size), int(left), int(top)))
    return out


def draw_frame(kind: str, i: int, rng: np.random.Generator, place: tuple[int, int, int]) -> np.ndarray:
    level = int(200 + 40 * np.sin(i / 7.0))
    img = Image.new("RGB", (WIDTH, HEIGHT), (level, level, level - 10))
    draw = ImageDraw.Draw(img)
    size, x0, y0 = place
    if kind == "squares":
        draw.rectangle((x0, y0, x0 + size, y0 + size), fill=(210, 30, 30))
    else:
        draw.ellipse((x0, y0, x0 + size, y0 + size), fill=(30, 60, 210))
    pixels = np.asarray(img, dtype=np.int16) + rng.integers(-6, 7, (HEIGHT, WIDTH, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def make_clip(path: Path, kinds: list[str], seconds_each: float = 3.0, fps: int = 10, seed: int = 0,
              size: tuple[int, int] = (WIDTH, HEIGHT)) -> Path:
    """Write an MP4 of `kinds` one after another (seconds_each each) at `fps` frames a second; frames are
    drawn at 160x120 and scaled to `size` (a webcam's 640x480, say)."""
    exe = ffmpeg()
    if exe is None:
        raise RuntimeError("ffmpeg is not installed")
    rng = np.random.default_rng(seed)
    per_kind = int(round(seconds_each * fps))
    frames = []
    for kind in kinds:
        frames += [draw_frame(kind, i, rng, place) for i, place in enumerate(_places(per_kind, rng))]
    if size != (WIDTH, HEIGHT):
        frames = [np.asarray(Image.fromarray(f).resize(size, Image.Resampling.BILINEAR)) for f in frames]
    cmd = [exe, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{size[0]}x{size[1]}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "veryfast",
           "-crf", "18", "-g", str(fps), "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True, timeout=120)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("what", choices=["squares", "discs", "both"])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    kinds = ["squares", "discs"] if args.what == "both" else [args.what]
    print(make_clip(Path(args.out), kinds, args.seconds, args.fps, args.seed))


if __name__ == "__main__":
    main()
