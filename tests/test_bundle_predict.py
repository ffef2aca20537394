"""The exported predictor bundle's predict.py on hostile input: it runs where CNN Studio does not, on
whatever folder a user points it at.

Each case runs the bundle's own predict.py in a subprocess (with torch and cnnstudio made unimportable,
as on a machine that has only onnxruntime) and checks what the user sees: it finishes (a FIFO or a
device would block a read forever), one line per picture that cannot be classified and never a
traceback, the other pictures still classified, and memory bounded per picture.
"""

from __future__ import annotations

import io
import json
import os
import socket
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageDraw, PngImagePlugin

from cnnstudio.core.datasets import load_dataset
from cnnstudio.core.export import export_model
from cnnstudio.core.training.config import TrainConfig
from cnnstudio.core.training.trainer import Trainer

TIMEOUT = 120  # seconds: generous; a FIFO used to block forever


def _train_and_bundle(dataset, folder: Path, dataset_name: str) -> Path:
    cfg = TrainConfig(dataset=dataset_name, model="tiny-bn-cnn", epochs=1, batch_size=32, limit_train=200,
                      val_split=0.0, device="cpu", precision="fp32", seed=0)
    result = Trainer(cfg, dataset=dataset, run_dir=folder / "run").run()
    assert result.status == "finished", result
    export = export_model(result.checkpoint, "onnx", folder / "model.onnx", bundle=folder / "bundle",
                          dataset=dataset)
    assert export.ok, export.message
    return Path(export.bundle)


@pytest.fixture(scope="module")
def box_bundle(tmp_path_factory) -> Path:
    """Shapes: drawings framed into a box by their content (the Draw page's preparation)."""
    return _train_and_bundle(load_dataset("shapes"), tmp_path_factory.mktemp("box"), "shapes")


@pytest.fixture(scope="module")
def cover_bundle(tmp_path_factory) -> Path:
    """A folder of colour photos: pictures scaled to cover the frame (a photo's preparation)."""
    root = tmp_path_factory.mktemp("cover")
    rng = np.random.default_rng(0)
    for k, colour in enumerate(((220, 30, 30), (30, 30, 220))):
        (root / "photos" / f"class{k}").mkdir(parents=True)
        for i in range(12):
            pixels = np.clip(rng.normal(colour, 40, (24, 24, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "photos" / f"class{k}" / f"{i}.png")
    dataset = load_dataset(str(root / "photos"))
    assert dataset.framing.fit == "cover"
    return _train_and_bundle(dataset, root, str(root / "photos"))


def blocked_env(tmp_path: Path) -> dict[str, str]:
    """An environment in which torch, torchvision and cnnstudio cannot be imported."""
    stubs = tmp_path / "stubs"
    stubs.mkdir(exist_ok=True)
    for name in ("torch", "torchvision", "cnnstudio"):
        (stubs / f"{name}.py").write_text(f"raise ImportError('{name} is not installed here')\n")
    return {**os.environ, "PYTHONPATH": str(stubs)}


def run_bundle(bundle: Path, *args: str, cwd: Path, wrapper: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*(wrapper or [sys.executable]), str(bundle / "predict.py"), *args], capture_output=True,
                          text=True, timeout=TIMEOUT, env=blocked_env(cwd), cwd=cwd)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def figure(path: Path, size: int = 64) -> Path:
    img = Image.new("L", (size, size), 0)
    ImageDraw.Draw(img).rectangle((size // 4, size // 4, 3 * size // 4, 3 * size // 4), outline=255, width=3)
    img.save(path)
    return path


# -- hostile pictures, each alone -------------------------------------------------------------------
def _png_declaring(path: Path, width: int, height: int) -> None:
    """A tiny PNG whose header declares width x height (the pixel data is that of an 8x8 picture)."""
    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))


def _noise_jpeg(size: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _palette_transparent(path: Path) -> None:
    img = Image.new("P", (32, 32), 0)
    img.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
    img.paste(1, (8, 8, 24, 24))
    img.save(path, transparency=0)


def _animated_gif(path: Path) -> None:
    frames = [Image.new("L", (32, 32), v) for v in (0, 128, 255)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _huge_exif(path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated
    exif[0x927C] = b"x" * 60_000  # a maker note filling the 64 KB the segment allows
    Image.new("RGB", (48, 32), (200, 10, 10)).save(path, exif=exif.tobytes())


def _broken_exif(path: Path) -> None:
    data = bytearray(_noise_jpeg(32))
    app1 = b"Exif\x00\x00MM\x00\x2a\x00\x00\xff\xff" + b"\xff" * 64  # IFD offset past the end
    data[2:2] = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
    path.write_bytes(bytes(data))


def _text_bomb_png(path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * 3_000_000, zip=True)  # 3 MB of text from a few KB
    Image.new("L", (8, 8)).save(path, pnginfo=info)


# name -> (how to write it, "classified" or the words of its one refusal line; "box|cover" where they differ)
HOSTILE: dict[str, tuple[Callable[[Path], None], str]] = {
    "bomb.png": (lambda p: _png_declaring(p, 60_000, 60_000), "too large"),  # 3.6 billion pixels, 69 bytes
    "over-the-limit.png": (lambda p: _png_declaring(p, 8_000, 8_000), "too large"),  # 64 M > the app's 50 M
    "strip-declared.png": (lambda p: _png_declaring(p, 1, 50_000_000), "too large"),  # 69 bytes, once 1.5 GB
    "strip-tall.png": (lambda p: Image.new("L", (1, 50_000), 255).save(p), "classified"),
    "strip-wide.png": (lambda p: Image.new("L", (50_000, 1), 255).save(p), "classified"),
    "truncated.jpg": (lambda p: p.write_bytes(_noise_jpeg()[:len(_noise_jpeg()) // 2]), "truncated"),
    "truncated.png": (lambda p: p.write_bytes(figure(p).read_bytes()[:60]), "damaged"),
    "zero-bytes.png": (lambda p: p.write_bytes(b""), "empty file"),
    "text.png": (lambda p: p.write_text("hello, I am not a picture\n"), "not an image"),
    "16-bit.png": (lambda p: Image.fromarray((np.arange(4096).reshape(64, 64) * 16).astype(np.uint16)).save(p),
                   "classified"),
    "cmyk.jpg": (lambda p: Image.new("CMYK", (40, 30), (0, 255, 0, 0)).save(p), "classified"),
    "palette-transparent.png": (_palette_transparent, "classified"),
    "animated.gif": (_animated_gif, "classified"),
    "huge-exif.jpg": (_huge_exif, "classified"),
    "broken-exif.jpg": (_broken_exif, "classified"),
    "float.tif": (lambda p: Image.fromarray(np.linspace(-5, 5, 1024, dtype=np.float32).reshape(32, 32), "F").save(p),
                  "classified"),
    "nan.tif": (lambda p: Image.fromarray(np.full((16, 16), np.nan, np.float32), "F").save(p), "classified"),
    # Pillow converts LAB to RGB but not to grey: the box framing's refusal was a traceback.
    "lab.tif": (lambda p: Image.new("LAB", (8, 8)).save(p), "LAB|classified"),
    "text-bomb.png": (_text_bomb_png, "damaged"),
}


@pytest.mark.parametrize("framing", ["box", "cover"])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_picture_alone_gets_an_answer_or_one_line(name, framing, box_bundle, cover_bundle, tmp_path):
    bundle = box_bundle if framing == "box" else cover_bundle
    write, expected = HOSTILE[name]
    if "|" in expected:  # (box framing, cover framing)
        expected = expected.split("|")[framing == "cover"]
    write(tmp_path / name)
    proc = run_bundle(bundle, name, cwd=tmp_path)
    said = lines(proc.stdout) + lines(proc.stderr)
    assert "Traceback" not in proc.stderr and len(said) == 1, proc.stdout + proc.stderr
    if expected == "classified":
        assert proc.returncode == 0 and proc.stdout.startswith(f"{name}: "), said
    else:
        assert proc.returncode == 1 and said[0].startswith(f"{name}: error: ") and expected in said[0], said


# -- not pictures at all: FIFOs, sockets, devices, link loops -----------------------------------------
def test_a_fifo_in_the_folder_is_skipped_not_waited_for(box_bundle, tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    figure(folder / "a.png")
    os.mkfifo(folder / "pipe.png")  # opening it for reading waits for a writer: forever
    proc = run_bundle(box_bundle, "--json", str(folder), cwd=tmp_path)
    rows = json.loads(proc.stdout.splitlines()[-1])
    assert "Traceback" not in proc.stderr
    assert [Path(r["image"]).name for r in rows if "label" in r] == ["a.png"]
    assert [Path(r["image"]).name for r in rows if "error" in r] == ["pipe.png"]
    # Named on the command line: one line, no wait.
    proc = run_bundle(box_bundle, str(folder / "pipe.png"), cwd=tmp_path)
    assert proc.returncode == 1 and len(lines(proc.stderr)) == 1 and "not a regular file" in proc.stderr


def test_sockets_devices_and_link_loops_end_in_one_line_each(box_bundle, tmp_path):
    folder = tmp_path / "pictures"
    (folder / "sub").mkdir(parents=True)
    figure(folder / "a.png")
    figure(folder / "sub" / "b.png")
    (folder / "sub" / "loop").symlink_to(folder, target_is_directory=True)  # a folder link back up: a loop
    (folder / "self.png").symlink_to(folder / "self.png")  # a link to itself
    (folder / "zero.png").symlink_to("/dev/zero")  # a device that never ends
    (folder / "dangling.png").symlink_to(folder / "missing.png")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(folder / "socket.png"))
        proc = run_bundle(box_bundle, str(folder), cwd=tmp_path)
    finally:
        server.close()
    assert "Traceback" not in proc.stderr
    classified = sorted(Path(line.split(": ")[0]).name for line in lines(proc.stdout))
    assert classified == ["a.png", "b.png"], proc.stdout  # each once, though the loop leads back
    refused = {Path(line.split(": ")[0]).name: line for line in lines(proc.stderr)}
    assert sorted(refused) == ["dangling.png", "self.png", "socket.png", "zero.png"], refused
    assert "not a regular file" in refused["socket.png"] and "not a regular file" in refused["zero.png"]
    assert "not found" in refused["dangling.png"] and "cannot read" in refused["self.png"]


def test_file_names_are_printed_escaped(box_bundle, tmp_path):
    name = "evil\u202egnp\nx.png"
    figure(tmp_path / name)
    proc = run_bundle(box_bundle, name, cwd=tmp_path)
    assert proc.returncode == 0 and len(lines(proc.stdout)) == 1
    assert "\u202e" not in proc.stdout and proc.stdout.startswith("evil\\u202egnp\\nx.png: ")


# -- memory per picture -------------------------------------------------------------------------------
PEAK_RSS = [sys.executable, "-c", ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
                                   "print('peak_kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
                                   "file=sys.stderr); sys.exit(code)"),
            sys.executable]


def _peak_mb(proc: subprocess.CompletedProcess) -> float:
    return int(proc.stderr.split("peak_kb ")[-1].split()[0]) / 1024


def _largest_allowed(path: Path, kind: str) -> None:
    """A 7000 x 7000 picture (49 million pixels, just under the limit): a disc on a transparent sheet, or 16-bit."""
    mask = Image.new("L", (7000, 7000), 0)
    ImageDraw.Draw(mask).ellipse((1000, 1000, 6000, 6000), fill=255)
    if kind == "rgba":
        Image.merge("RGBA", (mask, mask, mask, mask)).save(path)
    else:
        Image.fromarray(np.asarray(mask).astype(np.uint16) * 257).save(path)


@pytest.mark.parametrize("framing", ["box", "cover"])
@pytest.mark.parametrize("kind", ["rgba", "16-bit"])
def test_memory_per_picture_is_bounded(kind, framing, box_bundle, cover_bundle, tmp_path):
    # Peak RSS measured on the largest picture allowed: 0.9 to 1.8 GB before (full-size float and RGBA
    # copies, and a copy of every upright picture), 375 to 475 MB after, with the same pixels.
    _largest_allowed(tmp_path / "big.png", kind)
    bundle = box_bundle if framing == "box" else cover_bundle
    proc = run_bundle(bundle, "big.png", cwd=tmp_path, wrapper=PEAK_RSS)
    assert proc.returncode == 0 and proc.stdout.startswith("big.png: "), proc.stderr
    assert _peak_mb(proc) < 600, _peak_mb(proc)


def test_a_strip_declared_in_69_bytes_is_refused_before_decoding(box_bundle, tmp_path):
    # A 69-byte PNG declaring 1 x 50,000,000 pixels: decoded, it took 1.5 GB (Pillow's cost per row).
    _png_declaring(tmp_path / "strip.png", 1, 50_000_000)
    proc = run_bundle(box_bundle, "strip.png", cwd=tmp_path, wrapper=PEAK_RSS)
    assert proc.returncode == 1 and "too large" in proc.stderr and _peak_mb(proc) < 300, proc.stderr
