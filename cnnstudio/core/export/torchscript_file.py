"""Writing a model as TorchScript: loadable with torch.jit.load where CNN Studio is not installed.

The model is traced (every preset is a plain feed-forward graph). The metadata travels in the archive's
extra files under the same keys as the ONNX metadata; read them back with
`torch.jit.load(path, _extra_files={"classes": "", ...})`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.export.metadata import KEYS, ModelMetadata
from cnnstudio.core.export.onnx_file import _quiet

if TYPE_CHECKING:  # torch is imported when an export runs
    import torch


def write_torchscript(model: torch.nn.Module, metadata: ModelMetadata, path: Path) -> None:
    import torch

    example = torch.zeros(2, *metadata.input_shape)
    try:
        # torch.jit is deprecated upstream in favour of torch.export, but it is still what a plain
        # `torch.jit.load` (C++ LibTorch, older Pythons) reads; the warnings are for PyTorch's developers.
        with _quiet(), torch.no_grad():
            traced = torch.jit.trace(model, example, check_trace=False)
            traced = torch.jit.freeze(traced) if not traced.training else traced
            # Saved to memory, then written by Python: torch's C++ file writer aborts the whole process
            # (SIGABRT, no exception) when the disk fills up under it; a Python write raises OSError.
            buffer = io.BytesIO()
            torch.jit.save(traced, buffer, _extra_files=metadata.to_strings())
        with open(path, "wb") as f:
            f.write(buffer.getbuffer())
    except OSError:
        raise  # a full disk or a vanished folder: the exporter names it
    except Exception as exc:  # noqa: BLE001 - torch.jit raises many kinds; the user needs one sentence
        text = str(exc).strip()
        raise CNNStudioError(f"TorchScript export failed: {text.splitlines()[0][:300] if text else type(exc).__name__}"
                             ) from None


def load_torchscript(path: Path) -> tuple[torch.jit.ScriptModule, ModelMetadata]:
    """(module, metadata) from a file write_torchscript wrote."""
    import torch

    extra = {key: "" for key in KEYS}
    with _quiet():
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    # torch.jit.load hands the extra files back as bytes.
    text = {k: v.decode("utf-8") if isinstance(v, bytes) else v for k, v in extra.items()}
    return module, ModelMetadata.from_strings({k: v for k, v in text.items() if v})
