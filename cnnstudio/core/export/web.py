"""A model as a web page that runs offline in any browser: `cnnstudio export --format web`.

The folder holds everything the page needs and nothing it fetches from elsewhere:

    index.html, page.js        the page: draw, open or drop a picture, the camera; top classes and the input seen
    prepare.js                 CNN Studio's preparation (preparation.py, cover.py, framing) written in JavaScript
    model.onnx, model.json     the checked ONNX export, and its classes, normalisation, framing and input shape
    ort/                       onnxruntime-web's JavaScript and its one WebAssembly build (RUNTIME below)
    samples/                   test pictures of several classes, listed in samples/index.json (index.html#selftest)
    README.md                  how to open it: any static web server, e.g. python -m http.server

The onnxruntime-web files are shipped inside CNN Studio (cnnstudio/core/export/web_files/ort/, pinned in
RUNTIME.json with their checksums) rather than fetched when exporting: an export is made where the model
is, often with no network, and must work there; docs/architecture.md says why in full.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.export.metadata import ModelMetadata

FILES = Path(__file__).resolve().parent / "web_files"
RUNTIME_DIR = FILES / "ort"
PAGE_FILES = ("index.html", "page.js", "prepare.js")
# What a web export writes at its top level; an earlier one is recognised by these and replaced file by file.
WEB_MARKERS = ("index.html", "model.onnx", "model.json", "prepare.js")
DEFAULT_SAMPLES = 12


def runtime_manifest() -> dict[str, object]:
    """RUNTIME.json: the pinned onnxruntime-web version and the sha256 of each file shipped."""
    data: dict[str, object] = json.loads((RUNTIME_DIR / "RUNTIME.json").read_text(encoding="utf-8"))
    return data


def check_runtime() -> None:
    """The shipped runtime files are all there and unchanged; a clear sentence when not (a broken install)."""
    manifest = runtime_manifest()
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise CNNStudioError(f"{RUNTIME_DIR / 'RUNTIME.json'} is damaged; reinstall CNN Studio")
    for name, digest in files.items():
        path = RUNTIME_DIR / name
        if not path.is_file():
            raise CNNStudioError(f"the web page's runtime file {path} is missing; reinstall CNN Studio")
        if _sha256(path) != digest:
            raise CNNStudioError(f"the web page's runtime file {path} differs from the one CNN Studio was built "
                                 "with; reinstall CNN Studio")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pick_samples(images: np.ndarray, labels: np.ndarray | None, count: int) -> list[int]:
    """`count` test pictures spread over the classes (round robin over the classes, in order), so the
    folder shows the model on several classes; the first `count` pictures when labels are unknown."""
    if labels is None or len(labels) == 0:
        return list(range(min(count, len(images))))
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels.tolist()):
        by_class.setdefault(int(label), []).append(i)
    picked: list[int] = []
    depth = 0
    while len(picked) < min(count, len(images)):
        added = False
        for label in sorted(by_class):
            rows = by_class[label]
            if depth < len(rows) and len(picked) < count:
                picked.append(rows[depth])
                added = True
        if not added:
            break
        depth += 1
    return picked


def sample_name(position: int, label: str | None) -> str:
    """A file name for a sample picture: its position and (a file-safe form of) its class."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in (label or "picture"))[:40] or "picture"
    return f"{position:03d}-{safe}.png"


def write_samples(folder: Path, images: np.ndarray, labels: np.ndarray | None, classes: list[str],
                  count: int) -> list[str]:
    """Test pictures as PNG files in folder/samples and their list in samples/index.json."""
    from PIL import Image

    samples = folder / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    names = []
    for position, row in enumerate(pick_samples(images, labels, count)):
        pixels = np.asarray(images[row])
        label = classes[int(labels[row])] if labels is not None and int(labels[row]) < len(classes) else None
        name = sample_name(position, label)
        picture = pixels[0] if pixels.shape[0] == 1 else np.ascontiguousarray(pixels.transpose(1, 2, 0))
        Image.fromarray(picture.astype(np.uint8)).save(samples / name)
        names.append(name)
    (samples / "index.json").write_text(json.dumps(names, indent=1) + "\n", encoding="utf-8")
    return names


def page_metadata(metadata: ModelMetadata) -> dict[str, object]:
    """model.json: what the page needs to prepare a picture and name the classes."""
    return {"model": metadata.model, "dataset": metadata.dataset, "classes": metadata.classes,
            "mean": metadata.mean, "std": metadata.std, "input_shape": metadata.input_shape,
            "framing": metadata.framing.to_dict(), "cnnstudio_version": metadata.cnnstudio_version,
            "onnxruntime_web": runtime_manifest().get("version"), "input": "input", "output": "logits"}


def write_web(folder: Path, onnx_file: Path, metadata: ModelMetadata, images: np.ndarray,
              labels: np.ndarray | None, samples: int = DEFAULT_SAMPLES) -> Path:
    """Write the page's folder into `folder` (created). The exporter gives it a temporary folder and moves
    the finished folder into place (destination.place_folder)."""
    check_runtime()
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx_file, folder / "model.onnx")
    (folder / "model.json").write_text(json.dumps(page_metadata(metadata), indent=1) + "\n", encoding="utf-8")
    for name in PAGE_FILES:
        shutil.copyfile(FILES / name, folder / name)
    runtime = folder / "ort"
    runtime.mkdir(exist_ok=True)
    for name in (*dict(runtime_manifest()["files"]).keys(), "LICENSE", "RUNTIME.json"):  # type: ignore[call-overload]
        shutil.copyfile(RUNTIME_DIR / name, runtime / name)
    write_samples(folder, images, labels, metadata.classes, samples)
    (folder / "README.md").write_text(_readme(metadata), encoding="utf-8")
    return folder


def _readme(metadata: ModelMetadata) -> str:
    c, h, w = metadata.input_shape
    classes = ", ".join(metadata.classes[:12]) + (" ..." if len(metadata.classes) > 12 else "")
    version = runtime_manifest().get("version")
    return f"""# {metadata.model}, trained on {metadata.dataset}: a web page

A page that classifies pictures into {len(metadata.classes)} classes ({classes}) in the browser, with no
network: the model, its runtime (onnxruntime-web {version}, WebAssembly) and CNN Studio's picture
preparation are all in this folder.

## Open it

Browsers do not run WebAssembly from a page opened as a file, so serve the folder:

    cd this-folder
    python -m http.server 8000

and open http://localhost:8000/ . Any static web host works too (copy the folder as it is). The camera
works on http://localhost and on https.

Draw with the mouse, a pen or a finger, open a picture or drop one on the square: the page shows the
top classes and the {w}x{h} {'grey' if c == 1 else 'colour'} picture the model sees, framed as the training
pictures were ({metadata.framing.description or 'its framing'}).

## Check it

http://localhost:8000/#selftest classifies the pictures in samples/ (listed in samples/index.json) and
writes the results into the page (`<pre id="selftest">`, in the shape of `cnnstudio predict --json`).

## Files

- `model.onnx`: the model (input `input`, float32 [N, {c}, {h}, {w}], normalised; output `logits`)
- `model.json`: classes in output order, mean and std, the framing, the input shape
- `prepare.js`: the preparation, the same steps as CNN Studio's Python (`cnnstudio/core/preparation.py`)
- `ort/`: onnxruntime-web (MIT licence, ort/LICENSE), its single-threaded SIMD WebAssembly build
- `model-card.md`, `report.json`: the deployment report (size, speed, accuracy, agreement with PyTorch)
"""
