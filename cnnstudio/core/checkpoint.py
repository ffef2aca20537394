"""The one checkpoint format: a dict of plain values and tensors, written atomically, loaded safely.

A checkpoint describes itself (model spec, classes, input shape, normalisation, framing, training
config, metrics history) so evaluate, predict, the app and a resumed run need nothing else. It holds
only dicts, lists, strings, numbers and tensors, so torch.load(weights_only=True) can read it: that
loader refuses any pickle that would construct arbitrary objects, and so never runs code from a file.
"""

from __future__ import annotations

import math
import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from collections.abc import Callable

from cnnstudio.core.bounded import fits, short_repr
from cnnstudio.core.errors import CheckpointError
from cnnstudio.core.framing import FramingProfile
from cnnstudio.core.torch_files import first_line, refusal_message, weight_dtypes, zip_unpack_problem

if TYPE_CHECKING:
    from torch import nn

FORMAT = "cnnstudio-checkpoint"
VERSION = 1


def save_checkpoint(data: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write to a temporary file beside `path`, fsync, then rename over it.

    A crash or kill at any moment leaves either the old file or the new one, never half of one.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, **data}
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise CheckpointError(describe_write_failure(path, exc)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        # torch reports a failed write from its C++ zip writer as a RuntimeError ("[enforce fail at
        # inline_container.cc] ... file write failed"): the usual cause is a full disk.
        if isinstance(exc, (OSError, RuntimeError)):
            raise CheckpointError(describe_write_failure(path, exc)) from None
        raise
    return path


def describe_write_failure(path: Path, exc: BaseException) -> str:
    """One sentence for a file that could not be written: a full disk named as such, the old file intact."""
    import errno
    import shutil

    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    previous = f"the previous {path.name} is intact" if path.exists() else f"no {path.name} was written"
    if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or (free is not None and free < 16 * 2**20):
        return f"disk full while saving {path}; {previous}. Free some space, then continue from last.pt."
    if isinstance(exc, PermissionError):
        return f"cannot save {path}: permission denied; {previous}"
    reason = getattr(exc, "strerror", None) or first_line(exc)
    return f"cannot save {path} ({reason}); {previous}"


def load_checkpoint(path: str | os.PathLike[str], map_location: str = "cpu") -> dict[str, Any]:
    """Load a CNN Studio checkpoint, refusing anything else with a CheckpointError.

    Every field is checked (validate_checkpoint) before anyone builds a model from it, so a crafted or
    foreign file ends in one sentence, never in a traceback or a giant allocation later.
    """
    import torch

    path = Path(path)
    try:
        if not path.is_file():
            raise CheckpointError(f"checkpoint not found: {path}")
        _check_archive(path)
        data: dict[str, Any] = torch.load(path, map_location=map_location, weights_only=True)  # checked below
    except CheckpointError:
        raise
    except pickle.UnpicklingError as exc:
        refused = refusal_message(path, exc, "CNN Studio checkpoint")
        if refused:
            # weights_only refuses globals it does not know: the file wanted to build arbitrary objects.
            raise CheckpointError(refused) from None
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt: {first_line(exc)})") from None
    except PermissionError:
        raise CheckpointError(f"cannot read {path}: permission denied") from None
    except MemoryError:
        raise CheckpointError(f"{path} is too large to load into memory") from None
    except Exception as exc:  # noqa: BLE001 - truncated zip, garbage bytes, a text file: unpickling fails many ways
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt: "
                              f"{first_line(exc)})") from None
    validate_checkpoint(data, path)
    return data


# -- what a checkpoint may hold ----------------------------------------------------------------------
# Generous for any network this app builds (the largest preset has ~10 M parameters), small enough that
# a crafted file cannot make us allocate tens of gigabytes before it is refused.
MAX_PARAMS = 500_000_000
MAX_ACTIVATION = 256_000_000  # elements of one layer's output for one image
MAX_SIDE = 8192
MAX_CHANNELS = 64
MAX_CLASSES = 100_000
# Plain values (config, meta) counted as the tree they print as: a real run's config is a few hundred.
MAX_PLAIN_NODES = 200_000
_POLARITIES = ("light-on-dark", "dark-on-light", "natural")
_FITS = ("box", "cover")
_CENTERINGS = ("mass", "box")


def _check_archive(path: Path) -> None:
    """Refuse a file that is not torch's zip format, or whose entries unpack to far more than it holds."""
    import zipfile

    if not zipfile.is_zipfile(path):
        # torch.save has written zip archives since PyTorch 1.6; anything else is damaged or foreign,
        # and the legacy format would let a header declare storage sizes we would allocate unchecked.
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt: not a complete "
                              "PyTorch zip archive)")
    problem = zip_unpack_problem(path)
    if problem:
        raise CheckpointError(f"{path} {problem}")


def _is_int(value: Any, low: int = 0, high: int = 2**62) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def validate_checkpoint(data: Any, path: str | os.PathLike[str] = "checkpoint") -> None:
    """Check every field a caller relies on: type, range, and sizes before anything is allocated.

    Raises CheckpointError naming the first problem. The one place that decides what a usable
    checkpoint is; load_checkpoint calls it, and so does anything handed a checkpoint dict.
    """
    import torch

    def bad(what: str) -> NoReturn:
        raise CheckpointError(f"{path} is not a usable CNN Studio checkpoint: {what}")

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a CNN Studio checkpoint")
    version = data.get("version", 0)
    if not _is_int(version):
        bad(f"its format version is {version!r}, not a whole number")
    if version > VERSION:
        raise CheckpointError(f"{path} was written by a newer CNN Studio (format {version}); "
                              "update CNN Studio to open it")
    for key in ("model_spec", "model_state", "classes", "input_shape", "mean", "std"):
        if key not in data:
            raise CheckpointError(f"{path} is missing '{key}'; it is not a complete CNN Studio checkpoint")

    classes = data["classes"]
    if (not isinstance(classes, list) or not 1 <= len(classes) <= MAX_CLASSES
            or not all(isinstance(c, str) for c in classes)):
        bad("'classes' must be a list of 1 to 100,000 class names")
    shape = data["input_shape"]
    if (not isinstance(shape, (list, tuple)) or len(shape) != 3 or not _is_int(shape[0], 1, MAX_CHANNELS)
            or not all(_is_int(v, 1, MAX_SIDE) for v in shape[1:])):
        bad(f"'input_shape' must be [channels, height, width] (1..{MAX_CHANNELS} channels, sides "
            f"1..{MAX_SIDE}), got {_short(shape)}")
    channels = shape[0]
    for key in ("mean", "std"):
        values = data[key]
        if (not isinstance(values, (list, tuple)) or len(values) != channels
                or not all(_is_number(v) for v in values)):
            bad(f"'{key}' must hold {channels} finite number(s), one per channel, got {_short(values)}")
    if not all(v > 0 for v in data["std"]):
        bad("'std' must be positive")
    _validate_framing(data.get("framing"), shape, bad)
    # The training configuration is optional for using a model (predicting, inspecting); resuming and
    # evaluating on "its" dataset need it and say so. When present it must be readable.
    config = data.get("config")
    if config is not None and (not isinstance(config, dict) or not isinstance(config.get("dataset", ""), str)):
        bad("its training configuration ('config') is damaged")
    if config is not None and not fits(config, MAX_PLAIN_NODES):
        bad("its training configuration ('config') is too large or holds something that is not plain data")
    for key in ("meta", "history"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            bad(f"'{key}' must be an object")
    if data.get("meta") is not None and not fits(data["meta"], MAX_PLAIN_NODES):
        bad("'meta' is too large or holds something that is not plain data")
    if data.get("history") is not None:
        # Checked value by value and rebuilt from its known keys: the trainer appends to it and writes it
        # as metrics.json, so a history of shared lists would otherwise grow without bound.
        from cnnstudio.core.runs import RunError, normalise_history

        try:
            data["history"] = normalise_history(data["history"], source="its history")
        except RunError as exc:
            bad(str(exc))
    for key in ("epoch", "batch_in_epoch", "global_step", "best_epoch", "bad_epochs"):
        if key in data and not _is_int(data[key]):
            bad(f"'{key}' must be a whole number >= 0, got {_short(data[key])}")
    for key in ("best_metric", "best_tiebreak"):
        if data.get(key) is not None and not _is_number(data[key]):
            bad(f"'{key}' must be a finite number, got {_short(data[key])}")

    state = data["model_state"]
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        bad("'model_state' must map parameter names to tensors")
    for name, tensor in state.items():
        # Sparse, quantized or float8 tensors: no model this app builds has them, and torch lacks the
        # operations (isfinite, load_state_dict's copy) the checks below and the builder need.
        if tensor.layout != torch.strided or tensor.dtype not in weight_dtypes():
            kind = "sparse" if tensor.layout != torch.strided else str(tensor.dtype).replace("torch.", "")
            bad(f"weight '{_short_name(name)}' is a {kind} tensor, which CNN Studio models never hold")
    if not fits(data["model_spec"], MAX_PLAIN_NODES):
        bad("its model spec is too large or holds something that is not plain data")
    _validate_spec_size(data["model_spec"], tuple(shape), len(classes), bad)
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{path} holds non-finite weights ('{name}' has NaN or infinite values): "
                                  "the training that wrote it diverged. Train again with a lower learning rate.")


def validate_resume_state(data: dict[str, Any], path: str | os.PathLike[str] = "checkpoint") -> None:
    """The fields only a resumed run reads (optimizer, scaler and RNG states, the partial epoch): types and
    sizes checked before training starts, so a damaged one is refused in one line with nothing written,
    not met half-way into setup as torch's internal error. Shapes against the model are checked where
    the optimizer is restored (trainer)."""
    import torch

    def bad(what: str) -> NoReturn:
        raise CheckpointError(f"cannot continue from {path}: its saved training state is damaged ({what})")

    partial = data.get("epoch_partial")
    if partial is not None:
        if not isinstance(partial, dict) or len(partial) > 8:
            bad("'epoch_partial' must be a small object")
        for key in ("loss_sum", "seconds"):
            if key in partial and not (_is_number(partial[key]) and partial[key] >= 0):
                bad(f"'epoch_partial.{key}' must be a finite number >= 0, got {_short(partial[key])}")
        for key in ("correct", "seen"):
            if key in partial and not _is_int(partial[key]):
                bad(f"'epoch_partial.{key}' must be a whole number >= 0, got {_short(partial[key])}")
    rng = data.get("rng")
    if rng is not None:
        if not isinstance(rng, dict):
            bad("'rng' must be an object")
        size = torch.get_rng_state().numel()
        for key in ("torch", "aug"):
            if key in rng and not _is_byte_tensor(rng[key], size, size):
                bad(f"'rng.{key}' must be a generator state of {size} bytes, got {_short(rng[key])}")
        cuda = rng.get("cuda")
        if cuda is not None and (not isinstance(cuda, (list, tuple)) or len(cuda) > 1024
                                 or not all(_is_byte_tensor(t, 1, 4096) for t in cuda)):
            bad(f"'rng.cuda' must be a list of generator states, got {_short(cuda)}")
    optimizer = data.get("optimizer_state")
    if optimizer is not None:
        if not isinstance(optimizer, dict) or set(optimizer) - {"state", "param_groups"}:
            bad("'optimizer_state' must hold 'state' and 'param_groups'")
        groups = optimizer.get("param_groups", [])
        if (not isinstance(groups, list) or not 1 <= len(groups) <= 1024
                or not all(isinstance(g, dict) and fits(g, 100_000) and _is_int_list(g.get("params")) for g in groups)):
            bad("'optimizer_state.param_groups' must be a list of plain groups of parameter numbers")
        state = optimizer.get("state", {})
        if not isinstance(state, dict) or len(state) > 1_000_000:
            bad("'optimizer_state.state' must map parameter numbers to their state")
        for key, entry in state.items():
            if not _is_int(key) or not isinstance(entry, dict) or len(entry) > 64 or not all(
                    isinstance(k, str) and (v is None or _is_number(v) or isinstance(v, torch.Tensor)
                                            and v.layout == torch.strided and v.dtype in weight_dtypes())
                    for k, v in entry.items()):
                bad(f"the state of parameter {_short(key)} is not a set of named tensors or numbers")
    scaler = data.get("scaler_state")
    if scaler is not None and (not isinstance(scaler, dict) or not fits(scaler, 1_000)):
        bad("'scaler_state' must be a small object of plain values")


def _is_byte_tensor(value: Any, low: int, high: int) -> bool:
    import torch

    return (isinstance(value, torch.Tensor) and value.layout == torch.strided and value.dtype == torch.uint8
            and value.dim() == 1 and low <= value.numel() <= high and value.device.type == "cpu")


def _is_int_list(value: Any) -> bool:
    return isinstance(value, list) and len(value) <= 1_000_000 and all(_is_int(v) for v in value)


def _validate_framing(framing: Any, shape: Any, bad: Callable[[str], NoReturn]) -> None:
    if framing is None:
        return
    if not isinstance(framing, dict) or not fits(framing, 1_000):
        bad("'framing' must be a small object")
    c, h, w = shape
    problems = []
    if framing.get("height", h) != h or framing.get("width", w) != w or framing.get("channels", c) != c:
        problems.append("its size differs from the input shape")
    if framing.get("polarity", "natural") not in _POLARITIES:
        problems.append(f"polarity {_short(framing.get('polarity'))}")
    if framing.get("fit", "cover") not in _FITS:
        problems.append(f"fit {_short(framing.get('fit'))}")
    if framing.get("centering", "box") not in _CENTERINGS:
        problems.append(f"centering {_short(framing.get('centering'))}")
    box = framing.get("box")
    if box is not None and not _is_int(box, 1, max(h, w)):
        problems.append(f"box {_short(box)}")
    if not isinstance(framing.get("description", ""), str):
        problems.append("description is not text")
    stroke = framing.get("stroke")
    if stroke is not None and not (_is_number(stroke) and 0 < stroke <= max(h, w)):
        problems.append(f"stroke {_short(stroke)}")
    if problems:
        bad(f"'framing' is damaged ({'; '.join(problems)})")


def _validate_spec_size(spec: Any, shape: tuple[int, ...], num_classes: int, bad: Callable[[str], NoReturn]) -> None:
    """The spec must be valid for the input, and its model small enough to build: no allocation yet."""
    from cnnstudio.core.models.spec import infer_shapes

    try:
        report = infer_shapes(spec, shape, num_classes)
    except (RecursionError, MemoryError, OverflowError):
        report = None
    if report is None or not report.ok:
        bad(f"its model spec is invalid ({report.error if report is not None else 'unreadable'})")
    if report.total_params > MAX_PARAMS:
        bad(f"its model would have {report.total_params:,} parameters (at most {MAX_PARAMS:,})")
    largest = max((math.prod(layer.out_shape) for layer in report.layers), default=0)
    if largest > MAX_ACTIVATION:
        bad(f"one of its layers would output {largest:,} values per image (at most {MAX_ACTIVATION:,})")


def _validate_state_fits(spec: Any, shape: tuple[int, ...], num_classes: int, state: dict[str, Any],
                         bad: Callable[[str], NoReturn]) -> None:
    """Every weight the spec's model needs is there with its shape. Built on the meta device: shapes only,
    no memory, so this costs microseconds whatever the model's size."""
    import torch

    from cnnstudio.core.models.builder import build_model

    with torch.device("meta"):
        needed = build_model(spec, shape, num_classes).state_dict()
    missing = [k for k in needed if k not in state]
    if missing:
        bad(f"its weights lack {len(missing)} of the model's tensors (e.g. '{missing[0]}')")
    unexpected = [k for k in state if k not in needed]
    if unexpected:
        bad(f"its weights hold {len(unexpected)} tensor(s) its model does not have (e.g. '{unexpected[0]}')")
    for key, tensor in needed.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            bad(f"weight '{key}' has shape {list(state[key].shape)} but the model needs {list(tensor.shape)}")


def _short(value: Any) -> str:
    # Never repr() of the whole: a 48 KB pickle of shared lists is 10^9 items to repr.
    return short_repr(value, 60)


def _short_name(name: str) -> str:
    return name if len(name) <= 80 else name[:77] + "..."


@dataclass(frozen=True)
class CheckpointSummary:
    """A loaded checkpoint as the pages, the CLI, inference and export read it, in one place (no .get() chains).

    It owns what a user of the model needs besides the weights: the classes, the input shape, how pixels
    are normalised (mean and std per channel) and how a picture is framed (a checkpoint older than the
    framing profile is framed as a plain square of its input shape).
    """

    model_name: str
    dataset_name: str | None  # the registered name or folder it was trained on (config["dataset"])
    dataset_title: str  # readable: "Shapes", "Fashion-MNIST", a folder's name
    classes: tuple[str, ...]
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]  # per channel, for pixels scaled to 0..1
    std: tuple[float, ...]
    framing: FramingProfile  # how a user's picture is framed like the training images
    data_dir: str | None = None

    @classmethod
    def of(cls, checkpoint: dict[str, Any]) -> CheckpointSummary:
        """From a checkpoint validate_checkpoint accepted."""
        config = _section(checkpoint, "config")
        meta_ds = _section(_section(checkpoint, "meta"), "dataset")
        spec = _section(checkpoint, "model_spec")
        dataset_name = config.get("dataset") if isinstance(config.get("dataset"), str) else None
        title = meta_ds.get("title") if isinstance(meta_ds.get("title"), str) else None
        title = title or dataset_name or "its dataset"
        if "/" in title or "\\" in title:
            title = Path(title).name
        model = spec.get("name") if isinstance(spec.get("name"), str) else None
        data_dir = config.get("data_dir") if isinstance(config.get("data_dir"), str) else None
        c, h, w = (int(v) for v in checkpoint["input_shape"])
        framing = (FramingProfile.from_dict(checkpoint["framing"]) if checkpoint.get("framing")
                   else FramingProfile(h, w, c))
        return cls(model_name=model or str(config.get("model") or "model"), dataset_name=dataset_name,
                   dataset_title=title, classes=tuple(checkpoint["classes"]), input_shape=(c, h, w),
                   data_dir=data_dir, mean=tuple(float(v) for v in checkpoint["mean"]),
                   std=tuple(float(v) for v in checkpoint["std"]), framing=framing)

    @property
    def shape_text(self) -> str:
        return "x".join(map(str, self.input_shape))


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    """data[key] when it is a dict, else an empty one (an old or foreign file may lack it)."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def dataset_of(checkpoint: dict[str, Any]) -> str | None:
    """What to load to get the data a checkpoint was trained on: a registered dataset by its name (its
    files' folder alone would lose the class names); a folder from where it was loaded when that still
    exists, else as the config gives it."""
    from cnnstudio.core.datasets.catalog import dataset_names

    source = _section(_section(checkpoint, "meta"), "dataset").get("source")
    dataset = _section(checkpoint, "config").get("dataset")
    saved = dataset if isinstance(dataset, str) and dataset else None
    if saved and saved.strip().lower() in dataset_names():
        return saved
    if isinstance(source, str) and source and Path(source).exists():
        return source
    return saved or (source if isinstance(source, str) and source else None)


def fit_problem(checkpoint: dict[str, Any], dataset: Any, *, same_names: bool = True) -> str | None:
    """The one "does this checkpoint fit this dataset" check: None when it does, else a sentence.

    Fitting means the same input shape and the same number of classes; with same_names (the default)
    also the same class names in the same order, so "class 3" means the same thing to both. Evaluating
    on a copy of the data whose classes are numbered instead of named passes same_names=False.
    """
    summary = CheckpointSummary.of(checkpoint)
    want = f"{summary.dataset_title} ({len(summary.classes)} classes, {summary.shape_text})"
    if dataset is None:
        return f"This model was trained on {want}, and no dataset is loaded."
    shape = tuple(int(v) for v in dataset.input_shape)
    classes = list(dataset.classes)
    have = (f"{getattr(dataset, 'title', None) or dataset.name} ({len(classes)} classes, "
            f"{'x'.join(map(str, shape))})")
    if shape != summary.input_shape or len(classes) != len(summary.classes):
        return f"This model was trained on {want}, but the dataset is {have}."
    if same_names and classes != list(summary.classes):
        return f"This model was trained on {want}, but the dataset {have} names its classes differently."
    return None


def model_from_checkpoint(data: dict[str, Any]) -> nn.Sequential:
    """Rebuild the model from a loaded checkpoint with the one builder, weights loaded, in eval mode."""
    from cnnstudio.core.models.builder import build_model

    shape, num_classes = tuple(data["input_shape"]), len(data["classes"])

    def bad(what: str) -> NoReturn:
        raise CheckpointError(f"the checkpoint's weights do not fit its model spec: {what}")

    _validate_state_fits(data["model_spec"], shape, num_classes, data["model_state"], bad)
    model = build_model(data["model_spec"], shape, num_classes)
    try:
        model.load_state_dict(data["model_state"])
    except RuntimeError as exc:
        raise CheckpointError(f"the checkpoint's weights do not fit its model spec: {first_line(exc)}") from None
    model.eval()
    return model
