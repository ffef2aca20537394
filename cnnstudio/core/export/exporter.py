"""`export_model`: a checkpoint written as ONNX (optionally INT8) or TorchScript, checked, and reported.

The one export path for the command line and the app. Every export ends with a parity check (the
exported file and the PyTorch model on the same test images); an fp32 export whose top-1 agreement is
below 100 % is reported as failed. Files are written under a temporary name and moved into place only
when complete, so a failed or cancelled export never replaces a good file with half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.export.metadata import ModelMetadata
from cnnstudio.core.export.parity import Parity, accuracy, compare, torch_logits
from cnnstudio.core.preparation import normalise

FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
PARITY_IMAGES = 300  # "a few hundred": enough to catch a wrong layer, quick for the largest preset
CALIBRATION_IMAGES = 512  # training images that set the INT8 ranges
INT8_EVAL_IMAGES = 10_000  # test images for the accuracy before and after INT8 (all of MNIST's)

Progress = Callable[[float, str], None]


class ExportCancelled(CNNStudioError):
    """The user cancelled the export; nothing was written."""


@dataclass
class Int8Report:
    images: int  # test images the accuracies were measured on
    fp32_accuracy: float
    int8_accuracy: float
    fp32_bytes: int
    int8_bytes: int
    agreement: float  # top-1 agreement between the INT8 and the fp32 model

    @property
    def drop(self) -> float:
        return self.fp32_accuracy - self.int8_accuracy


@dataclass
class ExportResult:
    ok: bool  # False: written but the parity check failed (the message says why)
    format: str
    path: str
    bytes: int
    parity: Parity
    message: str
    seconds: float
    int8: Int8Report | None = None
    bundle: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["parity"] = self.parity.to_dict()
        return out


@dataclass
class _Data:
    test_images: np.ndarray  # uint8 (N, C, H, W)
    test_labels: np.ndarray | None  # None with random images
    train_images: np.ndarray | None  # for INT8 calibration
    source: str  # how the parity images are described


def default_output(checkpoint_path: str | os.PathLike | None, fmt: str, int8: bool = False,
                   metadata: ModelMetadata | None = None) -> Path:
    """Beside the checkpoint: best.pt -> best.onnx, best.int8.onnx or best.torchscript.pt."""
    suffix = (".int8.onnx" if int8 else SUFFIXES[fmt])
    if checkpoint_path is None:
        return Path.cwd() / f"{(metadata.model if metadata else 'model')}{suffix}"
    path = Path(checkpoint_path)
    return path.with_name(path.stem + suffix)


def _load_data(checkpoint: dict[str, Any], dataset: Any, data_dir: Path | None, need_train: bool) -> _Data:
    """The checkpoint's test images (and some training images), or random images and why."""
    from cnnstudio.core.checkpoint import dataset_of, fit_problem
    from cnnstudio.core.datasets import load_dataset

    reason = ""
    given = dataset is not None  # named by the user: its classes may be numbered where the model names them
    if dataset is None:
        name = dataset_of(checkpoint)
        if name:
            try:
                # A folder is decoded at the side the model was trained at (a backbone's 224, say).
                dataset = load_dataset(name, data_dir=data_dir, image_size=int(checkpoint["input_shape"][1]))
            except CNNStudioError as exc:
                reason = str(exc)
        else:
            reason = "the checkpoint does not name its dataset"
    if dataset is not None:
        problem = fit_problem(checkpoint, dataset, same_names=not given)
        if problem is None:
            return _Data(dataset.test_images.numpy(), dataset.test_labels.numpy(),
                         dataset.train_images.numpy() if need_train else None,
                         f"test images of {getattr(dataset, 'title', '') or dataset.name}")
        reason = problem
    if need_train:
        raise CNNStudioError(f"INT8 export calibrates on the training images, and they are not available: {reason}")
    rng = np.random.default_rng(0)
    shape = tuple(int(v) for v in checkpoint["input_shape"])
    images = rng.integers(0, 256, (PARITY_IMAGES, *shape), dtype=np.uint8)
    return _Data(images, None, None, f"random images (the test images were not found: {reason})")


def _sample(images: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n images spread over the set (deterministic), all of them when there are fewer."""
    if len(images) <= n:
        return images
    return images[np.sort(np.random.default_rng(seed).choice(len(images), n, replace=False))]


def _replace(tmp: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)


def export_model(checkpoint: dict[str, Any] | str | os.PathLike, fmt: str = "onnx", out: str | os.PathLike | None = None,
                 *, int8: bool = False, bundle: str | os.PathLike | None = None, dataset: Any = None,
                 data_dir: str | os.PathLike | None = None, progress: Progress | None = None,
                 cancelled: Callable[[], bool] = lambda: False) -> ExportResult:
    """Export a checkpoint (a path or a loaded dict) and check the result. Raises CNNStudioError for what
    the user can fix (unknown format, INT8 without ONNX or without training data, unwritable folder)."""
    from cnnstudio.core.checkpoint import load_checkpoint, model_from_checkpoint, validate_checkpoint

    start = time.perf_counter()
    report = progress or (lambda fraction, text: None)

    def step(fraction: float, text: str) -> None:
        if cancelled():
            raise ExportCancelled("export cancelled; nothing was written")
        report(fraction, text)

    if fmt not in FORMATS:
        raise CNNStudioError(f"unknown export format {fmt!r}; choose {' or '.join(FORMATS)}")
    if int8 and fmt != "onnx":
        raise CNNStudioError("INT8 export is for ONNX only (--format onnx --int8)")
    if bundle is not None and fmt != "onnx":
        raise CNNStudioError("the predictor bundle runs an ONNX model: use --format onnx with --bundle")
    if fmt == "onnx":
        from cnnstudio.core.export.onnx_file import require_onnx

        require_onnx()
    step(0.0, "loading the checkpoint")
    if isinstance(checkpoint, dict):
        validate_checkpoint(checkpoint)
        ckpt, ckpt_path = checkpoint, None
    else:
        ckpt, ckpt_path = load_checkpoint(checkpoint), checkpoint
    metadata = ModelMetadata.of_checkpoint(ckpt)
    model = model_from_checkpoint(ckpt).float().cpu().eval()
    final = Path(out).expanduser() if out else default_output(ckpt_path, fmt, int8, metadata)
    if final.is_dir():
        final = final / default_output(ckpt_path or "model.pt", fmt, int8, metadata).name
    step(0.05, "loading test images")
    data = _load_data(ckpt, dataset, Path(data_dir) if data_dir else None, need_train=int8)
    parity_u8 = _sample(data.test_images, PARITY_IMAGES)
    parity_in = normalise(parity_u8, metadata.mean, metadata.std)
    notes: list[str] = []
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=final.parent))
    except OSError as exc:
        raise CNNStudioError(f"cannot write into {final.parent}: {exc.strerror or exc}") from None
    try:
        step(0.1, f"writing {fmt.upper() if fmt == 'onnx' else 'TorchScript'}")
        int8_report = None
        if fmt == "onnx":
            from cnnstudio.core.export.onnx_file import run_onnx, session_for, write_onnx

            fp32_file = work / "model.onnx"
            write_onnx(model, metadata, fp32_file)
            step(0.5, "checking the exported model against PyTorch")
            reference = torch_logits(model, parity_in)
            parity = compare(reference, run_onnx(session_for(fp32_file), parity_in), data.source)
            written = fp32_file
            if int8 and parity.perfect:
                int8_report, written = _int8(fp32_file, work, data, metadata, step, cancelled)
                notes.append(f"INT8: {int8_report.int8_accuracy:.2%} accuracy on {int8_report.images} test images "
                             f"(fp32 {int8_report.fp32_accuracy:.2%}); {_size(int8_report.int8_bytes)} "
                             f"(fp32 {_size(int8_report.fp32_bytes)})")
        else:
            from cnnstudio.core.export.torchscript_file import load_torchscript, write_torchscript

            written = work / "model.torchscript.pt"
            write_torchscript(model, metadata, written)
            step(0.5, "checking the exported model against PyTorch")
            loaded, _ = load_torchscript(written)
            parity = compare(torch_logits(model, parity_in), torch_logits(loaded, parity_in), data.source)
        ok = parity.perfect
        step(0.9, "saving")
        size = written.stat().st_size
        _replace(written, final)
        bundle_dir = None
        if bundle is not None and ok:
            from cnnstudio.core.export.bundle import write_bundle

            report(0.95, "writing the predictor bundle")  # past the point of cancelling: the model is in place
            bundle_dir = str(write_bundle(Path(bundle).expanduser(), final, metadata))
    except OSError as exc:
        raise CNNStudioError(f"cannot write {final}: {exc.strerror or exc}") from None
    finally:
        _remove_tree(work)
    if ok:
        message = f"exported {final} ({_size(size)}): {parity.text()}"
    else:
        message = (f"{final} was written but FAILED the parity check: {parity.text()}. "
                   "Do not use it; please report this model's spec.")
    report(1.0, "done")
    return ExportResult(ok=ok, format=fmt + ("-int8" if int8_report else ""), path=str(final), bytes=size,
                        parity=parity, message=message, seconds=round(time.perf_counter() - start, 2),
                        int8=int8_report, bundle=bundle_dir, notes=notes)


def _int8(fp32_file: Path, work: Path, data: _Data, metadata: ModelMetadata, step, cancelled) -> tuple[Int8Report, Path]:
    from cnnstudio.core.export.onnx_file import quantize_int8, run_onnx, session_for

    step(0.6, "calibrating INT8 on training images")
    calibration = normalise(_sample(data.train_images, CALIBRATION_IMAGES, seed=1), metadata.mean, metadata.std)
    int8_file = work / "model.int8.onnx"
    quantize_int8(fp32_file, int8_file, calibration, metadata, cancelled)
    step(0.75, "measuring accuracy before and after INT8")
    n = min(len(data.test_images), INT8_EVAL_IMAGES)
    pick = np.arange(len(data.test_images)) if n == len(data.test_images) else np.sort(
        np.random.default_rng(2).choice(len(data.test_images), n, replace=False))
    inputs = normalise(data.test_images[pick], metadata.mean, metadata.std)
    labels = data.test_labels[pick]
    fp32_logits = run_onnx(session_for(fp32_file), inputs)
    int8_logits = run_onnx(session_for(int8_file), inputs)
    return Int8Report(images=n, fp32_accuracy=accuracy(fp32_logits, labels), int8_accuracy=accuracy(int8_logits, labels),
                      fp32_bytes=fp32_file.stat().st_size, int8_bytes=int8_file.stat().st_size,
                      agreement=float((fp32_logits.argmax(1) == int8_logits.argmax(1)).mean())), int8_file


def _remove_tree(path: Path) -> None:
    import shutil

    with contextlib.suppress(OSError):
        shutil.rmtree(path)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"
