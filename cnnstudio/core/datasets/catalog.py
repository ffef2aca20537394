"""What CNN Studio knows about its registered datasets, and where their files are - without torch.

The app lists the datasets (with "ready" / "needs a 26 MB download") before torch has been imported,
because importing torch takes seconds. So everything the listing needs lives here as plain data:
class names, shapes, sizes, the file names that must be on disk, and the folders searched for them.
The download URLs and checksums are NOT copied here: they are read from torchvision's dataset
classes at download time (see download.py), so they stay whatever torchvision currently uses.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cnnstudio.core import paths
from cnnstudio.core.errors import DatasetError

# Base folders searched after the user's data folder, each holding <name>/... . The Debian package
# dataset-fashion-mnist installs /usr/share/datasets/fashion-mnist/*.gz, so that copy is used
# offline without asking. Tests (and unusual installs) override the list with this variable.
SYSTEM_DATASETS_ENV = "CNNSTUDIO_SYSTEM_DATASETS"
DEFAULT_SYSTEM_DATASET_DIRS = ("/usr/share/datasets",)

# The four files of an MNIST-style dataset, as torchvision and the original sites name them.
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_BATCH = "test_batch"


@dataclass(frozen=True)
class DatasetSpec:
    """Static facts about one registered dataset (internal; DatasetInfo is the public view)."""

    name: str
    title: str
    description: str
    kind: str  # "torchvision" | "builtin"
    classes: tuple[str, ...]
    input_shape: tuple[int, int, int]
    num_train: int
    num_test: int
    download_bytes: int | None  # approximate size of what is downloaded
    files: tuple[str, ...] = ()  # the downloaded file names, for "put these there by hand"
    file_sizes: tuple[int, ...] = ()  # their usual sizes: the progress total before a server says
    torchvision_class: str | None = None  # torchvision.datasets.<this> holds mirrors and md5s
    hflip_ok: bool = False


@dataclass
class DatasetInfo:
    """What the dataset list shows: torch-free and JSON-friendly."""

    name: str
    title: str
    description: str
    kind: str  # "torchvision" | "builtin" | "idx-folder" | "image-folder"
    classes: list[str]
    input_shape: tuple[int, int, int]  # (C, H, W)
    num_train: int
    num_test: int
    download_bytes: int | None = None
    available: bool = False  # usable offline right now
    location: str | None = None  # where the files are, or where they would be downloaded to

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        return data


_SPECS: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        name="mnist",
        title="MNIST",
        description="Handwritten digits 0-9: 28x28 grayscale, light on dark.",
        kind="torchvision",
        classes=tuple(str(i) for i in range(10)),
        input_shape=(1, 28, 28),
        num_train=60000,
        num_test=10000,
        download_bytes=11_594_722,
        files=tuple(f + ".gz" for f in IDX_FILES),
        file_sizes=(9_912_422, 28_881, 1_648_877, 4_542),
        torchvision_class="MNIST",
    ),
    DatasetSpec(
        name="fashion-mnist",
        title="Fashion-MNIST",
        description="Zalando clothing articles in 10 classes: 28x28 grayscale, light on dark.",
        kind="torchvision",
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        input_shape=(1, 28, 28),
        num_train=60000,
        num_test=10000,
        download_bytes=30_878_645,
        files=tuple(f + ".gz" for f in IDX_FILES),
        file_sizes=(26_421_880, 29_515, 4_422_102, 5_148),
        torchvision_class="FashionMNIST",
        hflip_ok=True,
    ),
    DatasetSpec(
        name="kmnist",
        title="Kuzushiji-MNIST",
        description="Ten cursive Japanese hiragana characters: 28x28 grayscale, light on dark.",
        kind="torchvision",
        classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        input_shape=(1, 28, 28),
        num_train=60000,
        num_test=10000,
        download_bytes=21_240_888,
        files=tuple(f + ".gz" for f in IDX_FILES),
        file_sizes=(18_165_135, 29_497, 3_041_136, 5_120),
        torchvision_class="KMNIST",
    ),
    DatasetSpec(
        name="cifar10",
        title="CIFAR-10",
        description="Small colour photos in 10 classes: 32x32 RGB.",
        kind="torchvision",
        classes=("airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"),
        input_shape=(3, 32, 32),
        num_train=50000,
        num_test=10000,
        download_bytes=170_498_071,
        files=(CIFAR10_ARCHIVE,),
        file_sizes=(170_498_071,),
        torchvision_class="CIFAR10",
        hflip_ok=True,
    ),
    DatasetSpec(
        name="shapes",
        title="Shapes",
        description="Built-in, generated offline: 8 kinds of light figures on dark, 28x28 grayscale.",
        kind="builtin",
        classes=("circle", "square", "triangle", "star", "cross", "pentagon", "heart", "arrow"),
        input_shape=(1, 28, 28),
        num_train=12000,
        num_test=2000,
        download_bytes=None,
    ),
)

SPECS: dict[str, DatasetSpec] = {spec.name: spec for spec in _SPECS}


def dataset_names() -> list[str]:
    return [spec.name for spec in _SPECS]


def get_spec(name: str) -> DatasetSpec:
    spec = SPECS.get(name.strip().lower())
    if spec is None:
        raise DatasetError(f"Unknown dataset {name!r}. Known datasets: {', '.join(dataset_names())} "
                           f"(or give the path of a folder of images or IDX files).")
    return spec


def system_dataset_dirs() -> list[Path]:
    """Read-only base folders holding <name>/ copies installed by the system's package manager."""
    value = os.environ.get(SYSTEM_DATASETS_ENV)
    if value is None:
        return [Path(p) for p in DEFAULT_SYSTEM_DATASET_DIRS]
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p.strip()]


def default_dir(name: str) -> Path:
    """The user's own folder for a dataset: where it is downloaded to."""
    return paths.datasets_dir() / name


def human_size(n_bytes: int | None) -> str:
    if n_bytes is None:
        return "unknown size"
    size = float(n_bytes)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n_bytes} bytes"  # unreachable; keeps type checkers calm


# --- finding files on disk -----------------------------------------------------------------------

def _canonical_idx_name(filename: str) -> str | None:
    """Map the spellings in the wild to one of IDX_FILES, or None.

    Accepts train-images-idx3-ubyte, train-images.idx3-ubyte (the names many unzip tools and
    mirrors produce) and either one with .gz, in any case.
    """
    name = filename.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    name = name.replace(".idx", "-idx")
    return name if name in IDX_FILES else None


def idx_files_present(folder: Path) -> dict[str, Path]:
    """Whichever of the four IDX files are in `folder`, keyed by canonical name.

    When a file exists both gzipped and plain, the plain one wins (no decompression needed).
    """
    try:
        entries = [p for p in folder.iterdir() if p.is_file()]
    except OSError:
        return {}
    found: dict[str, Path] = {}
    for path in sorted(entries):
        canonical = _canonical_idx_name(path.name)
        if canonical is None:
            continue
        if canonical not in found or found[canonical].name.lower().endswith(".gz"):
            found[canonical] = path
    return found


def find_idx_files(folder: Path) -> dict[str, Path] | None:
    """The four IDX files in `folder` keyed by canonical name, or None when any is missing."""
    found = idx_files_present(folder)
    if len(found) != len(IDX_FILES):
        return None
    return {name: found[name] for name in IDX_FILES}


def cifar_batches_dir(folder: Path) -> Path | None:
    """The folder holding all six CIFAR-10 batches: <folder>/cifar-10-batches-py or <folder>."""
    for candidate in (folder / CIFAR10_FOLDER, folder):
        names = (*CIFAR10_TRAIN_BATCHES, CIFAR10_TEST_BATCH)
        if all((candidate / n).is_file() for n in names):
            return candidate
    return None


def _is_complete(spec: DatasetSpec, folder: Path) -> bool:
    if spec.name == "cifar10":
        return cifar_batches_dir(folder) is not None
    return find_idx_files(folder) is not None


def candidate_dirs(spec: DatasetSpec, data_dir: Path | None = None) -> list[Path]:
    """Folders searched, in order: the given or user folder first, then the system folders."""
    first = Path(data_dir).expanduser() if data_dir is not None else default_dir(spec.name)
    return [first] + [base / spec.name for base in system_dataset_dirs()]


def locate(spec: DatasetSpec, data_dir: Path | None = None) -> Path | None:
    """The first folder holding a complete copy of a downloadable dataset, or None."""
    if spec.kind != "torchvision":
        return None
    for folder in candidate_dirs(spec, data_dir):
        if _is_complete(spec, folder):
            return folder
    return None


def has_cifar_archive(folder: Path) -> bool:
    """A downloaded (or hand-placed) CIFAR-10 archive that can be extracted without network."""
    return (folder / CIFAR10_ARCHIVE).is_file()


def info_for(spec: DatasetSpec, data_dir: Path | None = None) -> DatasetInfo:
    """The public view of a registered dataset, with availability checked on disk now."""
    available = True
    location: str | None = None
    if spec.kind == "torchvision":
        folder = locate(spec, data_dir)
        target = Path(data_dir).expanduser() if data_dir is not None else default_dir(spec.name)
        if folder is None and spec.name == "cifar10" and has_cifar_archive(target):
            folder = target  # extracted on first load, no network needed
        available = folder is not None
        location = str(folder if folder is not None else target)
    return DatasetInfo(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        kind=spec.kind,
        classes=list(spec.classes),
        input_shape=spec.input_shape,
        num_train=spec.num_train,
        num_test=spec.num_test,
        download_bytes=spec.download_bytes,
        available=available,
        location=location,
    )


def manual_instructions(spec: DatasetSpec, folder: Path) -> str:
    """How to get the files there by hand, for error messages."""
    if spec.name == "cifar10":
        return (f"put {CIFAR10_ARCHIVE} (or its extracted {CIFAR10_FOLDER}/ folder) into {folder}")
    return f"put the files {', '.join(spec.files)} into {folder}"
