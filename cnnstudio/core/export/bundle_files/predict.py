"""Classify images with the model in this folder: python predict.py IMAGE [IMAGE or FOLDER ...].

Needs onnxruntime, numpy and Pillow only. Written by CNN Studio's `cnnstudio export --bundle`; the
image preparation in cnnstudio_prep/ is CNN Studio's own, so an image is framed and normalised here
exactly as in the app (the same framing profile, read from the model's metadata).

Any file may be handed to it, so every picture is guarded as the app guards it: only regular files are
opened (a FIFO, socket or device in a folder would block the read forever or never end), folders are
walked once each (a link loop ends), and open_image refuses pictures of more than 50 million pixels from
their header, reads the first frame of an animated picture and refuses truncated files; a picture far
longer than wide is cropped to its middle before scaling (cover.py). Each picture that cannot be
classified is one line (stderr, or an "error" entry with --json), never a traceback, and the others
are still classified.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageFile

from cnnstudio_prep.errors import CNNStudioError
from cnnstudio_prep.framing import FramingProfile
from cnnstudio_prep.preparation import normalise, open_image, prepare_image
from cnnstudio_prep.text import printable

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


class Model:
    """model.onnx and what its metadata says: classes, normalisation, framing."""

    def __init__(self, path: Path = HERE / "model.onnx"):
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.classes = json.loads(meta["classes"])
        self.mean, self.std = json.loads(meta["mean"]), json.loads(meta["std"])
        self.framing = FramingProfile.from_dict(json.loads(meta["framing"]))

    def probabilities(self, image: Image.Image | np.ndarray) -> tuple[np.ndarray, bool]:
        """(class probabilities, whether the image was empty) for a PIL image or an array."""
        prepared = prepare_image(image, self.framing)
        x = normalise(prepared.pixels[None], self.mean, self.std)
        logits = self.session.run(["logits"], {"input": x})[0][0].astype(np.float64)
        e = np.exp(logits - logits.max())
        return e / e.sum(), prepared.empty


def _walk(folder: Path, seen: set[Path], problems: list[tuple[Path, str]]) -> list[Path]:
    """The image-named entries below `folder`, hidden ones skipped, each real folder entered once (links
    followed, a loop ended), in a stable order. Only names are looked at here: nothing is opened."""
    try:
        real = folder.resolve()
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except (OSError, RuntimeError) as exc:
        problems.append((folder, f"cannot read the folder ({getattr(exc, 'strerror', None) or exc})"))
        return []
    if real in seen:
        return []
    seen.add(real)
    out: list[Path] = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir()  # follows links; a loop of folders ends at `seen`
        except OSError:  # a link to itself
            is_dir = False
        if is_dir:
            out += _walk(path, seen, problems)
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            out.append(path)  # a FIFO, socket, device or broken link too: _classify says why, in one line
    return out


def _images(paths: list[str]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(files to classify, (path, why) of what was named but cannot be classified)."""
    out: list[Path] = []
    problems: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for text in paths:
        path = Path(text)
        if path.is_dir():
            out += _walk(path, seen, problems)
        else:
            out.append(path)
    return out, problems


def _regular_file(path: Path) -> str | None:
    """Why `path` is not a file to open, or None. Opening a FIFO blocks until someone writes to it."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "not found"
    except OSError as exc:  # a link loop, permission denied on a folder above it, ...
        return f"cannot read it ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return "a folder, not an image"
    return None if stat.S_ISREG(mode) else "not a regular file (a FIFO, socket or device)"


def _classify(model: Model, path: Path) -> tuple[np.ndarray, bool]:
    """(probabilities, empty) of one picture; CNNStudioError with one line for anything else."""
    why = _regular_file(path)
    if why:
        raise CNNStudioError(why)
    if os.path.getsize(path) == 0:
        raise CNNStudioError("empty file")
    try:
        return model.probabilities(open_image(path, model.framing))  # open_image silences Pillow's warnings
    except CNNStudioError:
        raise
    except MemoryError:
        raise CNNStudioError("too large to decode in the memory available") from None
    except Exception as exc:  # noqa: BLE001 - a decoder's own error on a crafted file: one line, the rest go on
        raise CNNStudioError(f"not an image or damaged ({type(exc).__name__})") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Classify images with this CNN Studio model.")
    parser.add_argument("images", nargs="+", help="image files or folders")
    parser.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON list")
    args = parser.parse_args(argv)
    # Pillow's global switch (another library may have set it): a cut-off file is refused, not padded grey.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    model = Model()
    results: list[dict[str, object]] = []
    failed = 0
    paths, problems = _images(args.images)
    for path, why in problems:
        failed += 1
        results.append({"image": str(path), "error": why})
        if not args.json:
            print(printable(f"{path}: error: {why}"), file=sys.stderr)
    for path in paths:
        try:
            probs, empty = _classify(model, path)
        except CNNStudioError as exc:
            failed += 1
            results.append({"image": str(path), "error": str(exc)})
            if not args.json:
                print(printable(f"{path}: error: {exc}"), file=sys.stderr)
            continue
        order = np.argsort(-probs)[:max(1, args.top)]
        top = [{"label": model.classes[i], "probability": round(float(probs[i]), 6)} for i in order]
        results.append({"image": str(path), "label": top[0]["label"], "top": top, "empty": empty})
        if not args.json:
            print(printable(f"{path}: " + ", ".join(f"{t['label']} {t['probability']:.1%}" for t in top)))
    if args.json:
        print(json.dumps(results))  # ASCII: every control or bidi character in a name is a JSON escape
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
