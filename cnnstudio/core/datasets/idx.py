"""The IDX file format (MNIST and its many look-alikes), and folders of IDX files.

An IDX file is a big-endian header - two zero bytes, a type code (0x08 = unsigned byte), the number
of dimensions, then one uint32 per dimension - followed by the raw data. MNIST ships images as
0x00000803 (N x H x W) and labels as 0x00000801 (N). Files are often gzipped. Every defect is
reported with the file name, because the usual cause is a half-finished download the user must
delete or replace.
"""

from __future__ import annotations

import gzip
import io
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from cnnstudio.core.datasets.base import Dataset
from cnnstudio.core.datasets.budget import check_decode_budget
from cnnstudio.core.datasets.catalog import find_idx_files
from cnnstudio.core.errors import DatasetError
from cnnstudio.core.framing import FramingProfile, measure_framing

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


# The largest IDX file we read: 4 GiB of pixels is ~5 million 28x28 images, far beyond any IDX dataset,
# and still fits this machine's memory. A header promising more is damaged or hostile.
MAX_IDX_BYTES = 4 * 2**30
# Sides of one image: the largest input a checkpoint may describe (checkpoint.MAX_SIDE).
MAX_IDX_SIDE = 8192
# Deflate cannot compress better than about 1032:1, so a .gz of n bytes unpacks to at most this many.
_MAX_DEFLATE_RATIO = 1032


def _open(path: Path) -> tuple[io.BufferedIOBase, bool]:
    """The file opened for reading its (decompressed) bytes, and whether it is gzipped (by magic, not name)."""
    f = open(path, "rb")
    if f.read(2) == b"\x1f\x8b":
        f.close()
        return gzip.open(path, "rb"), True
    f.seek(0)
    return f, False


def read_idx(path: Path, expected_magic: int | None = None) -> np.ndarray:
    """Read one IDX file (plain or .gz) into a uint8 array of the shape its header gives.

    The header is read first and its sizes checked against MAX_IDX_BYTES and the file's real size, so
    a damaged or crafted header (2^31 x 2^31 images, a small .gz that unpacks to gigabytes) is refused
    before anything large is allocated or decompressed.
    """
    path = Path(path)
    try:
        file_size = path.stat().st_size
        f, gzipped = _open(path)
        with f:
            return _read_idx_stream(path, f, gzipped, file_size, expected_magic)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DatasetError(f"{path}: the gzip data is truncated or corrupt ({exc}). "
                           f"Delete the file and download or copy it again.") from exc
    except PermissionError as exc:
        raise DatasetError(f"{path}: cannot read the file (permission denied).") from exc
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc.strerror or exc}).") from exc


def _read_idx_stream(path: Path, f: io.BufferedIOBase, gzipped: bool, file_size: int,
                     expected_magic: int | None) -> np.ndarray:
    head = f.read(4)
    if len(head) < 4:
        raise DatasetError(f"{path}: the file is truncated ({len(head)} bytes, no IDX header).")
    magic = struct.unpack(">I", head)[0]
    if expected_magic is not None and magic != expected_magic:
        what = "images" if expected_magic == IMAGES_MAGIC else "labels"
        raise DatasetError(f"{path}: not an IDX {what} file (magic number 0x{magic:08x}, "
                           f"expected 0x{expected_magic:08x}).")
    if head[0] != 0 or head[1] != 0 or head[2] != 0x08:
        raise DatasetError(f"{path}: not an unsigned-byte IDX file (magic number 0x{magic:08x}).")
    ndim = head[3]
    if ndim < 1 or ndim > 4:
        raise DatasetError(f"{path}: unsupported IDX header ({ndim} dimensions).")
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DatasetError(f"{path}: the file is truncated (header cut off after {4 + len(dims)} bytes).")
    shape = struct.unpack(f">{ndim}I", dims)
    expected = math.prod(shape)  # a Python int: cannot overflow, unlike a numpy product
    described = "x".join(map(str, shape))
    if expected > MAX_IDX_BYTES:
        raise DatasetError(f"{path}: its header describes {described} = {expected:,} bytes of data, more than "
                           f"the {MAX_IDX_BYTES // 2**30} GiB an IDX file may hold here; the header is damaged.")
    if ndim == 3 and (shape[1] > MAX_IDX_SIDE or shape[2] > MAX_IDX_SIDE):
        raise DatasetError(f"{path}: its header describes images of {shape[1]}x{shape[2]} pixels; CNN Studio "
                           f"trains on images of at most {MAX_IDX_SIDE} pixels a side, so the header is damaged.")
    header_len = 4 + 4 * ndim
    if gzipped:
        if expected > _MAX_DEFLATE_RATIO * file_size:
            raise DatasetError(f"{path}: its header promises {described} = {expected:,} bytes, more than a "
                               f"{file_size:,}-byte .gz file can hold; the file is truncated or damaged.")
    else:
        actual = file_size - header_len
        if actual < expected:
            raise _truncated(path, described, expected, actual)
        if actual > expected:
            raise DatasetError(f"{path}: {actual - expected} unexpected bytes after the data its header "
                               f"describes ({described}); the file is damaged.")
    check_decode_budget(path, described, expected, itemsize=1)  # uint8: one byte per element
    data = f.read(expected)  # at most `expected` bytes are decompressed, whatever the .gz holds
    if len(data) < expected:
        raise _truncated(path, described, expected, len(data))
    extra = len(f.read(_EXTRA_PROBE)) if gzipped else 0
    if extra:
        more = f"{extra}" if extra < _EXTRA_PROBE else f"more than {_EXTRA_PROBE - 1:,}"
        raise DatasetError(f"{path}: {more} unexpected bytes after the data its header describes "
                           f"({described}); the file is damaged.")
    return np.frombuffer(data, dtype=np.uint8, count=expected).reshape(shape)


# After the data, a .gz is read this far to report trailing bytes without decompressing a bomb.
_EXTRA_PROBE = 1 << 20


def _truncated(path: Path, described: str, expected: int, actual: int) -> DatasetError:
    return DatasetError(f"{path}: the file is truncated: its header promises {described} = {expected} bytes "
                        f"of data but only {actual} are there. Delete it and download or copy it again.")


def read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, H, W) and labels (N,) from an images file and its labels file."""
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.ndim != 3:
        raise DatasetError(f"{images_path}: expected N x H x W images, header says {images.shape}.")
    if len(images) != len(labels):
        raise DatasetError(f"{images_path} holds {len(images)} images but {labels_path} holds "
                           f"{len(labels)} labels: the counts must match.")
    return images[:, None, :, :], labels


def load_idx_folder(
    folder: Path,
    *,
    name: str | None = None,
    title: str | None = None,
    classes: list[str] | None = None,
    framing: FramingProfile | None = None,
    hflip_ok: bool = False,
    hint: str = "",
) -> Dataset:
    """Load the four MNIST-style IDX files from `folder`.

    Registered datasets pass their class names and framing; a generic folder gets classes
    "0".."max label" and the MNIST framing when its images are 28x28. `hint` is appended to errors
    (e.g. how to download the dataset again).
    """
    from cnnstudio.core.datasets.assemble import make_dataset

    folder = Path(folder)
    files = find_idx_files(folder)
    if files is None:
        raise DatasetError(f"{folder} does not hold the four IDX files train-images-idx3-ubyte, "
                           f"train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte "
                           f"(each may be .gz).{hint}")
    try:
        train_x, train_y = read_idx_pair(files["train-images-idx3-ubyte"], files["train-labels-idx1-ubyte"])
        test_x, test_y = read_idx_pair(files["t10k-images-idx3-ubyte"], files["t10k-labels-idx1-ubyte"])
    except DatasetError as exc:
        raise DatasetError(f"{exc}{hint}") from exc

    if train_x.shape[1:] != test_x.shape[1:]:
        raise DatasetError(f"{folder}: training images are {train_x.shape[2]}x{train_x.shape[3]} but test "
                           f"images are {test_x.shape[2]}x{test_x.shape[3]}.{hint}")
    if len(train_x) == 0:
        raise DatasetError(f"{files['train-images-idx3-ubyte']}: holds no images.{hint}")

    if classes is None:
        top = int(max(train_y.max(initial=0), test_y.max(initial=0)))
        classes = [str(i) for i in range(top + 1)]
        if len(classes) < 2:
            raise DatasetError(f"{folder}: every label is 0, a classifier needs at least two classes.")
    for key, labels in (("train-labels-idx1-ubyte", train_y), ("t10k-labels-idx1-ubyte", test_y)):
        if len(labels) and int(labels.max()) >= len(classes):
            raise DatasetError(f"{files[key]}: label {int(labels.max())} is out of range: "
                               f"this dataset has {len(classes)} classes (0..{len(classes) - 1}).{hint}")

    _, _, h, w = train_x.shape
    if framing is None:
        # Measured from the images, not assumed to be MNIST's: a user's digits often fill less of the
        # frame, and drawings prepared for the model must match what it was trained on.
        framing = measure_framing(train_x)
    return make_dataset(
        name=name or folder.name,
        title=title or folder.name,
        classes=classes,
        train_images=train_x,
        train_labels=train_y.astype(np.int64),
        test_images=test_x,
        test_labels=test_y.astype(np.int64),
        framing=framing,
        source=str(folder),
        hflip_ok=hflip_ok,
    )
