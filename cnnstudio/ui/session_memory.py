"""What the app remembers between launches: the dataset, the architecture and the checkpoint in use.

Saved to QSettings as they change; read back once, before the pages are built, and only what still
exists is restored (a dataset that is no longer on disk, a deleted checkpoint or a damaged spec are
forgotten quietly: the app then starts as on a first launch, with the built-in shapes set).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

DATASET_KEY = "session/dataset"
SPEC_KEY = "session/spec"
SPEC_CHOSEN_KEY = "session/spec_chosen"  # the user picked it (a dataset change must not replace it)
CHECKPOINT_KEY = "session/checkpoint"


@dataclass
class Remembered:
    dataset: str | None = None
    spec: dict[str, Any] | None = None
    spec_chosen: bool = False
    checkpoint: str | None = None


def recall() -> Remembered:
    """The last session, keeping only what can still be used."""
    settings = QSettings()
    out = Remembered()
    dataset = settings.value(DATASET_KEY)
    if isinstance(dataset, str) and dataset and _dataset_available(dataset):
        out.dataset = dataset
    spec_text = settings.value(SPEC_KEY)
    if isinstance(spec_text, str) and spec_text:
        try:
            from cnnstudio.core.models.spec import check_structure

            spec = json.loads(spec_text)
            check_structure(spec)
            out.spec = spec
            out.spec_chosen = str(settings.value(SPEC_CHOSEN_KEY, "false")).lower() == "true"
        except Exception:  # noqa: BLE001 - a damaged setting is forgotten, never an error at start-up
            out.spec = None
    checkpoint = settings.value(CHECKPOINT_KEY)
    if isinstance(checkpoint, str) and checkpoint and Path(checkpoint).is_file():
        out.checkpoint = checkpoint
    return out


def _dataset_available(name: str) -> bool:
    from cnnstudio.core.datasets import dataset_info, dataset_names

    try:
        if name in dataset_names():
            return bool(dataset_info(name).available)
        return Path(name).is_dir()
    except Exception:  # noqa: BLE001 - an unreadable data folder: start with the default instead
        return False


def remember(state: Any, spec_chosen: "callable") -> None:
    """Save the dataset, the spec and the checkpoint whenever they change. spec_chosen() says whether the
    user picked the current spec (True) or the app suggested it for the dataset (False)."""
    settings = QSettings()

    def save_dataset(_dataset: Any) -> None:
        settings.setValue(DATASET_KEY, state.dataset_name)

    def save_spec(spec: Any) -> None:
        settings.setValue(SPEC_KEY, json.dumps(spec))
        settings.setValue(SPEC_CHOSEN_KEY, "true" if spec_chosen() else "false")

    def save_checkpoint(path: Any) -> None:
        settings.setValue(CHECKPOINT_KEY, str(path) if path else "")

    state.datasetChanged.connect(save_dataset)
    state.specChanged.connect(save_spec)
    state.checkpointChanged.connect(save_checkpoint)
