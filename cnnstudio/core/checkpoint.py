"""The one checkpoint format: a dict of plain values and tensors, written atomically, loaded safely.

A checkpoint describes itself (model spec, classes, input shape, normalisation, framing, training
config, metrics history) so evaluate, predict, the app and a resumed run need nothing else. It holds
only dicts, lists, strings, numbers and tensors, so torch.load(weights_only=True) can read it: that
loader refuses any pickle that would construct arbitrary objects, and so never runs code from a file.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from cnnstudio.core.errors import CheckpointError

FORMAT = "cnnstudio-checkpoint"
VERSION = 1


def save_checkpoint(data: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write to a temporary file beside `path`, fsync, then rename over it.

    A crash or kill at any moment leaves either the old file or the new one, never half of one.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, **data}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str = "cpu") -> dict[str, Any]:
    """Load a CNN Studio checkpoint, refusing anything else with a CheckpointError."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses globals it does not know: the file wanted to build arbitrary objects.
        raise CheckpointError(f"{path} was refused: it is not a plain CNN Studio checkpoint and could run "
                              f"code when loaded ({_refusal_reason(exc)})") from None
    except Exception as exc:  # truncated zip, garbage bytes, a text file: the unpickler fails in many ways
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt: "
                              f"{_first_line(exc)})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a CNN Studio checkpoint")
    if int(data.get("version", 0)) > VERSION:
        raise CheckpointError(f"{path} was written by a newer CNN Studio (format {data.get('version')}); "
                              "update CNN Studio to open it")
    for key in ("model_spec", "model_state", "classes", "input_shape", "mean", "std"):
        if key not in data:
            raise CheckpointError(f"{path} is missing '{key}'; it is not a complete CNN Studio checkpoint")
    return data


def _refusal_reason(exc: BaseException) -> str:
    """The one useful sentence of torch's long weights_only message: which global it refused."""
    for line in str(exc).splitlines():
        if "Unsupported global" in line or "Unsupported operand" in line:
            return line.split("error:", 1)[-1].strip().split(" was not an allowed")[0][:200]
    return "it asks to construct objects a checkpoint never needs"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def model_from_checkpoint(data: dict[str, Any]):
    """Rebuild the model from a loaded checkpoint with the one builder, weights loaded, in eval mode."""
    from cnnstudio.core.models.builder import build_model

    model = build_model(data["model_spec"], tuple(data["input_shape"]), len(data["classes"]))
    try:
        model.load_state_dict(data["model_state"])
    except RuntimeError as exc:
        raise CheckpointError(f"the checkpoint's weights do not fit its model spec: {_first_line(exc)}") from None
    model.eval()
    return model
