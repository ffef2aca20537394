"""What the app remembers between launches: the dataset, the architecture, the checkpoint in use, the
user's own dataset folders and the files opened recently.

Saved to QSettings as they change; read back once, before the pages are built, and only what still
exists is restored (a dataset that is no longer on disk, a deleted checkpoint or a damaged spec are
forgotten quietly: the app then starts as on a first launch, with the built-in shapes set).

The settings file is input like any other: a value of the wrong type, a huge list or string, garbage
JSON, a path to a FIFO or a device is ignored (one log line names the keys) and the default is used.
Every value is checked for type and size before it is parsed, copied or iterated.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings

from cnnstudio.core.bounded import loads_json
from cnnstudio.ui.state import AppState, CurrentSpec

if TYPE_CHECKING:  # these import torch (ModelSpec is a name for a dict): only their types are needed here
    from cnnstudio.core.models.spec import ModelSpec
    from cnnstudio.core.datasets.base import Dataset
    from cnnstudio.core.datasets.catalog import DatasetInfo
    from cnnstudio.core.model_context import ModelContext

DATASET_KEY = "session/dataset"
SPEC_KEY = "session/spec"
SPEC_CHOSEN_KEY = "session/spec_chosen"  # the user picked it (a dataset change must not replace it)
CHECKPOINT_KEY = "session/checkpoint"
FOLDERS_KEY = "session/folders"  # JSON list of the user's dataset folders (DatasetInfo fields)
RECENT_KEY = "session/recent"  # JSON list of {"kind", "path"}, newest first
GEOMETRY_KEY = "window/geometry"  # the main window's own (saveGeometry); only checked here
MAX_GEOMETRY = 4096  # bytes: saveGeometry writes about 66

MAX_TEXT = 1_000_000  # characters of one setting; a spec of every preset together is under 20,000
MAX_PATH = 4096  # PATH_MAX on Linux
MAX_FOLDERS = 20
MAX_RECENT = 12
MAX_CLASSES = 10_000
MAX_SPEC_LAYERS = 1000  # the largest preset has a few dozen; each is a row of the Model page's table
RECENT_KINDS = ("folder", "checkpoint", "architecture")

log = logging.getLogger("cnnstudio.ui")


@dataclass(frozen=True)
class RecentItem:
    kind: str  # "folder", "checkpoint" or "architecture"
    path: str


@dataclass
class Remembered:
    dataset: str | None = None
    spec: ModelSpec | None = None
    spec_chosen: bool = False
    checkpoint: str | None = None
    folders: list[DatasetInfo] = field(default_factory=list)  # the user's folders still on disk
    missing_folders: list[str] = field(default_factory=list)  # remembered folders no longer there
    recent: list[RecentItem] = field(default_factory=list)  # File > Open Recent, newest first
    ignored: list[str] = field(default_factory=list)  # keys whose value was damaged (and is not used)


# -- reading values safely ---------------------------------------------------------------------------
def _text(settings: QSettings, key: str, ignored: list[str]) -> str | None:
    """A setting that must be a string of bounded length; anything else is recorded as ignored."""
    try:
        value = settings.value(key)
    except Exception:  # noqa: BLE001 - a value QSettings itself cannot convert
        ignored.append(key)
        return None
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        ignored.append(key)
        return None
    return value


def _path_setting(settings: QSettings, key: str, ignored: list[str]) -> str | None:
    """A setting that must be a path: a bounded string without NUL."""
    text = _text(settings, key, ignored)
    if text is not None and _path_text(text) is None:
        ignored.append(key)
        return None
    return text


def _json_list(text: str | None, key: str, ignored: list[str], limit: int) -> list[object]:
    if text is None:
        return []
    try:
        value = loads_json(text)
    except ValueError:
        ignored.append(key)
        return []
    if not isinstance(value, list):
        ignored.append(key)
        return []
    return value[:limit]


def _path_text(value: object) -> str | None:
    """A plausible path string (no NUL, bounded), else None."""
    if isinstance(value, str) and value and len(value) <= MAX_PATH and "\0" not in value:
        return value
    return None


def is_dir(path: str) -> bool:
    """A directory (never blocks: stat only; a FIFO, a device or an unreadable name is not one)."""
    try:
        return Path(path).is_dir()
    except (OSError, ValueError):
        return False


def is_file(path: str) -> bool:
    """A regular file (a FIFO or a device is not)."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def _dataset_available(name: str) -> bool:
    from cnnstudio.core.datasets import dataset_info, dataset_names

    try:
        if name in dataset_names():
            return bool(dataset_info(name).available)
        return is_dir(name)
    except Exception:  # noqa: BLE001 - an unreadable data folder: start with the default instead
        return False


def _count(value: object) -> int | None:
    """A stored image count: a whole number below 10**12 (a bool is not one), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10 ** 12 else None


def _folder_info(entry: object) -> DatasetInfo | None:
    """A remembered folder entry as a DatasetInfo, or None when it is not one (checked field by field)."""
    from cnnstudio.core.datasets.catalog import DatasetInfo

    if not isinstance(entry, dict):
        return None
    path, title, kind = _path_text(entry.get("name")), entry.get("title"), entry.get("kind")
    classes, shape = entry.get("classes"), entry.get("input_shape")
    if path is None or not isinstance(title, str) or len(title) > 300 or kind not in ("image-folder", "idx-folder"):
        return None
    if not isinstance(classes, list) or len(classes) > MAX_CLASSES or not all(
            isinstance(c, str) and len(c) <= 300 for c in classes):
        return None
    if (not isinstance(shape, list) or len(shape) != 3
            or not all(isinstance(d, int) and not isinstance(d, bool) and 0 < d <= 100_000 for d in shape)):
        return None
    num_train, num_test = _count(entry.get("num_train")), _count(entry.get("num_test"))
    if num_train is None or num_test is None:
        return None
    description = entry.get("description")
    description = description if isinstance(description, str) and len(description) <= 2000 else title
    return DatasetInfo(name=path, title=title, description=description, kind=kind, classes=list(classes),
                       input_shape=(shape[0], shape[1], shape[2]), num_train=num_train, num_test=num_test,
                       available=True, location=path)


def _recent(settings: QSettings, ignored: list[str]) -> list[RecentItem]:
    out: list[RecentItem] = []
    for entry in _json_list(_text(settings, RECENT_KEY, ignored), RECENT_KEY, ignored, MAX_RECENT):
        if isinstance(entry, dict) and entry.get("kind") in RECENT_KINDS and _path_text(entry.get("path")):
            item = RecentItem(entry["kind"], entry["path"])
            if item not in out:
                out.append(item)
    return out


# -- the last session ---------------------------------------------------------------------------------
def recall() -> Remembered:
    """The last session, keeping only what can still be used; one log line if some setting was damaged."""
    settings = QSettings()
    out = Remembered()
    ignored = out.ignored
    dataset = _path_setting(settings, DATASET_KEY, ignored)
    if dataset and _dataset_available(dataset):
        out.dataset = dataset
    spec_text = _text(settings, SPEC_KEY, ignored)
    if spec_text:
        try:
            from cnnstudio.core.models.spec import check_structure

            spec = loads_json(spec_text)
            check_structure(spec)
            if len(spec["layers"]) > MAX_SPEC_LAYERS:
                raise ValueError("more layers than the Model page can show")
            out.spec = spec
            out.spec_chosen = str(settings.value(SPEC_CHOSEN_KEY, "false"))[:10].lower() == "true"
        except Exception:  # noqa: BLE001 - a damaged setting is forgotten, never an error at start-up
            out.spec = None
            ignored.append(SPEC_KEY)
    checkpoint = _path_setting(settings, CHECKPOINT_KEY, ignored)
    if checkpoint and is_file(checkpoint):
        out.checkpoint = checkpoint
    seen: set[str] = set()
    for entry in _json_list(_text(settings, FOLDERS_KEY, ignored), FOLDERS_KEY, ignored, MAX_FOLDERS):
        info = _folder_info(entry)
        if info is None:
            if FOLDERS_KEY not in ignored:
                ignored.append(FOLDERS_KEY)
            continue
        if info.name in seen:
            continue
        seen.add(info.name)
        if is_dir(info.name):
            out.folders.append(info)
        else:
            out.missing_folders.append(info.name)
    out.recent = _recent(settings, ignored)
    try:
        geometry = settings.value(GEOMETRY_KEY)
    except Exception:  # noqa: BLE001 - a value QSettings itself cannot convert
        ignored.append(GEOMETRY_KEY)
        geometry = None
    if geometry is not None and not (isinstance(geometry, QByteArray) and 0 < geometry.size() <= MAX_GEOMETRY):
        ignored.append(GEOMETRY_KEY)  # the main window then opens at its default size
    if ignored:
        log.warning("CNN Studio: ignored damaged settings (%s) in %s; using the defaults for them",
                    ", ".join(dict.fromkeys(ignored)), settings.fileName())
    return out


def recent_items() -> list[RecentItem]:
    """The files and folders opened recently, newest first (damaged entries left out)."""
    return _recent(QSettings(), [])


def add_recent(kind: str, path: str) -> None:
    """Put a file or folder at the top of the recent list (File > Open Recent)."""
    if kind not in RECENT_KINDS or _path_text(path) is None:
        return
    settings = QSettings()
    items = [RecentItem(kind, path)] + [i for i in _recent(settings, []) if i != RecentItem(kind, path)]
    settings.setValue(RECENT_KEY, json.dumps([{"kind": i.kind, "path": i.path} for i in items[:MAX_RECENT]]))


def forget_recent(kind: str, path: str) -> None:
    settings = QSettings()
    items = [i for i in _recent(settings, []) if i != RecentItem(kind, path)]
    settings.setValue(RECENT_KEY, json.dumps([{"kind": i.kind, "path": i.path} for i in items]))


def clear_recent() -> None:
    QSettings().setValue(RECENT_KEY, "[]")


def _remember_folder(info: DatasetInfo) -> None:
    """Keep a user's folder (its DatasetInfo) in the list the Data page shows at the next launch."""
    settings = QSettings()
    entries = [e for e in _json_list(_text(settings, FOLDERS_KEY, []), FOLDERS_KEY, [], MAX_FOLDERS)
               if isinstance(e, dict) and (known := _folder_info(e)) is not None and known.name != info.name]
    entries.insert(0, info.to_dict())
    settings.setValue(FOLDERS_KEY, json.dumps(entries[:MAX_FOLDERS]))


def forget_folders(paths: list[str]) -> None:
    """Drop folders (e.g. no longer on disk) from the remembered list."""
    settings = QSettings()
    entries = [e for e in _json_list(_text(settings, FOLDERS_KEY, []), FOLDERS_KEY, [], MAX_FOLDERS)
               if isinstance(e, dict) and (known := _folder_info(e)) is not None and known.name not in paths]
    settings.setValue(FOLDERS_KEY, json.dumps(entries))


def remember(state: AppState, spec_chosen: Callable[[], bool]) -> None:
    """Save the dataset, the spec and the checkpoint whenever they change. spec_chosen() says whether the
    user picked the current spec (True) or the app suggested it for the dataset (False)."""
    settings = QSettings()

    def save_dataset(dataset: Dataset) -> None:
        settings.setValue(DATASET_KEY, state.dataset_name)
        from cnnstudio.core.datasets import dataset_names, info_from_dataset

        if state.dataset_name not in dataset_names() and is_dir(state.dataset_name):
            try:
                info = info_from_dataset(dataset)
            except Exception:  # noqa: BLE001 - a dataset without the usual fields: not listed, still loaded
                return
            info = replace(info, name=state.dataset_name)
            _remember_folder(info)
            add_recent("folder", state.dataset_name)

    def save_spec(current: CurrentSpec) -> None:
        settings.setValue(SPEC_KEY, json.dumps(current.spec))
        settings.setValue(SPEC_CHOSEN_KEY, "true" if spec_chosen() else "false")

    def save_checkpoint(path: str | None) -> None:
        settings.setValue(CHECKPOINT_KEY, str(path) if path else "")

    def checkpoint_loaded(context: ModelContext) -> None:
        add_recent("checkpoint", str(context.path))

    def checkpoint_failed(path: str, _message: str) -> None:
        # A checkpoint that would not load is not the one to reopen at the next launch: the model still
        # in use (if any) is.
        model = state.model
        settings.setValue(CHECKPOINT_KEY, str(model.context.path) if model.context is not None else "")
        forget_recent("checkpoint", path)

    state.datasetChanged.connect(save_dataset)
    state.specChanged.connect(save_spec)
    state.checkpointChanged.connect(save_checkpoint)
    state.model.loaded.connect(checkpoint_loaded)
    state.model.failed.connect(checkpoint_failed)
    state.fileOpened.connect(lambda kind, path: add_recent(kind, path))
