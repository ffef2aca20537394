"""Pretrained backbones: torchvision's ImageNet networks as one spec layer, and their weights files.

A backbone is one layer of a model spec ({"type": "backbone", "arch": "resnet18", ...}) followed by a
small head (dropout, linear). Inside, it adapts whatever the dataset gives (its own normalisation, grey
or colour, any size) to what the network was trained on (RGB at its resolution, ImageNet's mean and
std), so prediction, Draw, Inspect and export need nothing new: the checkpoint holds the whole model.

Weights come through torchvision's weights API (its URLs, file names and checksums; no second copy of
them) into the per-user `weights` folder: downloaded with progress and Cancel and checked against the
hash in their name, or imported from a file the user fetched elsewhere. torch is imported lazily: the
model editor reads BACKBONES before torch has loaded.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from cnnstudio.core.errors import CNNStudioError, DownloadCancelled

if TYPE_CHECKING:  # torch and torchvision are imported when a backbone is built or its weights are read
    from torch import nn

TRAIN_MODES = ("features", "last", "all")
BACKBONE_LR_SCALE = 0.1  # "all": the pretrained layers learn at a tenth of the head's rate


@dataclass(frozen=True)
class BackboneInfo:
    arch: str  # torchvision's model name
    title: str
    features: int  # length of the pooled feature vector
    params: int  # parameters without the ImageNet classifier
    imagenet_top1: float  # torchvision's published ImageNet accuracy of the default weights


BACKBONES: dict[str, BackboneInfo] = {b.arch: b for b in (
    BackboneInfo("resnet18", "ResNet-18", 512, 11_176_512, 69.76),
    BackboneInfo("mobilenet_v3_small", "MobileNetV3-Small", 576, 927_008, 67.67),
    BackboneInfo("mobilenet_v3_large", "MobileNetV3-Large", 960, 2_971_952, 75.27),
    BackboneInfo("efficientnet_b0", "EfficientNet-B0", 1280, 4_007_548, 77.69),
)}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# -- weights files -----------------------------------------------------------------------------------
def weights_dir() -> Path:
    from cnnstudio.core.paths import user_data_dir

    return user_data_dir() / "weights"


def _weights_enum(arch: str) -> Any:  # a torchvision WeightsEnum member (torchvision has no type information)
    import torchvision

    return torchvision.models.get_model_weights(arch).DEFAULT


def weights_url(arch: str) -> str:
    return str(_weights_enum(arch).url)


def weights_file_name(arch: str) -> str:
    """torchvision's file name, e.g. resnet18-f37072fd.pth (the part after the dash starts its sha256)."""
    return weights_url(arch).rsplit("/", 1)[-1]


def _hash_prefix(file_name: str) -> str | None:
    match = re.search(r"-([a-f0-9]{6,})\.", file_name)
    return match.group(1) if match else None


def find_weights(arch: str) -> Path | None:
    """The weights file for `arch` where CNN Studio keeps it, or in torch's own download cache."""
    name = weights_file_name(arch)
    candidates = [weights_dir() / name]
    try:
        import torch.hub

        candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / name)
    except Exception:  # noqa: BLE001 - no torch hub folder: only ours
        pass
    return next((p for p in candidates if p.is_file()), None)


def missing_weights_message(arch: str, why: str = "") -> str:
    info = BACKBONES[arch]
    name = weights_file_name(arch)
    return (f"The ImageNet weights of {info.title} ({name}) are not on this computer"
            + (f" and could not be downloaded ({why})" if why else "")
            + f". Download {weights_url(arch)} with a browser and put it in {weights_dir()}, or choose it with "
              "\"Import weights file…\" (command line: --weights FILE).")


# The largest published file of the backbones offered is ~100 MB; a larger "weights file" is not one.
MAX_WEIGHTS_BYTES = 1 << 30


def read_weights(arch: str, path: str | os.PathLike[str]) -> dict[str, Any]:
    """A weights file as a state dict that fits `arch` exactly (CNNStudioError in one line otherwise).

    What the file is checked for before any of it is used: a regular, non-empty file of plausible size;
    for torch's zip format, entries that do not unpack to far more than the file; a pickle that names no
    code to run (torch's weights_only loader refuses it; the message says so); a mapping of names to
    ordinary tensors; the very names and shapes the network has (compared with a model built on the
    meta device: no memory), and finite values."""
    import zipfile

    import torch

    from cnnstudio.core.torch_files import refusal_message, weight_dtypes, zip_unpack_problem

    path = Path(path)
    title = BACKBONES[arch].title
    try:
        if path.is_dir():
            raise CNNStudioError(f"{path} is a folder, not a weights file; choose the .pth file inside it")
        if not path.exists():
            raise CNNStudioError(f"weights file not found: {path}")
        size = path.stat().st_size
        if size == 0:
            raise CNNStudioError(f"{path} is empty (0 bytes): not a PyTorch weights file")
        if size > MAX_WEIGHTS_BYTES:
            raise CNNStudioError(f"{path} is {size / 1e9:.1f} GB, far larger than any {title} weights file")
        if zipfile.is_zipfile(path):
            problem = zip_unpack_problem(path)
            if problem:
                raise CNNStudioError(f"{path} {problem.replace('checkpoint', 'weights file')}")
        state = torch.load(path, map_location="cpu", weights_only=True)
    except CNNStudioError:
        raise
    except PermissionError:
        raise CNNStudioError(f"cannot read {path}: permission denied") from None
    except MemoryError:
        raise CNNStudioError(f"{path} is not a PyTorch weights file (it claims more memory than there is)") from None
    except Exception as exc:  # noqa: BLE001 - not a torch file, damaged, refused by weights_only
        refused = refusal_message(path, exc, "weights file")
        if refused:
            raise CNNStudioError(refused) from None
        raise CNNStudioError(f"{path} is not a PyTorch weights file ({type(exc).__name__}; truncated, "
                             "damaged or another kind of file)") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CNNStudioError(f"{path} does not hold a state dict of weights (names mapped to tensors)")
    with torch.device("meta"):
        needed = _torchvision_model(arch).state_dict()
    missing = [k for k in needed if k not in state]
    unexpected = [k for k in state if k not in needed]
    if missing or unexpected:
        if len(missing) > len(needed) // 2:
            what = f"it holds the weights of another network ({len(missing)} of its {len(needed)} tensors are missing)"
        elif missing:
            what = f"{len(missing)} of its tensors are missing (e.g. '{_name(missing[0])}')"
        else:
            what = f"it holds {len(unexpected)} tensor(s) the network does not have (e.g. '{_name(unexpected[0])}')"
        raise CNNStudioError(f"{path.name} does not fit {title}: {what}")
    for key, want in needed.items():
        have = state[key]
        if have.layout != torch.strided or have.dtype not in weight_dtypes():
            raise CNNStudioError(f"{path.name} does not fit {title}: '{_name(key)}' is a "
                                 f"{'sparse' if have.layout != torch.strided else have.dtype} tensor")
        if tuple(have.shape) != tuple(want.shape):
            raise CNNStudioError(f"{path.name} does not fit {title}: '{_name(key)}' has shape {list(have.shape)[:8]} "
                                 f"but the network needs {list(want.shape)}")
        if have.is_floating_point() != want.is_floating_point():
            raise CNNStudioError(f"{path.name} does not fit {title}: '{_name(key)}' holds "
                                 f"{'numbers with decimals' if have.is_floating_point() else 'whole numbers'}")
        if have.is_floating_point() and not bool(torch.isfinite(have).all()):
            raise CNNStudioError(f"{path.name} holds NaN or infinite values ('{_name(key)}'): it would train nothing")
    return state


def _torchvision_model(arch: str) -> nn.Module:
    import torchvision

    model: nn.Module = torchvision.models.get_model(arch, weights=None)
    return model


def _name(key: str) -> str:
    return key if len(key) <= 80 else key[:77] + "..."


def sha256_of(path: Path) -> str:
    from cnnstudio.core.datasets.download import file_digest

    return file_digest(path, "sha256")


def import_weights(arch: str, path: str | os.PathLike[str]) -> tuple[Path, str]:
    """Copy a weights file the user fetched into the weights folder, after checking that it fits `arch`.
    Returns (where it now is, a note: whether it is torchvision's published file).

    The copy is what gets checked (a hidden temporary file beside the target, renamed into place only
    when it passes), so the file kept is the file checked, and a refused file leaves nothing behind."""
    source = Path(path).expanduser()
    target = weights_dir() / weights_file_name(arch)
    try:
        same_file = source.resolve() == target.resolve()
    except OSError:
        same_file = False
    if same_file:
        read_weights(arch, target)
    else:
        read_weights(arch, source)  # refuse early, before writing anything
        temp = target.with_name(f".{target.name}.{os.getpid()}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, temp)
            read_weights(arch, temp)
            os.replace(temp, target)
        except OSError as exc:
            raise CNNStudioError(f"cannot keep {source.name} in {target.parent} "
                                 f"({exc.strerror or type(exc).__name__}); nothing was imported") from None
        finally:
            temp.unlink(missing_ok=True)
    prefix = _hash_prefix(target.name)
    same = prefix is not None and sha256_of(target).startswith(prefix)
    note = ("torchvision's published ImageNet weights (checksum verified)" if same else
            "weights that fit the network but are not torchvision's published file (checksum differs); "
            "they are used as given")
    return target, note


def download_weights(arch: str, progress: Callable[[int, int], None] | None = None,
                     cancel: Callable[[], bool] | None = None) -> Path:
    """Download torchvision's weights for `arch` into the weights folder, checked against the sha256
    prefix in the file's name. Raises CNNStudioError with missing_weights_message when it cannot."""
    from cnnstudio.core.datasets.download import _FileFailed, _Transfer, RemoteFile, _download_file

    if os.environ.get("CNNSTUDIO_OFFLINE"):
        # Set by whoever must never touch the network (the test suite; a lab with metered access).
        raise CNNStudioError(missing_weights_message(arch, "CNNSTUDIO_OFFLINE is set, so nothing is downloaded"))
    name = weights_file_name(arch)
    folder = weights_dir()
    folder.mkdir(parents=True, exist_ok=True)
    remote = RemoteFile(name, None, (weights_url(arch),))
    transfer = _Transfer([remote], progress, cancel)
    try:
        path = _download_file(remote, folder, 0, transfer)
    except DownloadCancelled:
        raise
    except _FileFailed as exc:
        why = "no network" if exc.offline else "; ".join(exc.problems[:1])
        raise CNNStudioError(missing_weights_message(arch, why)) from None
    prefix = _hash_prefix(name)
    if prefix and not sha256_of(path).startswith(prefix):
        path.unlink(missing_ok=True)
        raise CNNStudioError(missing_weights_message(arch, "the downloaded file's checksum is wrong"))
    return path


def ensure_weights(arch: str, progress: Callable[[int, int], None] | None = None,
                   cancel: Callable[[], bool] | None = None, download: bool = True) -> Path:
    """The weights file for `arch`: found, or downloaded when allowed."""
    found = find_weights(arch)
    if found is not None:
        return found
    if not download:
        raise CNNStudioError(missing_weights_message(arch))
    return download_weights(arch, progress, cancel)


# -- the spec layer ----------------------------------------------------------------------------------
def make_backbone(arch: str, resolution: int, train: str, weights: str = "imagenet", in_channels: int = 3) -> Any:
    """The nn.Module of a backbone layer (weights not loaded: prepare_backbones does that). Typed Any: its
    class, Backbone, is defined when torch is first needed, so no annotation outside can name it."""
    return _backbone_class()(arch, resolution, train, weights, in_channels)


_CLASS: Any = None


def _backbone_class() -> Any:
    """Backbone, defined on first use so this module imports without torch."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    import torch
    import torch.nn.functional as F
    import torchvision
    from torch import nn

    class Backbone(nn.Module):
        """torchvision's network without its ImageNet classifier: image -> pooled features (N, F).

        forward() first undoes the dataset's normalisation (buffers set by set_input_stats, saved in
        the checkpoint), repeats grey to RGB, resizes to the network's resolution and applies
        ImageNet's normalisation: the rest of CNN Studio feeds it exactly what it feeds any model.
        """

        input_mean: torch.Tensor  # buffers (register_buffer below), named here for their type
        input_std: torch.Tensor
        imagenet_mean: torch.Tensor
        imagenet_std: torch.Tensor

        def __init__(self, arch: str, resolution: int, train: str, weights: str = "imagenet", in_channels: int = 3):
            super().__init__()
            self.arch, self.resolution, self.train_mode = arch, int(resolution), train
            self.pretrained = weights == "imagenet"
            net = torchvision.models.get_model(arch, weights=None)
            if hasattr(net, "fc"):
                net.fc = nn.Identity()
            else:
                net.classifier = nn.Identity()
            self.net = net
            # Saved with the model: prediction and export undo exactly the normalisation training used.
            self.register_buffer("input_mean", torch.zeros(1, in_channels, 1, 1))
            self.register_buffer("input_std", torch.ones(1, in_channels, 1, 1))
            self.register_buffer("imagenet_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("imagenet_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
            self._frozen: list[nn.Module] = []
            self.set_train_mode(train)

        def set_input_stats(self, mean: Sequence[float], std: Sequence[float]) -> None:
            """The dataset normalisation the model's input arrives with (per channel, 0..1 units)."""
            device = self.input_mean.device
            self.input_mean.copy_(torch.tensor(list(mean), dtype=torch.float32, device=device).view(1, -1, 1, 1))
            self.input_std.copy_(torch.tensor(list(std), dtype=torch.float32, device=device).view(1, -1, 1, 1))

        def load_pretrained(self, state: dict[str, Any]) -> None:
            own = {k: v for k, v in state.items() if not k.startswith(("fc.", "classifier."))}
            self.net.load_state_dict(own, strict=True)

        def stages(self) -> list[tuple[str, list[nn.Module]]]:
            """The network's stages in order: (name, modules)."""
            n = self.net
            if self.arch.startswith("resnet"):
                return [("stem", [n.conv1, n.bn1, n.relu, n.maxpool])] + [
                    (f"layer{i}", [getattr(n, f"layer{i}")]) for i in range(1, 5)]
            return [(f"features.{i}", [m]) for i, m in enumerate(n.features)]

        def trainable_stages(self) -> int:
            """How many stages (from the end) learn: 0 (features), the last resolution's (last), all."""
            stages = self.stages()
            if self.train_mode == "all":
                return len(stages)
            if self.train_mode == "features":
                return 0
            if self.arch.startswith("resnet"):
                return 1
            # The blocks after the last downsampling: the network's last stage at its lowest resolution.
            sizes = []
            x = torch.zeros(1, 3, 64, 64)
            was_training = self.net.training
            self.net.eval()  # a probe: BatchNorm statistics must not learn from it
            with torch.no_grad():
                for _, modules in stages:
                    for m in modules:
                        x = m(x)
                    sizes.append(x.shape[-1])
            self.net.train(was_training)
            last = len(sizes) - 1
            while last > 0 and sizes[last - 1] == sizes[-1]:
                last -= 1
            return len(stages) - last

        def set_train_mode(self, train: str) -> None:
            self.train_mode = train
            stages = self.stages()
            keep = self.trainable_stages()
            self._frozen = [m for _, modules in stages[:len(stages) - keep] for m in modules]
            for m in self._frozen:
                for p in m.parameters():
                    p.requires_grad_(False)
            for _, modules in stages[len(stages) - keep:]:
                for m in modules:
                    for p in m.parameters():
                        p.requires_grad_(True)

        def train(self, mode: bool = True) -> Backbone:
            super().train(mode)
            for m in self._frozen:  # frozen layers keep ImageNet's BatchNorm statistics
                m.train(False)
            return self

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x * self.input_std + self.input_mean
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            if x.shape[-2:] != (self.resolution, self.resolution):
                x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)
            features: torch.Tensor = self.net((x - self.imagenet_mean) / self.imagenet_std)
            return features

    _CLASS = Backbone
    return _CLASS


def input_size(spec: dict[str, Any] | None) -> int | None:
    """The resolution a spec's backbone looks at (the largest, if several), None without one: a folder
    of pictures for it is best decoded at that size rather than the small one chosen for scratch nets."""
    sizes = [int(layer.get("resolution") or 224) for layer in (spec or {}).get("layers", [])
             if isinstance(layer, dict) and layer.get("type") == "backbone"]
    return max(sizes) if sizes else None


def backbone_layer_index(spec: dict[str, Any] | None) -> int | None:
    """The index of a spec's (first) backbone layer, None without one."""
    for i, layer in enumerate((spec or {}).get("layers", [])):
        if isinstance(layer, dict) and layer.get("type") == "backbone":
            return i
    return None


def backbones_in(model: nn.Module) -> list[Any]:
    """The Backbone modules of a built model."""
    cls = _backbone_class()
    return [m for m in model.modules() if isinstance(m, cls)]


def prepare_backbones(model: nn.Module, mean: Sequence[float], std: Sequence[float], *, load_weights: bool,
                      weights_file: str | os.PathLike[str] | None = None,
                      progress: Callable[[int, int], None] | None = None, cancel: Callable[[], bool] | None = None,
                      download: bool = True) -> list[str]:
    """Before training: give every backbone the dataset's normalisation and (load_weights) its ImageNet
    weights (weights_file, else found or downloaded). Returns notes for the user."""
    notes = []
    for backbone in backbones_in(model):
        backbone.set_input_stats(mean, std)
        if not load_weights or not backbone.pretrained:
            continue
        path = Path(weights_file) if weights_file else ensure_weights(backbone.arch, progress, cancel, download)
        backbone.load_pretrained(read_weights(backbone.arch, path))
        notes.append(f"{BACKBONES[backbone.arch].title}: ImageNet weights from {path}")
    return notes


@dataclass(frozen=True)
class StageRow:
    name: str
    out_shape: tuple[int, int, int]  # (C, H, W) after the stage
    params: int
    trainable: bool


@dataclass(frozen=True)
class BackboneStages:
    """A backbone layer's stages as the spec asks for them: what learns, at which resolution."""

    arch: str
    train: str  # "features", "last" or "all"
    resolution: int
    rows: tuple[StageRow, ...]


def stage_table(arch: str, resolution: int, train: str) -> list[StageRow]:
    """Each stage of a backbone at `resolution`: its output shape, parameters and whether it learns in
    `train` mode. Built on the meta device: shapes only, no memory and no weights file needed."""
    import torch

    with torch.device("meta"):
        backbone = make_backbone(arch, resolution, train)
        x = torch.zeros(1, 3, resolution, resolution)
        rows = []
        with torch.no_grad():
            for name, modules in backbone.stages():
                for m in modules:
                    x = m(x)
                params = sum(p.numel() for m in modules for p in m.parameters())
                learns = any(p.requires_grad for m in modules for p in m.parameters())
                c, h, w = (int(v) for v in x.shape[1:])
                rows.append(StageRow(name, (c, h, w), params, learns))
    return rows


def weights_status(arch: str) -> tuple[Path | None, str]:
    """(the weights file if found, a line saying where it is or that it is missing)."""
    info = BACKBONES[arch]
    found = find_weights(arch)
    name = weights_file_name(arch)
    if found is not None:
        return found, f"ImageNet weights of {info.title}: {found}"
    size = _weights_enum(arch).meta.get("_file_size")
    return None, (f"The ImageNet weights of {info.title} ({name}" + (f", {size:.0f} MB" if size else "")
                  + ") are not on this computer yet: download them now, or import a copy you have.")
