"""`export_model`: a checkpoint written as ONNX (optionally INT8) or TorchScript, checked, and reported.

The one export path for the command line and the app. Every export ends with a parity check (the
written file itself, run through its own runtime, against the PyTorch model on the same test images);
an fp32 export whose top-1 agreement is below 100 %, or any file whose outputs hold NaN or inf, is
reported as failed and not written. Files are written into a temporary folder beside the output and
moved into place only when complete and checked, so a failed, cancelled or disk-full export never
replaces a good file with half a file or a bad one. Where the export may write at all is decided first
(destination.py): never over the checkpoint, never over a file CNN Studio did not export.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.export.destination import (Destination, ExportRefused, check_bundle_folder, check_name,
                                               check_output, check_web_folder, place, place_folder, shown)
from cnnstudio.core.export.metadata import ModelMetadata
from cnnstudio.core.export.parity import Parity, accuracy, compare, nonfinite_rows, torch_logits
from cnnstudio.core.export.report import (CARD_MARK, JSON_MARK, REPORT_IMAGES, DeploymentReport, Runner, measure,
                                          training_of)
from cnnstudio.core.preparation import normalise

FORMATS = ("onnx", "torchscript", "web")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "web": "-web"}  # web: a folder (core/export/web.py)
PARITY_IMAGES = 300  # "a few hundred": enough to catch a wrong layer, quick for the largest preset
CALIBRATION_IMAGES = 512  # training images that set the INT8 ranges
INT8_EVAL_IMAGES = 10_000  # test images for the accuracy before and after INT8 (all of MNIST's)
DISK_FULL_BYTES = 16 * 2**20  # a write that fails with less free space than this is reported as a full disk

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
    report: DeploymentReport | None = None  # the deployment report (core/export/report.py), when measured
    card: str | None = None  # where the model card was written

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["parity"] = self.parity.to_dict()
        out["report"] = self.report.to_dict() if self.report is not None else None
        return out


@dataclass
class _Data:
    test_images: np.ndarray  # uint8 (N, C, H, W)
    test_labels: np.ndarray | None  # None with random images
    train_images: np.ndarray | None  # for INT8 calibration
    source: str  # how the parity images are described


def default_output(checkpoint_path: str | os.PathLike[str] | None, fmt: str, int8: bool = False,
                   metadata: ModelMetadata | None = None) -> Path:
    """Beside the checkpoint: best.pt -> best.onnx, best.int8.onnx, best.torchscript.pt or the folder best-web."""
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


def export_model(checkpoint: dict[str, Any] | str | os.PathLike[str], fmt: str = "onnx",
                 out: str | os.PathLike[str] | None = None,
                 *, int8: bool = False, bundle: str | os.PathLike[str] | None = None, dataset: Any = None,
                 data_dir: str | os.PathLike[str] | None = None, progress: Progress | None = None,
                 cancelled: Callable[[], bool] = lambda: False, overwrite: bool = False,
                 source: str | os.PathLike[str] | None = None, samples: int | None = None,
                 report: bool = True) -> ExportResult:
    """Export a checkpoint (a path or a loaded dict) and check the result. Raises CNNStudioError for what
    the user can fix (unknown format, INT8 without ONNX or without training data, unwritable folder, an
    --out that would replace a file CNN Studio did not export: see destination.py).

    `source` names the file a loaded dict came from, so that it is never overwritten either; `overwrite`
    lets an existing file (never the checkpoint) or a non-empty bundle folder be replaced.

    fmt "web": `out` names a folder (a new or empty one, or an earlier web export) that receives the page
    (core/export/web.py) with the checked ONNX model and `samples` test pictures.

    `report`: measure the deployment report (core/export/report.py) and write it beside the export as a
    model card and JSON (inside a web page's folder; beside a file as NAME.model-card.md and NAME.report.json)."""
    from cnnstudio.core.checkpoint import load_checkpoint, model_from_checkpoint, validate_checkpoint

    start = time.perf_counter()
    say = progress or (lambda fraction, text: None)

    def step(fraction: float, text: str) -> None:
        if cancelled():
            raise ExportCancelled("export cancelled; nothing was written")
        say(fraction, text)

    if fmt not in FORMATS:
        raise CNNStudioError(f"unknown export format {fmt!r}; choose {' or '.join(FORMATS)}")
    if int8 and fmt != "onnx":
        raise CNNStudioError("INT8 export is for ONNX only (--format onnx --int8)")
    if bundle is not None and fmt != "onnx":
        raise CNNStudioError("the predictor bundle runs an ONNX model: use --format onnx with --bundle")
    if samples is not None and fmt != "web":
        raise CNNStudioError("--samples is for the web page (--format web)")
    if fmt == "web":
        from cnnstudio.core.export.web import DEFAULT_SAMPLES, check_runtime

        check_runtime()
        samples = DEFAULT_SAMPLES if samples is None else samples
        if samples < 1:
            raise CNNStudioError("--samples must be at least 1")
    if fmt in ("onnx", "web"):
        from cnnstudio.core.export.onnx_file import require_onnx

        require_onnx()
    step(0.0, "loading the checkpoint")
    if isinstance(checkpoint, dict):
        validate_checkpoint(checkpoint)
        ckpt, ckpt_path = checkpoint, None
    else:
        ckpt, ckpt_path = load_checkpoint(checkpoint), checkpoint
        source = source or checkpoint
    metadata = ModelMetadata.of_checkpoint(ckpt)
    final = Path(out).expanduser() if out else default_output(ckpt_path, fmt, int8, metadata)
    check_name(final)  # before the name is looked up: a name too long for the file system fails even that
    # "new/" names a folder (created), as it does for cp; without the slash, "new" is the file's name.
    if fmt != "web" and (final.is_dir() or str(out or "").endswith(("/", os.sep))):
        final = final / default_output(ckpt_path or "model.pt", fmt, int8, metadata).name
    # Every refusal about where to write comes before the slow part (test images, export, INT8).
    if fmt == "web":
        web_replaces = check_web_folder(final, source, overwrite)
        target = Destination(final, replaces=web_replaces)
    else:
        target = check_output(final, source, overwrite)
    bundle_dir = Path(bundle).expanduser() if bundle is not None else None
    if bundle_dir is not None and os.path.abspath(bundle_dir) == os.path.abspath(final):
        raise ExportRefused(f"--bundle and --out both name {shown(final)}; give the bundle a folder of its own")
    bundle_replaces = check_bundle_folder(bundle_dir, overwrite) if bundle_dir is not None else False
    cards = [] if not report or fmt == "web" else [check_card(path, overwrite) for path in card_paths(final)]
    model = model_from_checkpoint(ckpt).float().cpu().eval()
    step(0.05, "loading test images")
    data = _load_data(ckpt, dataset, Path(data_dir) if data_dir else None, need_train=int8)
    parity_u8 = _sample(data.test_images, PARITY_IMAGES)
    parity_in = normalise(parity_u8, metadata.mean, metadata.std)
    # The model's own outputs first: a checkpoint whose normalisation (a zero std, say) or weights give
    # NaN has nothing true to export, and a NaN difference would compare as "within tolerance".
    reference = torch_logits(model, parity_in)
    bad = nonfinite_rows(reference)
    if bad:
        raise CNNStudioError(f"the model gives NaN or infinite outputs for {bad} of {len(reference)} {data.source} "
                             f"(its normalisation: mean {_numbers(metadata.mean)}, std {_numbers(metadata.std)}); "
                             "nothing was exported")
    notes: list[str] = []
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        # The work folder sits beside the output, so the checked file reaches its name by a rename on the
        # same file system; it is removed whatever happens.
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=final.parent))
    except OSError as exc:
        raise CNNStudioError(_write_failure(final, exc, f"cannot write into {shown(final.parent)}")) from None
    bundle_work: Path | None = None
    try:
        step(0.1, f"writing {'TorchScript' if fmt == 'torchscript' else 'ONNX'}")
        int8_report = None
        web_work: Path | None = None
        if fmt in ("onnx", "web"):
            from cnnstudio.core.export.onnx_file import run_onnx, session_for, write_onnx

            fp32_file = work / "model.onnx"
            write_onnx(model, metadata, fp32_file)
            step(0.5, "checking the exported model against PyTorch")
            parity = compare(reference, run_onnx(session_for(fp32_file), parity_in), data.source)
            written = fp32_file
            if int8 and parity.perfect:
                fp32_parity = parity
                int8_report, written = _int8(fp32_file, work, data, metadata, step, cancelled)
                # The figures reported are the INT8 file's own, run through onnxruntime on the same images.
                parity = compare(reference, run_onnx(session_for(written), parity_in), data.source)
                notes.append(f"INT8: {int8_report.int8_accuracy:.2%} accuracy on {int8_report.images} test images "
                             f"(fp32 {int8_report.fp32_accuracy:.2%}); {_size(int8_report.int8_bytes)} "
                             f"(fp32 {_size(int8_report.fp32_bytes)})")
                notes.append(f"the fp32 graph before quantization: {fp32_parity.text()}")
        else:
            from cnnstudio.core.export.torchscript_file import load_torchscript, write_torchscript

            written = work / "model.torchscript.pt"
            write_torchscript(model, metadata, written)
            step(0.5, "checking the exported model against PyTorch")
            loaded, _ = load_torchscript(written)
            parity = compare(reference, torch_logits(loaded, parity_in), data.source)
        # An fp32 file must agree everywhere; an INT8 file approximates by design, so its agreement is
        # reported as measured, and it fails only on outputs that are not numbers (or when the fp32 graph
        # it was made from did not agree).
        ok = parity.perfect if int8_report is None else (parity.images > 0 and parity.nonfinite == 0)
        size = written.stat().st_size
        if ok and bundle_dir is not None:
            from cnnstudio.core.export.bundle import write_bundle

            step(0.9, "writing the predictor bundle")
            bundle_dir.parent.mkdir(parents=True, exist_ok=True)
            bundle_work = Path(tempfile.mkdtemp(prefix=".bundle-", dir=bundle_dir.parent))
            write_bundle(bundle_work, written, metadata)
            if _digest(bundle_work / "model.onnx") != _digest(written):
                raise CNNStudioError("the predictor bundle's model.onnx does not match the checked model; "
                                     "nothing was written")
        deployment = None
        if ok and report:
            step(0.8, "measuring size, speed and accuracy of each format")
            deployment = _deployment_report(model, ckpt, metadata, data, fmt, work, written, final, int8_report)
        if ok and fmt == "web":
            from cnnstudio.core.export.web import write_web

            step(0.9, "writing the web page")
            web_work = work / "web"
            write_web(web_work, written, metadata, data.test_images, data.test_labels, samples or 1)
            if deployment is not None:
                _write_report(deployment, web_work / "model-card.md", web_work / "report.json")
            size = _tree_size(web_work)
        elif deployment is not None:
            _write_report(deployment, work / "card.md", work / "report.json")
        step(0.95, "saving")
        if ok and web_work is not None:
            place_folder(web_work, final, target.replaces)
        elif ok:
            # Past the point of cancelling: the checked file is moved into place, then the bundle.
            place(written, target.path, target.replaces)
            if deployment is not None:
                for made, destination in zip((work / "card.md", work / "report.json"), cards):
                    place(made, destination.path, destination.replaces)
            if bundle_work is not None and bundle_dir is not None:
                place_folder(bundle_work, bundle_dir, bundle_replaces)
    except OSError as exc:
        raise CNNStudioError(_write_failure(final, exc, f"cannot write {shown(final)}")) from None
    except CNNStudioError as exc:
        # The writers report their own failures (torch's zip writer says "file write failed" when the
        # disk fills up); name a full disk as such.
        if not isinstance(exc, ExportCancelled) and _disk_full(final.parent):
            raise CNNStudioError(_write_failure(final, exc, "")) from None
        raise
    finally:
        _remove_tree(work)
        if bundle_work is not None:
            _remove_tree(bundle_work)
    if ok:
        message = f"exported {shown(final)} ({_size(size)}): {parity.text()}"
    else:
        message = (f"the export FAILED the parity check: {parity.text()}. Nothing was written to {shown(final)}; "
                   "please report this model's spec.")
    say(1.0, "done")
    return ExportResult(ok=ok, format=fmt + ("-int8" if int8_report else ""), path=str(final), bytes=size if ok else 0,
                        parity=parity, message=message, seconds=round(time.perf_counter() - start, 2),
                        int8=int8_report, bundle=str(bundle_dir) if ok and bundle_dir is not None else None,
                        notes=notes, report=deployment if ok else None,
                        card=(str(final / "model-card.md") if fmt == "web" else str(cards[0].path))
                        if ok and deployment is not None else None)


def card_paths(final: Path) -> tuple[Path, Path]:
    """Where a file export's model card and report JSON go: best.onnx -> best.model-card.md, best.report.json."""
    name = final.name
    for suffix in (".int8.onnx", ".torchscript.pt", ".onnx", ".pt"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)] + (".int8" if suffix == ".int8.onnx" else ".torchscript"
                                           if suffix == ".torchscript.pt" else "")
            break
    return final.with_name(name + ".model-card.md"), final.with_name(name + ".report.json")


def check_card(path: Path, overwrite: bool) -> Destination:
    """A model card or report may replace only an earlier one of CNN Studio's (or anything with overwrite)."""
    check_name(path)
    if not os.path.lexists(path):
        return Destination(path, replaces=False)
    if not path.is_file():
        raise ExportRefused(f"{shown(path)} exists and is not a regular file; the model card cannot be written there")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(200)
    except OSError:
        head = ""
    if overwrite or head.startswith(CARD_MARK) or f'"{JSON_MARK}"' in head:
        return Destination(path, replaces=True)
    raise ExportRefused(f"{shown(path)} already exists and is not a model card CNN Studio wrote; move it, or add "
                        "--overwrite to replace it")


def _deployment_report(model: Any, ckpt: dict[str, Any], metadata: ModelMetadata, data: _Data, fmt: str, work: Path,
                       written: Path, final: Path, int8_report: Int8Report | None) -> DeploymentReport:
    """PyTorch and each file this export wrote, measured on the same test images (core/export/report.py)."""
    import torch

    runners = [Runner("pytorch", "PyTorch", f"PyTorch {torch.__version__.split('+')[0]}",
                      lambda x: torch_logits(model, x))]
    if fmt in ("onnx", "web"):
        import onnxruntime

        from cnnstudio.core.export.onnx_file import run_onnx, session_for

        ort = f"onnxruntime {onnxruntime.__version__} (CPU)"
        fp32 = work / "model.onnx"
        fp32_session = session_for(fp32)
        if fmt == "web":
            from cnnstudio.core.export.web import runtime_manifest

            runners.append(Runner("web", "Web page (model.onnx)", ort, lambda x: run_onnx(fp32_session, x),
                                  "model.onnx", fp32.stat().st_size, "the page runs this file in onnxruntime-web "
                                  f"{runtime_manifest().get('version')} (WebAssembly); measured here with onnxruntime"))
        elif int8_report is None:
            runners.append(Runner("onnx", "ONNX fp32", ort, lambda x: run_onnx(fp32_session, x), final.name,
                                  fp32.stat().st_size))
        else:
            int8_session = session_for(written)
            runners.append(Runner("onnx", "ONNX fp32", ort, lambda x: run_onnx(fp32_session, x), None,
                                  fp32.stat().st_size, "the fp32 graph the INT8 file was made from (not written)"))
            runners.append(Runner("onnx-int8", "ONNX INT8", ort, lambda x: run_onnx(int8_session, x), final.name,
                                  written.stat().st_size))
    else:
        from cnnstudio.core.export.torchscript_file import load_torchscript

        loaded, _ = load_torchscript(written)
        runners.append(Runner("torchscript", "TorchScript", f"torch.jit {torch.__version__.split('+')[0]}",
                              lambda x: torch_logits(loaded, x), final.name, written.stat().st_size))
    images = _sample(data.test_images, REPORT_IMAGES, seed=3)
    labels = None
    if data.test_labels is not None:
        labels = data.test_labels if len(images) == len(data.test_images) else data.test_labels[
            np.sort(np.random.default_rng(3).choice(len(data.test_images), REPORT_IMAGES, replace=False))]
    return measure(model, metadata, runners, normalise(images, metadata.mean, metadata.std), labels, data.source,
                   training_of(ckpt))


def _write_report(deployment: DeploymentReport, card: Path, json_path: Path) -> None:
    import json

    card.write_text(deployment.card(), encoding="utf-8")
    json_path.write_text(json.dumps(deployment.to_dict(), indent=1) + "\n", encoding="utf-8")


def _tree_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _disk_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < DISK_FULL_BYTES
    except OSError:
        return False


def _write_failure(final: Path, exc: BaseException, prefix: str) -> str:
    """One sentence: a full disk named as such, and what is left of the user's files."""
    previous = f"the previous {shown(final.name)} is intact" if os.path.lexists(final) else "nothing was written"
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT) or (code is None and _disk_full(final.parent)):
        return f"disk full while exporting {shown(final)}; {previous}. Free some space and export again."
    text = str(exc).strip()
    reason = getattr(exc, "strerror", None) or (text.splitlines()[0][:300] if text else type(exc).__name__)
    return f"{prefix}: {reason}; {previous}" if prefix else f"{reason}; {previous}"


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _numbers(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values[:4]) + (", ..." if len(values) > 4 else "") + "]"


def _int8(fp32_file: Path, work: Path, data: _Data, metadata: ModelMetadata, step: Progress,
          cancelled: Callable[[], bool]) -> tuple[Int8Report, Path]:
    from cnnstudio.core.export.onnx_file import quantize_int8, run_onnx, session_for

    if data.train_images is None or data.test_labels is None:  # _parity_data refused INT8 without them already
        raise CNNStudioError("INT8 quantization needs the dataset's training images and test labels")
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
    return Int8Report(images=n, fp32_accuracy=accuracy(fp32_logits, labels),
                      int8_accuracy=accuracy(int8_logits, labels),
                      fp32_bytes=fp32_file.stat().st_size, int8_bytes=int8_file.stat().st_size,
                      agreement=float((fp32_logits.argmax(1) == int8_logits.argmax(1)).mean())), int8_file


def _remove_tree(path: Path) -> None:
    with contextlib.suppress(OSError):
        shutil.rmtree(path)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"
