"""A torch-free predictor bundle: model.onnx, labels, and a predict.py that needs onnxruntime, numpy, Pillow.

The bundle prepares images with the app's own code: the core's torch-free modules (PREPARATION_MODULES
below) are copied into the bundle's `cnnstudio_prep` package unchanged. Their
imports between each other are relative, so the same files work under either package name, and a fix
to the app's preparation reaches every bundle exported after it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.export.metadata import ModelMetadata
from cnnstudio.core.text import name_problem

CORE = Path(__file__).resolve().parent.parent
# The core modules the bundle's preparation needs, in dependency order, and text.py: predict.py shows
# file and class names as the app does (printable).
PREPARATION_MODULES = ("errors.py", "orientation.py", "framing.py", "image_modes.py", "cover.py", "preparation.py",
                       "text.py")
PACKAGE = "cnnstudio_prep"
# The bundle's predict.py: a script, not a module of this package (its folder has no __init__.py), since
# it imports the copied preparation modules under PACKAGE.
TEMPLATE = Path(__file__).resolve().parent / "bundle_files" / "predict.py"
REQUIREMENTS = "onnxruntime>=1.16\nnumpy>=1.24\npillow>=9.5\n"


def write_bundle(folder: Path, onnx_file: Path, metadata: ModelMetadata) -> Path:
    """Write the bundle's files into `folder` (created). The exporter gives it a temporary folder and moves
    the finished bundle into place (destination.place_folder), so a user's folder never holds half a bundle."""
    _check_labels(metadata.classes)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx_file, folder / "model.onnx")
    (folder / "labels.txt").write_text("\n".join(metadata.classes) + "\n", encoding="utf-8")
    package = folder / PACKAGE
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text(
        '"""Image preparation copied from CNN Studio\'s core (cnnstudio/core), unchanged."""\n', encoding="utf-8")
    for name in PREPARATION_MODULES:
        shutil.copyfile(CORE / name, package / name)
    shutil.copyfile(TEMPLATE, folder / "predict.py")
    (folder / "requirements.txt").write_text(REQUIREMENTS, encoding="utf-8")
    (folder / "README.md").write_text(_readme(metadata), encoding="utf-8")
    return folder


def _check_labels(classes: list[str]) -> None:
    """labels.txt is one class per line, read back with splitlines(): a name that would break a line (a
    checkpoint made elsewhere; folders with such names are refused at load) is refused before writing."""
    for name in classes:
        problem = name_problem(name)
        if problem:
            raise CNNStudioError(f"cannot write the predictor bundle: a class name cannot be written one per line "
                                 f"in labels.txt ({problem})")


def _readme(metadata: ModelMetadata) -> str:
    c, h, w = metadata.input_shape
    classes = ", ".join(metadata.classes[:12]) + (" ..." if len(metadata.classes) > 12 else "")
    return f"""# {metadata.model}, trained on {metadata.dataset} with CNN Studio {metadata.cnnstudio_version}

Classifies images into {len(metadata.classes)} classes: {classes}.
Needs only Python 3.9+, onnxruntime, numpy and Pillow (no PyTorch, no CNN Studio):

    pip install -r requirements.txt
    python predict.py photo.jpg drawing.png       # the top classes of each image
    python predict.py --top 5 --json folder/      # every image in a folder, as JSON

Images are prepared exactly as CNN Studio prepares them ({metadata.framing.description or 'its framing'}):
the code in `{PACKAGE}/` is CNN Studio's own. The model (`model.onnx`) takes float32 input named
`input` of shape [N, {c}, {h}, {w}], normalised with the `mean` and `std` in its metadata, and returns
`logits`; `labels.txt` lists the classes in output order.
"""
