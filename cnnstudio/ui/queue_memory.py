"""The training queue between launches: queue.json beside the app's settings file (QSettings).

Saved whenever the queue changes (each entry's full TrainConfig, its dataset's title, whether the
learning-rate finder picks its rate, and whether the queue is held); read back once, when the app's
state is composed. A queued run's dataset is not saved: a restored run loads config.dataset itself.

The file is input like any other: it is size-bounded and read through core/bounded.loads_json, and each
entry's config goes through build_config, the one validation. Nothing is dropped: an entry whose
dataset folder or model file has gone since, or whose settings cannot be read, comes back marked stale
with the reason (never started, until the user removes it), and an unreadable entry is written back as it
was read. A file that cannot be read at all is left in place and logged (one WARNING line).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings

from cnnstudio.core.bounded import TooDeep, loads_json
from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.training.config import TrainConfig, build_config
from cnnstudio.ui.session_memory import is_dir, is_file

if TYPE_CHECKING:
    from cnnstudio.ui.sessions.train_queue import TrainQueue

QUEUE_FILE = "queue.json"
MAX_BYTES = 16 * 2 ** 20  # a queued config with its spec is a few kB; far more is not our file
MAX_ENTRIES = 1000
VERSION = 1

log = logging.getLogger("cnnstudio.ui")


def queue_path() -> Path:
    """queue.json in the folder of the app's settings file."""
    return Path(QSettings().fileName()).parent / QUEUE_FILE


def stale_reason(config: TrainConfig) -> str | None:
    """Why a restored entry can no longer train (its dataset folder or model file is gone), or None."""
    from cnnstudio.core.datasets import dataset_names
    from cnnstudio.core.models.presets import PRESETS

    if config.dataset not in dataset_names() and not is_dir(config.dataset):
        return f"its dataset folder {config.dataset} is no longer there"
    if config.spec is None and config.model not in PRESETS and not is_file(config.model):
        return f"its model file {config.model} is no longer there"
    return None


def _entry_config(raw: object) -> tuple[TrainConfig, str | None]:
    """The entry's config and why it cannot train (None: it can)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("config"), dict):
        return TrainConfig(), "its settings could not be read (not a queued run)"
    try:
        config = build_config(TrainConfig(), raw["config"])
        if config.spec is not None:
            from cnnstudio.core.models.spec import check_structure

            check_structure(config.spec)
    except (CNNStudioError, TypeError, ValueError) as exc:
        return TrainConfig(), f"its settings could not be read: {str(exc)[:200]}"
    return config, stale_reason(config)


def restore(queue: TrainQueue) -> None:
    """Fill an empty queue with the runs saved at the last launch (the stale ones marked)."""
    path = queue_path()
    if not is_file(str(path)):
        return
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES // 2 ** 20} MB")
        doc = loads_json(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
            raise ValueError("not a saved queue")
    except (OSError, UnicodeDecodeError, ValueError, TooDeep) as exc:
        log.warning("The saved training queue %s could not be read (%s); it is left as it is.", path, exc)
        return
    for raw in doc["entries"][:MAX_ENTRIES]:
        config, problem = _entry_config(raw)
        title = raw.get("dataset_title") if isinstance(raw, dict) else None
        find_lr = raw.get("find_lr") if isinstance(raw, dict) else None
        queue.restore_entry(config, title if isinstance(title, str) else "", find_lr is True, problem,
                            raw if problem is not None else None)
    queue.set_held(doc.get("held") is True)


def save(queue: TrainQueue) -> None:
    """Write the queue as it is now (atomically: a crash leaves the previous file)."""
    entries = [e.saved if e.saved is not None else
               {"config": e.config.to_dict(), "dataset_title": e.dataset_title, "find_lr": e.find_lr}
               for e in queue.entries]
    path = queue_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"version": VERSION, "held": queue.held, "entries": entries}, indent=1),
                       encoding="utf-8")
        os.replace(tmp, path)
    except (OSError, TypeError, ValueError) as exc:
        log.warning("The training queue could not be saved to %s: %s", path, exc)


def keep(queue: TrainQueue) -> None:
    """Restore the saved queue, then save it on every change from now on."""
    restore(queue)
    queue.changed.connect(lambda: save(queue))
