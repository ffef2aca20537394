"""The sanity check of Adebayo et al. (NeurIPS 2018): does an explanation depend on what the model learned?

The model's layers are re-initialised from the top down (cascading: the output layer first, then the one
below it as well, and so on down to the first), the explanation is recomputed after each step, and compared
with the trained model's by Spearman's rank correlation. A method that explains the model gives a different
picture once the weights are random; one whose picture stays the same (correlation >= FLAG_AT with every
layer randomised) shows the picture's edges, not the model, and is flagged.

The model is never changed: each step works on a deep copy. Qt-free.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnnstudio.core.inspection.display import layer_number
from cnnstudio.core.inspection.layers import backbone_stage_entries
from cnnstudio.core.inspection.methods import Cancelled, ExplanationCancelled, Progress, check_method, explain

FLAG_AT = 0.5  # rank correlation with every layer random at or above this: the picture barely changed
MAX_STEPS = 4  # explanations recomputed per method: a few points of the cascade, the last with every layer random

# A method for the check: (model, normalised picture, class) -> heatmap (H, W). Tests pass their own.
Explainer = Callable[[nn.Module, torch.Tensor, int], np.ndarray]


@dataclass(frozen=True)
class SanityStep:
    """The explanation with the layers from the top down to `down_to` randomised."""

    down_to: str  # the lowest layer randomised, as the app shows it ("layer 3", "ResNet-18 layer2")
    layers: int  # how many layer groups are random
    heatmap: np.ndarray  # float32 (H, W) 0..1
    spearman: float  # rank correlation with the trained model's heatmap (0 when either map is constant)


@dataclass(frozen=True)
class SanityResult:
    """One method's sanity check: the trained model's map and the randomised ones, top down."""

    method: str
    class_index: int
    trained: np.ndarray  # float32 (H, W)
    steps: tuple[SanityStep, ...]

    @property
    def final(self) -> float:
        """The rank correlation with every layer random."""
        return self.steps[-1].spearman

    @property
    def flagged(self) -> bool:
        """The picture barely changed with every layer random: the method does not explain this model."""
        return self.final >= FLAG_AT

    def verdict(self) -> str:
        if self.flagged:
            return (f"barely changes with random weights (ρ = {self.final:.2f}): it shows the picture, "
                    f"not what the model learned")
        return f"changes with the weights (ρ = {self.final:.2f}): it depends on what the model learned"


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps (average ranks for ties); 0 when either is constant."""
    from scipy.stats import rankdata

    ra, rb = rankdata(np.ravel(a)), rankdata(np.ravel(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


def layer_groups(model: nn.Module) -> list[tuple[str, list[nn.Module]]]:
    """What is randomised together, bottom to top: each spec layer that has weights (a residual block is one),
    and a pretrained backbone stage by stage. Returned as (label, modules)."""
    stages: dict[str, list[str]] = {}
    for key, label, _module in backbone_stage_entries(model):
        stages.setdefault(key.split(".", 1)[0], []).append(label)
    groups: list[tuple[str, list[nn.Module]]] = []
    for index, child in model.named_children():
        if not any(True for _ in child.parameters()):
            continue
        child_stages = getattr(child, "stages", None)
        if index in stages and callable(child_stages):
            parts: list[tuple[str, list[nn.Module]]] = child_stages()
            for label, (_, modules) in zip(stages[index], parts):
                groups.append((label, list(modules)))
            covered = {id(p) for _, ms in parts for m in ms for p in m.parameters()}
            rest = [m for m in child.modules() if any(id(p) not in covered for p in m.parameters(recurse=False))]
            if rest:  # the backbone's own adapter or classifier, above its stages
                groups.append((f"layer {layer_number(index)} (the rest)", rest))
        else:
            groups.append((f"layer {layer_number(index)}", [child]))
    return groups


def randomise(modules: list[nn.Module], seed: int) -> None:
    """Re-initialise every parameter of these modules (and BatchNorm's running statistics) in place, as a
    fresh layer would be."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for top in modules:
            for m in top.modules():
                reset = getattr(m, "reset_parameters", None)
                if callable(reset):
                    reset()
                elif any(True for _ in m.parameters(recurse=False)):
                    with torch.no_grad():
                        for p in m.parameters(recurse=False):
                            p.normal_(0, 0.02)


def cascade_points(count: int, max_steps: int = MAX_STEPS) -> list[int]:
    """How many groups (from the top) are random at each recomputed step: spread out, ending with all."""
    if count <= 0:
        return []
    points = sorted({max(1, round(count * (i + 1) / max_steps)) for i in range(max_steps)} | {count})
    return points


def sanity_check(model: nn.Module, x: torch.Tensor, method: str | Explainer, class_index: int,
                 baseline: torch.Tensor | None = None, max_steps: int = MAX_STEPS, seed: int = 0,
                 progress: Progress | None = None, cancelled: Cancelled | None = None,
                 name: str | None = None) -> SanityResult:
    """Cascading randomisation for one method (a name of methods.METHODS, or an Explainer) and one class."""
    if isinstance(method, str):
        check_method(method)
        label = method

        def run(m: nn.Module, xx: torch.Tensor, cls: int) -> np.ndarray:
            assert isinstance(m, nn.Sequential)
            return explain(m, xx, label, cls, baseline=baseline, cancelled=cancelled).heatmap
        explainer: Explainer = run
    else:
        explainer, label = method, name or str(getattr(method, "__name__", "custom"))
    trained = np.asarray(explainer(model, x, class_index), np.float32)
    groups = layer_groups(model)
    points = cascade_points(len(groups), max_steps)
    steps = []
    for n, count in enumerate(points):
        if cancelled is not None and cancelled():
            raise ExplanationCancelled("the sanity check was cancelled")
        if progress is not None:
            progress(n / max(len(points), 1))
        copy_ = copy.deepcopy(model)
        copy_groups = layer_groups(copy_)
        chosen = [m for _, ms in copy_groups[len(copy_groups) - count:] for m in ms]
        randomise(chosen, seed + n)
        heat = np.asarray(explainer(copy_, x, class_index), np.float32)
        steps.append(SanityStep(copy_groups[len(copy_groups) - count][0], count, heat, spearman(trained, heat)))
    if progress is not None:
        progress(1.0)
    return SanityResult(label, class_index, trained, tuple(steps))
