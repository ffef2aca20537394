"""Writing a model as ONNX, with CNN Studio's metadata, and its INT8 version (static quantization).

The exporter is the one current PyTorch recommends, `torch.onnx.export(..., dynamo=True)` (torch.export
and onnxscript underneath). The input is named `input` (float32 NCHW, already normalised) with a dynamic
batch dimension, the output `logits`.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.export.metadata import ModelMetadata

if TYPE_CHECKING:  # torch and onnx are imported when an export runs
    import onnx
    from torch import nn

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
MISSING_HINT = ("ONNX export needs the packages onnx, onnxscript and onnxruntime: "
                "pip install onnx onnxscript onnxruntime")


def require_onnx() -> None:
    """A sentence, not an ImportError, when the export's packages are missing."""
    import importlib.util

    if any(importlib.util.find_spec(name) is None for name in ("onnx", "onnxruntime", "onnxscript")):
        raise CNNStudioError(MISSING_HINT)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters print progress lines and warnings meant for their own developers: keep them off the
    user's terminal (errors still raise)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def write_onnx(model: nn.Module, metadata: ModelMetadata, path: Path) -> None:
    """Export `model` (eval mode, CPU, fp32) to `path` with the metadata in metadata_props."""
    import onnx
    import torch

    require_onnx()
    example = torch.zeros(2, *metadata.input_shape)
    batch = torch.export.Dim("batch")
    try:
        with _quiet():
            torch.onnx.export(model, (example,), str(path), dynamo=True, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], dynamic_shapes=({0: batch},), verbose=False,
                              external_data=False)
    except Exception as exc:  # noqa: BLE001 - the exporter raises many kinds; the user needs one sentence
        _raise_os_error(exc)  # a full disk is not a graph the exporter could not capture
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        try:
            # The TorchScript-based exporter still handles graphs torch.export cannot capture; the
            # parity check that follows judges its result like any other.
            with _quiet():
                torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=[INPUT_NAME],
                                  output_names=[OUTPUT_NAME], dynamic_axes={INPUT_NAME: {0: "batch"},
                                                                             OUTPUT_NAME: {0: "batch"}},
                                  opset_version=17)
        except Exception as again:  # noqa: BLE001 - the fallback exporter's failure, in one sentence like the first
            _raise_os_error(again)
            raise CNNStudioError(f"ONNX export failed: {first}") from None
    proto = onnx.load(str(path))
    set_metadata(proto, metadata)
    proto.doc_string = f"{metadata.model} trained on {metadata.dataset} with CNN Studio {metadata.cnnstudio_version}"
    onnx.save(proto, str(path))


def _raise_os_error(exc: BaseException) -> None:
    """Re-raise the OSError (a full disk, a vanished folder) an exporter wrapped in its own exception, so
    the caller names it as what it is. Only errors of the file system, which carry an errno: inspect's
    OSError("could not get source code"), which torch.export meets in a frozen app (no .py files) before
    the fallback exporter succeeds, is no disk error and must not end the export."""
    seen = 0
    link: BaseException | None = exc
    while link is not None and seen < 20:
        if isinstance(link, OSError) and link.errno is not None:
            raise link
        link, seen = link.__cause__ or link.__context__, seen + 1


def set_metadata(proto: onnx.ModelProto, metadata: ModelMetadata) -> None:
    import onnx

    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, metadata.to_strings())


def read_metadata(path: Path) -> ModelMetadata:
    """The metadata of an exported ONNX file, read through onnxruntime (as the bundle reads it)."""
    session = session_for(path)
    return ModelMetadata.from_strings(dict(session.get_modelmeta().custom_metadata_map))


def session_for(path: Path) -> Any:  # an onnxruntime InferenceSession (onnxruntime has no type information)
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: ORT's warnings about unused initialisers are noise here
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(session: Any, inputs: np.ndarray, batch: int = 256) -> np.ndarray:
    """Logits for float32 (N, C, H, W) inputs, in batches."""
    outs = [session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(inputs[i:i + batch], np.float32)})[0]
            for i in range(0, len(inputs), batch)]
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol: normalised training images, a batch at a time."""

    def __init__(self, inputs: np.ndarray, batch: int = 32):
        self._batches = iter([inputs[i:i + batch] for i in range(0, len(inputs), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {INPUT_NAME: np.ascontiguousarray(batch, np.float32)}

    def rewind(self) -> None:  # pragma: no cover - only for calibrators that read twice
        pass


def quantize_int8(fp32_path: Path, out_path: Path, calibration: np.ndarray, metadata: ModelMetadata,
                  cancelled: Callable[[], bool] = lambda: False) -> None:
    """Static INT8 quantization (QDQ, per-channel int8 weights, uint8 activations) calibrated on
    `calibration` (normalised training images); metadata copied over."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = out_path.with_name(out_path.stem + ".prep.onnx")
    try:
        with _quiet():
            # Shape inference and graph folding first, as onnxruntime's quantization guide asks.
            quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
            if cancelled():
                return
            quantize_static(str(prepared), str(out_path), _Calibration(calibration),
                            quant_format=QuantFormat.QDQ, per_channel=True, weight_type=QuantType.QInt8,
                            activation_type=QuantType.QUInt8, calibrate_method=CalibrationMethod.MinMax)
    except Exception as exc:  # noqa: BLE001 - onnxruntime's quantizer raises many kinds; the user needs one sentence
        _raise_os_error(exc)
        text = str(exc).strip()
        raise CNNStudioError(f"INT8 quantization failed: {text.splitlines()[0][:300] if text else type(exc).__name__}"
                             ) from None
    finally:
        with contextlib.suppress(OSError):
            os.remove(prepared)
    proto = onnx.load(str(out_path))
    set_metadata(proto, metadata)
    onnx.save(proto, str(out_path))
