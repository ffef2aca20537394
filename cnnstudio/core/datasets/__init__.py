"""Datasets: the registry of named datasets, and loading of user folders.

    list_datasets(data_dir=None) -> list[DatasetInfo]          torch-free: safe before torch loads
    dataset_info(name, data_dir=None) -> DatasetInfo
    load_dataset(name_or_path, data_dir=None, download=False, progress=None, cancel=None) -> Dataset
    download_dataset(name, data_dir=None, progress=None, cancel=None) -> Path

Registered names: mnist, fashion-mnist, kmnist, cifar10 (downloaded through torchvision's mirrors
into the user's data folder, or found in a system folder such as /usr/share/datasets) and shapes
(built in, generated offline). Anything else is a path: a folder holding the four MNIST IDX files
is an IDX dataset, any other folder an image folder with one subfolder per class.

`data_dir` means one dataset's own folder for the single-dataset functions (default
paths.datasets_dir() / name) and the base folder holding <name>/ for list_datasets (default
paths.datasets_dir()).

This module imports neither torch nor torchvision; loaders import torch when they run, and
torchvision is imported only when a download starts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cnnstudio.core.datasets.base import Dataset, LoadReport, SkippedFile
from cnnstudio.core.datasets.catalog import (SYSTEM_DATASETS_ENV, DatasetInfo, DatasetSpec,
                                             cifar_batches_dir, dataset_names, default_dir,
                                             find_idx_files, get_spec, has_cifar_archive,
                                             human_size, info_for, locate, manual_instructions,
                                             system_dataset_dirs)
from cnnstudio.core.errors import DatasetError, DownloadCancelled
from cnnstudio.core.framing import FramingProfile, mnist_profile

__all__ = [
    "Dataset", "DatasetInfo", "DatasetError", "DownloadCancelled", "LoadReport", "SkippedFile",
    "SYSTEM_DATASETS_ENV", "dataset_info", "dataset_names", "download_dataset", "info_from_dataset",
    "list_datasets", "load_dataset", "system_dataset_dirs",
]

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]


def list_datasets(data_dir: Path | None = None) -> list[DatasetInfo]:
    """Every registered dataset, with whether it is usable offline right now and where it is.

    data_dir: the base folder holding one <name>/ folder per dataset (default paths.datasets_dir()).
    """
    return [info_for(get_spec(name), Path(data_dir) / name if data_dir is not None else None)
            for name in dataset_names()]


def dataset_info(name: str, data_dir: Path | None = None) -> DatasetInfo:
    """One registered dataset's info; data_dir is that dataset's own folder."""
    return info_for(get_spec(name), data_dir)


def info_from_dataset(dataset: Dataset) -> DatasetInfo:
    """The DatasetInfo of something already loaded - the way to describe a user's folder."""
    # Registered datasets keep their title ("MNIST"); a folder named mnist/ is titled "mnist".
    spec = get_spec(dataset.name) if dataset.name in dataset_names() else None
    if spec is not None and dataset.title.startswith(spec.title):
        kind = spec.kind
    elif dataset.source and find_idx_files(Path(dataset.source)) is not None:
        kind = "idx-folder"
    else:
        kind = "image-folder"
    report = f" ({dataset.report.summary()})" if dataset.report is not None else ""
    return DatasetInfo(
        name=dataset.name,
        title=dataset.title,
        description=f"{dataset.num_classes} classes from {dataset.source}{report}",
        kind=kind,
        classes=list(dataset.classes),
        input_shape=dataset.input_shape,
        num_train=int(len(dataset.train_images)),
        num_test=int(len(dataset.test_images)),
        download_bytes=None,
        available=True,
        location=dataset.source or None,
    )


def _target_dir(spec: DatasetSpec, data_dir: Path | None) -> Path:
    return Path(data_dir).expanduser() if data_dir is not None else default_dir(spec.name)


def download_dataset(name: str, data_dir: Path | None = None, progress: Progress | None = None,
                     cancel: Cancel | None = None) -> Path:
    """Make a registered dataset available offline; returns the folder holding it.

    Nothing is fetched when a complete copy is already in data_dir (default: the user's folder) or
    in a system folder. progress(done_bytes, total_bytes) is called as bytes arrive; cancel() is
    polled for every chunk and, when it returns True, DownloadCancelled is raised and the partial
    file removed. Every other failure is a DatasetError saying where to put the files by hand.
    """
    spec = get_spec(name)
    if spec.kind == "builtin":
        from cnnstudio.core.datasets.shapes import _cache_file, shapes_arrays

        shapes_arrays()  # "download" = generate and cache now, so the first load is instant
        return _cache_file(0, spec.num_train, spec.num_test).parent
    existing = locate(spec, data_dir)
    if existing is not None:
        return existing
    from cnnstudio.core.datasets.download import download

    return download(spec, _target_dir(spec, data_dir), progress=progress, cancel=cancel)


def _needs_download_error(spec: DatasetSpec, target: Path) -> DatasetError:
    searched = [str(target)] + [str(base / spec.name) for base in system_dataset_dirs()]
    return DatasetError(
        f"{spec.title} is not on this computer yet: it needs a download of about "
        f"{human_size(spec.download_bytes)}. Download it with `cnnstudio datasets --download {spec.name}` "
        f"(or the Download button), or {manual_instructions(spec, target)}. "
        f"Searched: {', '.join(searched)}.")


def _repair_hint(spec: DatasetSpec, folder: Path, target: Path) -> str:
    if folder == target:
        return (f" Delete the damaged file(s) in {folder} and download again with "
                f"`cnnstudio datasets --download {spec.name}`.")
    return (f" The copy in {folder} is damaged; put a good copy in {target} (searched first), e.g. with "
            f"`cnnstudio datasets --download {spec.name}`.")


def _framing(spec: DatasetSpec) -> FramingProfile:
    if spec.name == "fashion-mnist":
        # Clothes fill the whole 28x28 frame (no 20 px box, no centre-of-mass shift).
        return FramingProfile(28, 28, 1, polarity="light-on-dark", fit="box", box=28, centering="box",
                              description="light article on dark, fitted into the full 28x28 frame, box-centred")
    if spec.name == "kmnist":
        return mnist_profile("light character on dark, fitted into 20x20, centred by centre of mass in 28x28")
    return mnist_profile()


def _load_registered(spec: DatasetSpec, data_dir: Path | None, download: bool,
                     progress: Progress | None, cancel: Cancel | None) -> Dataset:
    if spec.kind == "builtin":
        from cnnstudio.core.datasets.shapes import load_shapes

        return load_shapes()

    target = _target_dir(spec, data_dir)
    folder = locate(spec, data_dir)
    if folder is None and spec.name == "cifar10" and has_cifar_archive(target):
        folder = target  # archive present, unpacked below without network
    if folder is None:
        if not download:
            raise _needs_download_error(spec, target)
        folder = download_dataset(spec.name, data_dir, progress=progress, cancel=cancel)
    hint = _repair_hint(spec, folder, target)

    if spec.name == "cifar10":
        from cnnstudio.core.datasets.cifar import load_cifar10
        from cnnstudio.core.datasets.download import ensure_cifar_extracted

        batches = cifar_batches_dir(folder) or ensure_cifar_extracted(folder)
        if batches is None:
            raise _needs_download_error(spec, target)
        return load_cifar10(batches, hint=hint)

    from cnnstudio.core.datasets.idx import load_idx_folder

    return load_idx_folder(folder, name=spec.name, title=spec.title, classes=list(spec.classes),
                           framing=_framing(spec), hflip_ok=spec.hflip_ok, hint=hint)


def load_dataset(name_or_path: str | Path, data_dir: Path | None = None, download: bool = False,
                 progress: Progress | None = None, cancel: Cancel | None = None,
                 image_size: int | None = None) -> Dataset:
    """Load a registered dataset by name, or a dataset folder by path.

    For a registered dataset not on this computer, download=False raises a DatasetError saying how
    to get it; download=True downloads it first (progress/cancel as in download_dataset). For an
    image folder, progress/cancel follow the decoding of its files, and image_size (if given) is the
    side its pictures are decoded at.
    """
    text = str(name_or_path)
    key = text.strip().lower()
    if key in dataset_names():
        from cnnstudio.core.doctor.fixes import apply_builtin_fixes

        # The relabels and exclusions a person accepted in Review, kept beside the runs (files untouched).
        return apply_builtin_fixes(_load_registered(get_spec(key), data_dir, download, progress, cancel))

    path = Path(text).expanduser()
    if not path.exists():
        raise DatasetError(f"No dataset named {text!r} and no folder at {path}. Known datasets: "
                           f"{', '.join(dataset_names())}; or give the path of a folder of images "
                           f"(one subfolder per class) or of MNIST-style IDX files.")
    if not path.is_dir():
        raise DatasetError(f"{path} is a file; give a folder: one subfolder of images per class, or a "
                           f"folder holding the four MNIST-style IDX files.")
    if find_idx_files(path) is not None:
        from cnnstudio.core.datasets.idx import load_idx_folder
        from cnnstudio.core.doctor.fixes import apply_builtin_fixes

        return apply_builtin_fixes(load_idx_folder(path))
    from cnnstudio.core.datasets.imagefolder import load_image_folder

    # image_size: a folder of pictures decoded at that side (a pretrained backbone's resolution) instead
    # of the size chosen from the pictures; the registered datasets and IDX files keep theirs.
    return load_image_folder(path, image_size=image_size, progress=progress, cancel=cancel)
