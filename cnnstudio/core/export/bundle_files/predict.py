"""Classify images with the model in this folder: python predict.py IMAGE [IMAGE or FOLDER ...].

Needs onnxruntime, numpy and Pillow only. Written by CNN Studio's `cnnstudio export --bundle`; the
image preparation in cnnstudio_prep/ is CNN Studio's own, so an image is framed and normalised here
exactly as in the app (the same framing profile, read from the model's metadata).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

from cnnstudio_prep.errors import CNNStudioError  # noqa: E402
from cnnstudio_prep.framing import FramingProfile  # noqa: E402
from cnnstudio_prep.preparation import normalise, open_image, prepare_image  # noqa: E402

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

    def probabilities(self, image) -> tuple[np.ndarray, bool]:
        """(class probabilities, whether the image was empty) for a PIL image or an array."""
        prepared = prepare_image(image, self.framing)
        x = normalise(prepared.pixels[None], self.mean, self.std)
        logits = self.session.run(["logits"], {"input": x})[0][0].astype(np.float64)
        e = np.exp(logits - logits.max())
        return e / e.sum(), prepared.empty


def _images(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                          and not any(part.startswith(".") for part in p.relative_to(path).parts))
        else:
            out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Classify images with this CNN Studio model.")
    parser.add_argument("images", nargs="+", help="image files or folders")
    parser.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON list")
    args = parser.parse_args(argv)
    model = Model()
    results, failed = [], 0
    for path in _images(args.images):
        try:
            probs, empty = model.probabilities(open_image(path, model.framing))
        except CNNStudioError as exc:
            failed += 1
            results.append({"image": str(path), "error": str(exc)})
            if not args.json:
                print(f"{path}: error: {exc}", file=sys.stderr)
            continue
        order = np.argsort(-probs)[:max(1, args.top)]
        top = [{"label": model.classes[i], "probability": round(float(probs[i]), 6)} for i in order]
        results.append({"image": str(path), "label": top[0]["label"], "top": top, "empty": empty})
        if not args.json:
            print(f"{path}: " + ", ".join(f"{t['label']} {t['probability']:.1%}" for t in top))
    if args.json:
        print(json.dumps(results))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
