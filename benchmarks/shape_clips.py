"""Short video clips of two kinds of shapes, made with ffmpeg: the camera's stand-in for tests and benchmarks.

Each frame is drawn with Pillow (a red square or a blue disc of varying size and place on a light
background that slowly changes brightness, with a little noise) and piped to Debian's ffmpeg as raw RGB,
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


def draw_frame(kind: str, i: int, rng: np.random.Generator) -> np.ndarray:
    level = int(200 + 40 * np.sin(i / 7.0))
    img = Image.new("RGB", (WIDTH, HEIGHT), (level, level, level - 10))
    draw = ImageDraw.Draw(img)
    size = int(rng.integers(34, 60))
    # Within the centred square (columns 20..140), which is what the model sees.
    x0 = int(rng.integers(22, 140 - size))
    y0 = int(rng.integers(2, HEIGHT - size - 2))
    if kind == "squares":
        draw.rectangle((x0, y0, x0 + size, y0 + size), fill=(210, 30, 30))
    else:
        draw.ellipse((x0, y0, x0 + size, y0 + size), fill=(30, 60, 210))
    pixels = np.asarray(img, dtype=np.int16) + rng.integers(-6, 7, (HEIGHT, WIDTH, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def make_clip(path: Path, kinds: list[str], seconds_each: float = 3.0, fps: int = 10, seed: int = 0) -> Path:
    """Write an MP4 of `kinds` one after another (seconds_each each) at `fps` frames a second."""
    exe = ffmpeg()
    if exe is None:
        raise RuntimeError("ffmpeg is not installed")
    rng = np.random.default_rng(seed)
    frames = [draw_frame(kind, i, rng) for kind in kinds for i in range(int(round(seconds_each * fps)))]
    cmd = [exe, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{WIDTH}x{HEIGHT}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "veryfast",
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
