"""The Model page's session: the architecture being edited, what it was based on, and what the data calls for.

It owns one spec (a plain dict, see cnnstudio.core.models.spec). Every edit re-runs the torch-free
infer_shapes for the loaded dataset's input shape and class count and hands the spec to
AppState.set_spec(spec, valid), so the Train page can refuse to start an architecture that does not fit.
It decides which preset is recommended for the data, when a preset chosen for the data follows a new
dataset, when to ask (never replace silently) because the user's own choice no longer suits the data,
and how specs are opened and saved. No widgets: the page shows what it announces.

Nothing here imports torch: the Model page works (and its table fills) while torch is still loading.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from cnnstudio.core.datasets import dataset_info, dataset_names
from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.models import ShapeReport, get_preset, infer_shapes, list_presets, load_spec, new_layer, save_spec
from cnnstudio.core.models.backbones import backbone_layer_index
from cnnstudio.core.models.layer_types import normalize_layer
from cnnstudio.ui.sessions.backbone_session import BackboneSession

if TYPE_CHECKING:  # imports torch: only its type is needed here
    from cnnstudio.core.datasets.base import Dataset
    from cnnstudio.core.models.spec import LayerDict, ModelSpec
    from cnnstudio.ui.state import AppState

FALLBACK_INPUT: tuple[tuple[int, int, int], int] = ((1, 28, 28), 10)  # before any dataset is known


class ModelSession(QObject):
    """The spec being edited and the decisions about it; no widgets."""

    edited = Signal(object)  # the spec changed: the row to select (int), or None to keep the selection
    presetChosen = Signal(str)  # the spec is now this preset's ("" : a spec that is no preset)
    customized = Signal()  # the first edit turned a preset or an opened file into the user's own
    fileLoaded = Signal(str)  # the spec was opened from this file
    inputChanged = Signal()  # a new dataset: another input shape or class count (every preset's fit changes)
    # A new dataset that the chosen model does not suit: (the question, the preset proposed); ("", "") once
    # answered or out of date.
    proposalChanged = Signal(str, str)
    failed = Signal(str, str)  # title, message: nothing was changed

    def __init__(self, state: AppState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.spec: ModelSpec = {"name": "", "description": "", "layers": []}
        self.base: str | None = None  # the preset the spec started from
        self.custom = False  # edited since it was a preset / loaded from a file
        self.auto = True  # the preset was chosen for the dataset, not by the user: follow dataset changes
        self.source_file: str | None = None
        self.proposal: str | None = None  # the preset proposed for the new dataset, until answered
        self.proposal_text = ""
        self._kept: tuple[str, str] | None = None  # (dataset, model) the user chose to keep: not asked again
        self._recommended: str | None = None  # what the data called for at the last dataset change
        self.report = ShapeReport(input_shape=FALLBACK_INPUT[0], num_classes=FALLBACK_INPUT[1])
        self.input_shape, self.num_classes = self._shape_of_state()
        # A pretrained backbone's stages and weights file, shown while the spec has one.
        self.backbone = BackboneSession(self)
        state.datasetChanged.connect(self._on_dataset_changed)

    def start(self) -> None:
        """The first architecture: the last session's (session_memory.py), else the one the data calls for."""
        remembered = getattr(self.state, "remembered_spec", None)
        if remembered is not None:
            self.use_spec(*remembered)
        else:
            self.select_preset(self.recommended_preset(), auto=True)
        # The recommendation for the data loaded (None until some is: the first load, e.g. the last session's
        # dataset, does not count as a change of data).
        self._recommended = self.recommended_preset() if self.state.dataset is not None else None

    # -- what the page shows --------------------------------------------------------------------------
    def _shape_of_state(self) -> tuple[tuple[int, int, int], int]:
        ds = self.state.dataset
        if ds is not None:
            c, h, w = (int(v) for v in ds.input_shape)
            return (c, h, w), int(ds.num_classes)
        name = self.state.dataset_name
        if name in dataset_names():  # a registered dataset's shape is known without loading it
            info = dataset_info(name)
            c, h, w = (int(v) for v in info.input_shape)
            return (c, h, w), len(info.classes)
        return FALLBACK_INPUT

    def recommended_preset(self) -> str:
        """The preset recommended for the loaded data (the one the command line trains without --model): the
        model of the recommendation the state holds (the recipe a spec adds never changes the model)."""
        return self.state.recommendation.config.model

    def preset_reports(self) -> list[tuple[ModelSpec, ShapeReport]]:
        """Every preset with its shapes for the current input, in the list's order."""
        return [(preset, infer_shapes(preset, self.input_shape, self.num_classes)) for preset in list_presets()]

    def is_preset(self, name: object) -> bool:
        return isinstance(name, str) and name in {preset["name"] for preset in list_presets()}

    def based_on(self) -> str:
        """What an edited spec is based on: its preset, or the file it was opened from."""
        return self.base or Path(self.source_file or "model").stem

    def dataset_title(self) -> str:
        ds = self.state.dataset
        if ds is not None:
            return ds.title
        name = self.state.dataset_name
        return dataset_info(name).title if name in dataset_names() else Path(name).name

    def backbone_layer(self) -> LayerDict | None:
        """The spec's (first) pretrained backbone layer, normalised, or None."""
        index = backbone_layer_index(self.spec)
        if index is None:
            return None
        try:
            return normalize_layer(index, self.spec["layers"][index])
        except CNNStudioError:
            return None

    # -- choosing an architecture --------------------------------------------------------------------
    @staticmethod
    def _preset_spec(name: str) -> ModelSpec:
        spec = get_preset(name)
        spec.pop("recommended", None)
        return spec

    def select_preset(self, name: str, auto: bool = False) -> bool:
        """Use a preset's architecture (auto: chosen for the dataset, so a dataset change may replace it)."""
        try:
            spec = self._preset_spec(name)
        except CNNStudioError as exc:
            self._fail("Unknown architecture", str(exc))
            return False
        self._set_proposal(None)
        self.spec, self.base, self.custom, self.auto, self.source_file = spec, name, False, auto, None
        self.presetChosen.emit(name)
        self._changed(select_row=0)
        return True

    def use_spec(self, spec: ModelSpec, chosen: bool = True) -> None:
        """Use this architecture (a preset's own, or an edited one), e.g. the last session's."""
        name = spec.get("name")
        preset = name if self.is_preset(name) else None
        if preset is not None and not chosen:
            self.select_preset(preset, auto=True)
            return
        self.spec = copy.deepcopy(spec)
        self.base = preset
        self.custom = preset is None or spec != self._preset_spec(preset)
        self.auto = False
        self.source_file = None
        self.presetChosen.emit(preset or "")
        self._changed(select_row=0)

    # -- editing -------------------------------------------------------------------------------------
    def add_layer(self, type_name: str, index: int) -> int:
        """Insert a new layer of this type at `index` (clamped); returns its row."""
        layers = self.spec["layers"]
        index = max(0, min(int(index), len(layers)))
        layers.insert(index, new_layer(type_name))
        self._mark_custom()
        self._changed(select_row=index)
        return index

    def remove_layer(self, index: int) -> None:
        layers = self.spec["layers"]
        if not 0 <= index < len(layers):
            return
        del layers[index]
        self._mark_custom()
        self._changed(select_row=min(index, len(layers) - 1))

    def move_layer(self, index: int, delta: int) -> None:
        layers = self.spec["layers"]
        target = index + delta
        if not (0 <= index < len(layers) and 0 <= target < len(layers)):
            return
        layers[index], layers[target] = layers[target], layers[index]
        self._mark_custom()
        self._changed(select_row=target)

    def set_layer_param(self, index: int, name: str, value: object) -> bool:
        """Change one parameter of one layer (None removes an optional parameter); False: no such layer."""
        layers = self.spec["layers"]
        if not 0 <= index < len(layers):
            return False
        layer = layers[index]
        if value is None:
            layer.pop(name, None)
        else:
            layer[name] = value
        self._mark_custom()
        self._changed(select_row=None)
        return True

    def _mark_custom(self) -> None:
        """The first edit turns a preset into "custom (based on X)"."""
        self.auto = False
        self._set_proposal(None)
        if self.custom:
            return
        self.custom = True
        self.spec["name"] = f"custom (based on {self.based_on()})"
        self.spec["description"] = f"Edited from {self.based_on()}."
        self.customized.emit()

    def _changed(self, select_row: int | None) -> None:
        """After every change: infer shapes, publish to the app state, tell the page."""
        self.report = infer_shapes(self.spec, self.input_shape, self.num_classes)
        self.edited.emit(select_row)
        self.state.set_spec(self.spec, self.report.ok)

    # -- a new dataset ---------------------------------------------------------------------------------
    def _on_dataset_changed(self, dataset: Dataset) -> None:
        c, h, w = (int(v) for v in dataset.input_shape)
        self.input_shape, self.num_classes = (c, h, w), int(dataset.num_classes)
        self.inputChanged.emit()
        previous, recommended = self._recommended, self.recommended_preset()
        self._recommended = recommended
        if self.auto:  # the user has not chosen: suggest what suits the new dataset
            self.select_preset(recommended, auto=True)
            return
        self._changed(select_row=None)
        # The user chose this model for other data: ask (never replace it silently) when the data calls for
        # another one: the recommendation changed with the dataset, or the model does not fit at all.
        current = str(self.spec.get("name") or "your model")
        if current == recommended or (previous in (None, recommended) and self.report.ok) or \
                self._kept == (self.state.dataset_name, current):
            self._set_proposal(None)
            return
        why = "does not fit it" if not self.report.ok else "was chosen for other data"
        self._set_proposal(recommended, f"{self.dataset_title()} is {h}x{w} {'grayscale' if c == 1 else 'colour'} "
                                        f"images in {self.num_classes} classes: the model recommended for it is "
                                        f"{recommended}. {current} {why}.")

    def _set_proposal(self, preset: str | None, text: str = "") -> None:
        if preset is None and self.proposal is None:
            return
        self.proposal, self.proposal_text = preset, (text if preset else "")
        self.proposalChanged.emit(self.proposal_text, preset or "")

    def accept_proposal(self) -> bool:
        """Use the proposed model (it then follows later dataset changes, as a suggested model does)."""
        preset = self.proposal
        if preset is None:
            return False
        self.select_preset(preset, auto=True)
        self.state.message.emit(f"Model: {preset}, recommended for {self.dataset_title()}.")
        return True

    def keep_current(self) -> None:
        """Keep the chosen model for this dataset (not asked again for it)."""
        if self.proposal is not None:
            self._kept = (self.state.dataset_name, str(self.spec.get("name") or "your model"))
        self._set_proposal(None)

    # -- files -----------------------------------------------------------------------------------------
    def file_name(self) -> str:
        """A file name for saving the spec: its name with anything but letters, digits, - and _ replaced."""
        name = str(self.spec.get("name") or "model")
        return ("".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name).strip("-") or "model") + ".json"

    def load_json(self, path: str | Path) -> bool:
        """Open a spec file; a bad file says why (failed) and leaves the current architecture alone."""
        try:
            spec = load_spec(path)
        except CNNStudioError as exc:
            self._fail("Could not open the model file", str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 - never a traceback for a bad file
            self._fail("Could not open the model file", f"{path}: {exc}")
            return False
        self._set_proposal(None)
        self.spec, self.base, self.custom, self.auto, self.source_file = spec, None, False, False, str(path)
        self.fileLoaded.emit(str(path))
        self._changed(select_row=0)
        self.state.message.emit(f"Opened {Path(path).name}")
        self.state.fileOpened.emit("architecture", str(path))
        return True

    def save_json(self, path: str | Path) -> bool:
        try:
            save_spec(self.spec, path)
        except CNNStudioError as exc:
            self._fail("Could not save the model", str(exc))
            return False
        note = "" if self.report.ok else " (it does not fit the current dataset yet)"
        self.state.message.emit(f"Saved {Path(path).name}{note}")
        return True

    def _fail(self, title: str, message: str) -> None:
        self.state.message.emit(title)
        self.failed.emit(title, message)

    def shutdown(self) -> None:
        self.backbone.shutdown()
