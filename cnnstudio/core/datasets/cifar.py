"""CIFAR-10 in its "python version" form: six pickled batches in cifar-10-batches-py/.

Unpickling runs code named by the file, so a batch file from anywhere but the official archive could
do anything the user can. The batches only ever contain dicts, lists, strings, ints and numpy
arrays, so the unpickler below resolves nothing but numpy's array-rebuilding functions and refuses
every other global - a booby-trapped file fails with a DatasetError before any of it runs.
"""

from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from cnnstudio.core.datasets.base import Dataset
from cnnstudio.core.datasets.budget import check_decode_budget
from cnnstudio.core.datasets.catalog import (CIFAR10_TEST_BATCH, CIFAR10_TRAIN_BATCHES, get_spec)
from cnnstudio.core.errors import DatasetError
from cnnstudio.core.framing import natural_profile


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """_codecs.encode, limited to latin-1: Python 3 writes bytes that way in protocol-2 pickles."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"codec {encoding!r} is not allowed")
    return text.encode("latin-1", errors)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The only globals a batch may name: numpy's array reconstruction, under old and new paths."""
    try:
        from numpy._core import multiarray as core_multiarray
        from numpy._core import numeric as core_numeric
    except ImportError:  # numpy < 2
        from numpy.core import multiarray as core_multiarray  # type: ignore[no-redef]  # the same module under numpy 1's name
        from numpy.core import numeric as core_numeric  # type: ignore[no-redef]  # the same module under numpy 1's name
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = core_multiarray._reconstruct
        allowed[(module, "scalar")] = core_multiarray.scalar  # a numpy scalar from dtype + bytes
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        # Protocol 5 pickles of arrays: np.frombuffer(bytes, dtype).reshape(shape). Harmless.
        allowed[(module, "_frombuffer")] = core_numeric._frombuffer  # type: ignore[attr-defined]  # private: not in numpy's stubs
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and plain containers, and nothing else."""

    _allowed: dict[tuple[str, str], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        if RestrictedUnpickler._allowed is None:
            RestrictedUnpickler._allowed = _numpy_globals()
        try:
            return RestrictedUnpickler._allowed[(module, name)]
        except KeyError:
            raise DatasetError(f"refusing to load {module}.{name}: a CIFAR batch may only contain numpy "
                               f"arrays and plain Python values") from None


def safe_load_pickle(data: bytes) -> Any:
    # latin1: the official batches were pickled by Python 2; latin1 maps its byte strings 1:1
    # (numpy's own advice for Python 2 array pickles).
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


def _key(batch: dict[str, Any], name: str) -> Any:
    # Python 2 pickles load with str keys, Python 3 ones (and encoding="bytes") with bytes keys.
    for key in (name, name.encode()):
        if key in batch:
            return batch[key]
    raise KeyError(name)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> images uint8 (N, 3, 32, 32) and labels int64 (N,)."""
    try:
        # The arrays a batch unpickles to are about as large as the file: checked before reading it.
        check_decode_budget(path, "a CIFAR-10 batch", path.stat().st_size)
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: the CIFAR-10 batch is missing.") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the CIFAR-10 batch ({exc.strerror or exc}).") from exc
    try:
        batch = safe_load_pickle(raw)
    except DatasetError as exc:
        raise DatasetError(f"{path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a damaged file
        reason = (str(exc).strip().splitlines() or [""])[0][:200]
        raise DatasetError(f"{path}: the CIFAR-10 batch is truncated or corrupt "
                           f"({type(exc).__name__}: {reason}).") from None
    if not isinstance(batch, dict):
        raise DatasetError(f"{path}: not a CIFAR-10 batch (holds a {type(batch).__name__}, not a dict).")
    try:
        data = _key(batch, "data")
        labels = _key(batch, "labels")
    except KeyError as exc:
        raise DatasetError(f"{path}: not a CIFAR-10 batch (no {exc.args[0]!r} entry).") from None
    # Arrays only: np.asarray of a list would walk it as a tree, and a pickle can share one list
    # 10^9 times in a few KB.
    if not isinstance(data, np.ndarray):
        raise DatasetError(f"{path}: expected uint8 data of shape (N, 3072), found a {type(data).__name__}.")
    if not (isinstance(labels, np.ndarray) or (isinstance(labels, list) and len(labels) <= len(data)
                                              and all(type(v) is int for v in labels))):
        raise DatasetError(f"{path}: the labels are not a flat list of integers, one per image.")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetError(f"{path}: expected uint8 data of shape (N, 3072), found {data.dtype} {data.shape}.")
    try:
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{path}: the labels are not integers ({exc}).") from None
    if len(labels) != len(data):
        raise DatasetError(f"{path}: holds {len(data)} images but {len(labels)} labels.")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DatasetError(f"{path}: labels must be 0..9, found {int(labels.min())}..{int(labels.max())}.")
    # Rows are 1024 red, then 1024 green, then 1024 blue values, each plane row-major: (3, 32, 32).
    return data.reshape(-1, 3, 32, 32), labels


def _label_names(folder: Path, default: list[str]) -> list[str]:
    """Class names from batches.meta when it is there and sensible, else the standard ones."""
    meta = folder / "batches.meta"
    if not meta.is_file():
        return default
    try:
        if meta.stat().st_size > 1 << 20:  # the real one is a few hundred bytes
            return default
        names = _key(safe_load_pickle(meta.read_bytes()), "label_names")
        if not isinstance(names, list) or len(names) != len(default) or not all(
                isinstance(n, (str, bytes)) and 0 < len(n) <= 200 for n in names):
            return default
        names = [n.decode("latin-1") if isinstance(n, bytes) else n for n in names]
    except Exception:  # noqa: BLE001 - the names are a nicety; the standard ones are the same
        return default
    return names if len(names) == len(default) else default


def load_cifar10(batches_dir: Path, hint: str = "") -> Dataset:
    """Load CIFAR-10 from a folder holding data_batch_1..5 and test_batch."""
    from cnnstudio.core.datasets.assemble import make_dataset

    spec = get_spec("cifar10")
    try:
        parts = [read_batch(batches_dir / name) for name in CIFAR10_TRAIN_BATCHES]
        test_x, test_y = read_batch(batches_dir / CIFAR10_TEST_BATCH)
    except DatasetError as exc:
        raise DatasetError(f"{exc}{hint}") from None
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    return make_dataset(
        name=spec.name,
        title=spec.title,
        classes=_label_names(batches_dir, list(spec.classes)),
        train_images=train_x,
        train_labels=train_y,
        test_images=test_x,
        test_labels=test_y,
        framing=natural_profile(32, 32, 3),
        source=str(batches_dir),
        hflip_ok=spec.hflip_ok,
    )
