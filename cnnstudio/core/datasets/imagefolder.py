"""A folder of images, one subfolder per class: the user's own dataset.

Real folders are messy - phone photos and scans of every size and mode, a half-copied file, a text
file someone named .jpg, a 20000x20000 panorama. Nothing here aborts the load for one bad file: each
is skipped and recorded in the LoadReport with the reason, and only a problem with the dataset as a
whole (fewer than two classes, a class with no usable image) is an error.

Loading works in two passes, each on a few threads. The first opens every file's header only (cheap:
size and mode), which rejects non-images and oversized images before any decoding and picks the target
size and channel count. The second decodes each image straight to that size (JPEG draft mode decodes
at 1/2, 1/4 or 1/8 scale when that is still big enough) and normalises its mode. The result is kept
on disk (picture_cache.py): loading the same, unchanged folder again decodes nothing.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from cnnstudio.core.datasets import picture_cache
from cnnstudio.core.datasets.base import Dataset, LoadReport, SkippedFile
from cnnstudio.core.cover import cover, draft_for_cover
from cnnstudio.core.errors import DatasetError, DownloadCancelled
from cnnstudio.core.datasets.catalog import human_size
from cnnstudio.core.datasets.disk_images import DiskImages, memory_budget
from cnnstudio.core.framing import MEASURE_SAMPLE, measure_framing, natural_profile
from cnnstudio.core.image_modes import to_channels
from cnnstudio.core.preparation import MAX_IMAGE_PIXELS, pixel_cost
from cnnstudio.core.orientation import upright
from cnnstudio.core.text import name_problem, printable

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
MAX_PIXELS = MAX_IMAGE_PIXELS  # above this an image is refused from its header, before decoding
MIN_SIZE, MAX_SIZE = 16, 64  # range of the automatically chosen square size
DEFAULT_TEST_FRACTION = 0.2
DECODE_THREADS = max(1, min(8, os.cpu_count() or 1))  # decoding and resizing release the GIL

# Modes whose pixels are gray levels; an image in any other mode counts as colour.
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})

# Skip reasons, as shown to the user.
EMPTY = "empty file"
NOT_IMAGE = "not an image"
TOO_LARGE = "too large"
TRUNCATED = "truncated"
UNREADABLE = "unreadable"


@dataclass
class _Candidate:
    path: Path
    class_index: int
    split: str | None  # "train" / "test" when the folder is pre-split, else None
    size: tuple[int, int] = (0, 0)
    mode: str = ""


# The data doctor's own entries in a dataset folder (core/doctor/fixes.py): the pictures a person excluded,
# and the log of every change. Never a class, never a loose file.
EXCLUDED_FOLDER = "_excluded"
CHANGES_LOG = "_changes.csv"
SPLIT_DIRS = ("train", "test")


def split_dir_names() -> tuple[str, ...]:
    """The names (lower case) of the folders that split a dataset folder into train and test."""
    return SPLIT_DIRS


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


@dataclass
class _Walk:
    """State of one walk over a dataset folder."""

    root: Path  # the dataset folder, resolved
    seen_dirs: set[Path]  # resolved folders already walked: a link loop ends here
    unreadable: list[Path]  # folders that could not be listed


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def _walk_files(folder: Path, walk: _Walk) -> list[Path]:
    """Every non-hidden file below folder (hidden folders not entered), in a stable order.

    A link that points back into the dataset folder is not followed: what it points to is counted once,
    under its real class folder, never a second time under the class the link sits in (that would give
    one image two labels). Links that point outside are followed, once each.
    """
    try:
        real = folder.resolve()
        entries = sorted(folder.iterdir())
    except OSError:
        walk.unreadable.append(folder)
        return []
    if real in walk.seen_dirs:
        return []
    walk.seen_dirs.add(real)
    files: list[Path] = []
    for entry in entries:
        if not _visible(entry):
            continue
        try:
            if entry.is_symlink() and _inside(entry.resolve(), walk.root):
                continue
            if entry.is_dir():
                files.extend(_walk_files(entry, walk))
            elif entry.is_file():
                files.append(entry)
        except (OSError, RuntimeError):  # a broken or looping link
            continue
    return files


def list_image_files(folder: Path) -> tuple[list[Path], Counter[str], list[Path]]:
    """(image files, other files counted by extension, folders that could not be read) below `folder`,
    walked as a dataset folder is (hidden entries skipped, link loops ended, a stable order)."""
    walk = _Walk(root=folder.resolve(), seen_dirs=set(), unreadable=[])
    images: list[Path] = []
    ignored: Counter[str] = Counter()
    for path in _walk_files(folder, walk):
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            images.append(path)
        else:
            ignored[path.suffix.lower() or "(no extension)"] += 1
    return images, ignored, walk.unreadable


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and _visible(p) and p.name != EXCLUDED_FOLDER)


def _find_split_dirs(root: Path) -> tuple[Path, Path] | None:
    """root/train and root/test (any letter case) when the folder is already split."""
    by_name = {p.name.lower(): p for p in _subdirs(root)}
    if "train" in by_name and "test" in by_name:
        return by_name["train"], by_name["test"]
    return None


# --- pass 1: headers -----------------------------------------------------------------------------

def _probe(path: Path) -> tuple[tuple[int, int], str] | str:
    """(size, mode) from the header, or a skip reason. Decodes no pixels."""
    try:
        if path.stat().st_size == 0:
            return EMPTY
        with warnings.catch_warnings():
            # PIL warns about (and above twice its limit refuses) huge images while opening.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                size, mode = im.size, im.mode
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return TOO_LARGE
    except UnidentifiedImageError:
        return NOT_IMAGE
    except Exception:  # noqa: BLE001 - a header PIL chokes on (SyntaxError, struct.error, ...)
        return UNREADABLE
    if size[0] <= 0 or size[1] <= 0:
        return UNREADABLE
    if pixel_cost(*size) > MAX_PIXELS:  # a strip millions of pixels long counts as more (see pixel_cost)
        return TOO_LARGE
    return size, mode


# --- pass 2: decoding ------------------------------------------------------------------------------

def _decode(path: Path, size: int, channels: int) -> np.ndarray | str:
    """The image as uint8 (C, size, size), or a skip reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                draft_for_cover(im, size, size, channels)  # a JPEG decoded at 1/2^k scale, as for prediction
                im.load()  # LOAD_TRUNCATED_IMAGES is False: a cut-off file raises here
                # Upright as a viewer shows it, and as prediction will see it (one function for both).
                out = cover(to_channels(upright(im), channels), size, size)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return TOO_LARGE
    except UnidentifiedImageError:
        return NOT_IMAGE
    except OSError as exc:
        return TRUNCATED if "truncated" in str(exc).lower() or "broken" in str(exc).lower() else UNREADABLE
    except Exception:  # noqa: BLE001 - decoder errors of every kind (SyntaxError, ValueError, ...)
        return UNREADABLE
    array = np.asarray(out, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _probe_all(folder: Path, pool: ThreadPoolExecutor, candidates: list[_Candidate],
               tick: Callable[[], None]) -> tuple[list[_Candidate], list[tuple[str, str]]]:
    """Pass 1: every candidate's header, on the pool. (readable candidates, skipped (path, reason))."""
    probed: list[_Candidate] = []
    skipped: list[tuple[str, str]] = []
    for cand, result in _in_order(pool, lambda c: _probe(c.path), candidates):
        if isinstance(result, str):
            skipped.append((str(cand.path), result))
        else:
            cand.size, cand.mode = result
            probed.append(cand)
        tick()
    if not probed:
        reasons = Counter(reason for _, reason in skipped)
        raise DatasetError(f"{folder}: none of the {len(candidates)} image files could be read "
                           f"(skipped: {', '.join(f'{n} {r}' for r, n in sorted(reasons.items()))}).")
    return probed, skipped


def _decode_all(folder: Path, candidates: list[_Candidate], image_size: int | None, test_fraction: float,
                seed: int, key: str | None, tick: Callable[[], None]) -> picture_cache.Decoded:
    """Both passes over the candidate files, each on a pool of threads (PIL decodes and resizes with the
    GIL released, so the cores share the work). tick() after each file.

    Pass 2 writes each picture straight to the picture cache, training rows first, so no pass holds the
    folder's pixels in memory, whatever its size. The split is made on the decoded pictures' classes,
    in the files' order (one rule whatever the folder's size); to write in that order, pass 2 follows
    the split of the files whose headers read, which is the same split unless a file fails only when
    decoded (cut off): then the rows are put in the final order afterwards."""
    with ThreadPoolExecutor(max_workers=DECODE_THREADS) as pool:
        probed, skipped = _probe_all(folder, pool, candidates, tick)
        size = image_size or _choose_size([c.size for c in probed])
        channels = 1 if all(c.mode in GRAY_MODES for c in probed) else 3
        n_classes = 1 + max(c.class_index for c in probed)

        def split(cands: list[_Candidate]) -> np.ndarray:
            if any(c.split is not None for c in cands):
                return np.array([c.split == "test" for c in cands], dtype=bool)
            return _split_indices(np.array([c.class_index for c in cands]), n_classes, test_fraction, seed)

        expected = split(probed)
        order = np.r_[np.flatnonzero(~expected), np.flatnonzero(expected)]  # training files first
        try:
            writer = picture_cache.RowWriter(key, (channels, size, size))
        except OSError as exc:
            raise DatasetError(f"Cannot write the decoded pictures of {folder} anywhere (the cache folder and "
                               f"the temporary folder refused: {exc.strerror or exc}). Free some disk space "
                               "and load again.") from None
        try:
            decoded: list[int] = []  # positions in `probed` of the pictures written, in the rows' order
            for position, result in zip(order, _in_order(pool, lambda c: _decode(c.path, size, channels),
                                                         [probed[i] for i in order])):
                cand, result = result
                if isinstance(result, str):
                    skipped.append((str(cand.path), result))
                else:
                    writer.append(result)
                    decoded.append(int(position))
                tick()
            files = sorted(decoded)
            is_test = split([probed[i] for i in files])
            final = [files[i] for i in np.r_[np.flatnonzero(~is_test), np.flatnonzero(is_test)]]
            if final != decoded:  # a file failed only when decoded and the split moved: reorder the rows
                row_of = {position: row for row, position in enumerate(decoded)}
                writer.reorder([row_of[position] for position in final])
            labels = np.array([probed[i].class_index for i in final], dtype=np.int64)
            names = [probed[i].path.relative_to(folder).as_posix() for i in final]
            return writer.commit(labels, int((~is_test).sum()), skipped, names)
        except BaseException:
            writer.abandon()
            raise


def _in_order(pool: ThreadPoolExecutor, fn: Callable[..., Any], items: list[Any],
              window: int = 64) -> Iterator[tuple[Any, Any]]:
    """(item, fn(item)) in the items' order, computed on the pool a window at a time: a Cancel raised by
    the caller between items waits for one window, not for the whole folder."""
    for start in range(0, len(items), window):
        chunk = items[start:start + window]
        yield from zip(chunk, pool.map(fn, chunk))


def _framing_sample(images: np.ndarray | DiskImages) -> np.ndarray:
    """The training pictures measure_framing looks at (it samples evenly; on disk only those are read)."""
    if isinstance(images, DiskImages):
        step = max(1, len(images) // MEASURE_SAMPLE)
        sample: np.ndarray = images[slice(0, None, step)][:MEASURE_SAMPLE].numpy()
        return sample
    return images


def _choose_size(sizes: list[tuple[int, int]]) -> int:
    """The most common shorter side, clamped into [16, 64]: most images need no upscaling."""
    shorter = Counter(min(w, h) for w, h in sizes)
    best = max(shorter.items(), key=lambda kv: (kv[1], kv[0]))[0]
    return int(min(max(best, MIN_SIZE), MAX_SIZE))


def _split_indices(labels: np.ndarray, n_classes: int, test_fraction: float, seed: int) -> np.ndarray:
    """A boolean 'is test' mask: per class, seeded, at least one test image when a class has two."""
    is_test = np.zeros(len(labels), dtype=bool)
    for k in range(n_classes):
        members = np.flatnonzero(labels == k)
        n = len(members)
        if n < 2:
            continue
        n_test = min(max(1, int(round(n * test_fraction))), n - 1)
        rng = np.random.default_rng([seed, k])
        is_test[rng.permutation(members)[:n_test]] = True
    return is_test


def load_image_folder(
    folder: Path,
    *,
    image_size: int | None = None,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Dataset:
    """Load a folder with one subfolder per class (optionally under train/ and test/).

    progress(done, total) is called as files are checked and decoded; cancel() returning True stops
    the load with DownloadCancelled (the core's one "user cancelled" error).
    """
    # PIL's global switch must be off, or cut-off files would load with grey bottoms instead of
    # being reported. Restored afterwards for whoever set it.
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        return _load(Path(folder).expanduser(), image_size, test_fraction, seed, progress, cancel)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _load(
    folder: Path,
    image_size: int | None,
    test_fraction: float,
    seed: int,
    progress: Callable[[int, int], None] | None,
    cancel: Callable[[], bool] | None,
) -> Dataset:
    from cnnstudio.core.datasets.assemble import make_dataset

    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder.")
    if image_size is not None and not (1 <= image_size <= 1024):
        raise DatasetError(f"image size {image_size} is out of range (1..1024).")
    report = LoadReport()

    # Which folders are classes, and which split each belongs to.
    class_dirs: dict[str, list[tuple[Path, str | None]]] = {}
    try:
        split_dirs = _find_split_dirs(folder)
        roots: list[tuple[Path, str | None]] = (
            [(split_dirs[0], "train"), (split_dirs[1], "test")] if split_dirs else [(folder, None)])
        for root, split in roots:
            for sub in _subdirs(root):
                class_dirs.setdefault(sub.name, []).append((sub, split))
            loose = [p for p in root.iterdir() if p.is_file() and _visible(p) and p.name != CHANGES_LOG]
            if loose:
                report.notes.append(f"{len(loose)} file(s) directly in {root} ignored: images must be "
                                    f"in one subfolder per class")
    except OSError as exc:
        raise DatasetError(f"Cannot read the folder {folder} ({exc.strerror or exc}).") from exc
    classes = sorted(class_dirs)
    for name in classes:  # names are stored one per line (labels.txt): see text.name_problem
        problem = name_problem(name)
        if problem:
            raise DatasetError(f"Cannot use the class folder {printable(class_dirs[name][0][0])}: {problem}. "
                               "Rename the folder and load again.")
    if len(classes) < 2:
        where = f"{folder} (in train/ and test/)" if split_dirs else str(folder)
        found = f"only {classes[0]!r}" if classes else "none"
        raise DatasetError(f"{where} needs at least two class subfolders, one per class, each holding "
                           f"that class's images; found {found}.")

    candidates: list[_Candidate] = []
    ignored: Counter[str] = Counter()
    walk = _Walk(root=folder.resolve(), seen_dirs=set(), unreadable=[])
    for index, name in enumerate(classes):
        for sub, split in class_dirs[name]:
            for path in _walk_files(sub, walk):
                if path.suffix.lower() in IMAGE_EXTENSIONS:
                    candidates.append(_Candidate(path, index, split))
                else:
                    ignored[path.suffix.lower() or "(no extension)"] += 1
    class_folders = {sub for dirs in class_dirs.values() for sub, _ in dirs}
    locked = [p for p in walk.unreadable if p in class_folders]
    if locked:
        names = ", ".join(str(p) for p in locked[:3]) + (f" and {len(locked) - 3} more" if len(locked) > 3 else "")
        raise DatasetError(f"Cannot read the class folder {names}: permission denied. Give yourself read "
                           "access to it (or remove it from the dataset folder) and load again.")
    if walk.unreadable:
        report.notes.append(f"{len(walk.unreadable)} folder(s) could not be read and were skipped "
                            f"(permission denied): {', '.join(str(p) for p in walk.unreadable[:3])}")
    if ignored:
        kinds = ", ".join(f"{n} {ext}" for ext, n in sorted(ignored.items()))
        report.notes.append(f"{sum(ignored.values())} file(s) without an image extension ignored ({kinds})")
    report.files_seen = len(candidates)
    total_steps = 2 * len(candidates)
    step = 0

    def tick() -> None:
        nonlocal step
        step += 1
        if cancel is not None and cancel():
            raise DownloadCancelled(f"Loading {folder} cancelled.")
        if progress is not None and (step % 64 == 0 or step == total_steps):
            progress(step, total_steps)

    # The same folder decoded before (same files, sizes and times, same size and split): no decoding.
    if not split_dirs and not 0.0 <= test_fraction < 1.0:
        raise DatasetError(f"test fraction {test_fraction} must be at least 0 and below 1.")
    split_key = "train/test folders" if split_dirs else f"{test_fraction!r}|{seed}"
    key = picture_cache.folder_key(folder, [(c.path, c.class_index, c.split) for c in candidates], image_size,
                                   split_key)
    decoded = (picture_cache.load(key, num_classes=len(classes), max_rows=len(candidates), image_size=image_size)
               if key else None)
    if decoded is None:
        decoded = _decode_all(folder, candidates, image_size, test_fraction, seed, key, tick)
    else:
        report.notes.append(f"{len(decoded.labels)} pictures from the cache of an earlier load (nothing changed)")
    # Progress may have skipped the tail; report completion even when pass 1 dropped files.
    if progress is not None:
        progress(total_steps, total_steps)
    report.skipped.extend(SkippedFile(path, reason) for path, reason in decoded.skipped)
    report.files_loaded = len(decoded.labels)
    size, channels, n_train = decoded.size, decoded.channels, decoded.n_train

    label_array = decoded.labels
    counts = np.bincount(label_array, minlength=len(classes))
    empty = [classes[k] for k in range(len(classes)) if counts[k] == 0]
    if empty:
        raise DatasetError(f"{folder}: class {', '.join(repr(c) for c in empty)} has no usable images "
                           f"({report.summary()}). Every class needs at least one readable image.")

    test_labels = label_array[n_train:]
    if split_dirs:
        train_counts = np.bincount(label_array[:n_train], minlength=len(classes))
        no_train = [classes[k] for k in range(len(classes)) if train_counts[k] == 0]
        if no_train:
            raise DatasetError(f"{folder}: class {', '.join(repr(c) for c in no_train)} has no usable "
                               f"images in train/; every class needs training images.")
        if not len(test_labels):
            raise DatasetError(f"{folder}: test/ holds no usable images.")
        missing_test = [classes[k] for k in range(len(classes)) if not np.any(test_labels == k)]
        if missing_test:
            report.notes.append(f"no test images for class(es) {', '.join(missing_test)}")
    else:
        report.notes.append(f"split {n_train} train / {len(test_labels)} test "
                            f"({test_fraction:.0%} per class, seed {seed})")
        alone = [classes[k] for k in range(len(classes)) if counts[k] == 1]
        if test_fraction > 0 and alone:
            shown = ", ".join(alone[:5]) + (f" and {len(alone) - 5} more" if len(alone) > 5 else "")
            if not len(test_labels):
                report.notes.append("no test images: every class has a single image, so all are used for "
                                    "training and test accuracy cannot be measured. Add images (at least 2 "
                                    "per class, better 20 or more).")
            else:
                report.notes.append(f"class(es) {shown} have a single image, used for training: they are "
                                    f"not tested")
    images = decoded.images
    train_images: np.ndarray | DiskImages
    test_images: np.ndarray | DiskImages
    if isinstance(images, DiskImages):
        train_images, test_images = images.subset(slice(0, n_train)), images.subset(slice(n_train, None))
        report.notes.append(f"the {len(images):,} decoded pictures ({human_size(images.nbytes)}) exceed the "
                            f"memory budget ({human_size(memory_budget())}): they stay on disk and are read a "
                            f"batch at a time")
    else:
        train_images, test_images = images[:n_train], images[n_train:]
    report.notes.append(f"images resized to {size}x{size}, {'grayscale' if channels == 1 else 'RGB'}")

    dataset = make_dataset(
        name=folder.name,
        title=folder.name,
        classes=classes,
        train_images=train_images,
        train_labels=label_array[:n_train],
        test_images=test_images,
        test_labels=test_labels,
        # Measured: a folder of scanned or drawn characters is framed like one (prepared user drawings
        # match it); photos are "natural" and scaled to cover.
        framing=(measure_framing(_framing_sample(train_images)) if channels == 1
                 else natural_profile(size, size, channels)),
        source=str(folder),
        report=report,
        hflip_ok=False,  # unknown content (letters? arrows?): never assume a mirror keeps the label
        owned=True,  # read from the picture cache for this dataset alone: no second copy
        stats=decoded.stats,
        files=decoded.files,
    )
    picture_cache.remember_stats(decoded, dataset.mean, dataset.std)
    return dataset
