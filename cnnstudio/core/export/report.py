"""The deployment report of an export: what the model costs and how well each exported file does.

Measured on this machine when the export is written, for the PyTorch model and for every file the
export wrote (an INT8 export: the fp32 graph it was made from, and the INT8 file itself, each run in its
own runtime): the parameters, the multiply-accumulates per image (torch.utils.flop_counter), the file's
size, the latency for one image and for a batch of 32 (median and 90th percentile), and the test
accuracy and top-1 agreement with PyTorch on the same test images. Written beside the export as
`model-card.md` (a model card: the data it was trained on, its classes, its accuracy per class and its
known confusions, as Hugging Face's and Google's model cards give them) and as JSON; `cnnstudio export
--json` prints it, and the app's Export dialog shows it.
"""

from __future__ import annotations

import datetime
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstudio.core.export.metadata import ModelMetadata

if TYPE_CHECKING:  # torch is imported when a report is measured
    from torch import nn

REPORT_IMAGES = 2000  # test images the accuracies and agreements are measured on (all of a smaller set)
BATCH = 32
LATENCY_BUDGET_S = 0.6  # time spent timing one runtime at one batch size, after two warm-up runs
MIN_RUNS, MAX_RUNS = 5, 200
CONFUSIONS = 5  # the most frequent confusions listed
CARD_MARK = "<!-- CNN Studio model card -->"  # the first line of a card: an earlier card may be replaced
JSON_MARK = "cnnstudio_deployment_report"  # the key that marks a report's JSON as CNN Studio's

Logits = Callable[[np.ndarray], np.ndarray]  # float32 (N, C, H, W) normalised -> (N, classes)


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p90_ms: float
    runs: int


@dataclass(frozen=True)
class FormatRow:
    format: str  # "pytorch", "onnx", "onnx-int8", "torchscript", "web"
    title: str  # what a person reads: "ONNX INT8", "Web page (model.onnx)"
    file: str | None  # the file's name (None: the checkpoint's model in PyTorch)
    bytes: int | None
    runtime: str  # what ran it here, with its version
    single: Latency  # one image
    batch: Latency  # BATCH images
    accuracy: float | None  # on the labelled test images (None without labels)
    agreement: float  # top-1 agreement with PyTorch on the same images
    max_abs_diff: float  # largest logit difference from PyTorch
    note: str = ""


@dataclass(frozen=True)
class ClassRow:
    name: str
    accuracy: float
    support: int


@dataclass(frozen=True)
class Confusion:
    true: str
    predicted: str
    count: int
    share: float  # of the true class's test images


@dataclass(frozen=True)
class DeploymentReport:
    model: str
    dataset: str
    classes: list[str]
    input_shape: list[int]
    parameters: int
    macs: int  # multiply-accumulates for one image (FLOPs / 2 as torch.utils.flop_counter counts them)
    images: int  # test images the accuracy and agreement were measured on
    image_source: str
    formats: list[FormatRow]
    per_class: list[ClassRow]
    confusions: list[Confusion]
    preparation: str
    training: dict[str, Any] = field(default_factory=dict)
    machine: str = ""
    created: str = ""
    cnnstudio_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {JSON_MARK: 1, **asdict(self)}

    def row(self, fmt: str) -> FormatRow | None:
        return next((r for r in self.formats if r.format == fmt), None)

    def card(self) -> str:
        return card_text(self)


# -- measuring -------------------------------------------------------------------------------------
def count_macs(model: nn.Module, example: np.ndarray) -> int:
    """Multiply-accumulates of one forward pass on `example` (1, C, H, W), from torch's FLOP counter."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(torch.from_numpy(np.ascontiguousarray(example)))
    return int(counter.get_total_flops()) // 2


def time_calls(run: Callable[[], object], budget_s: float = LATENCY_BUDGET_S) -> Latency:
    """p50 and p90 of `run`'s wall time in ms: two warm-up calls, then MIN_RUNS to MAX_RUNS within the budget."""
    for _ in range(2):
        run()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < MAX_RUNS and (len(times) < MIN_RUNS or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1000)
    return Latency(round(float(np.percentile(times, 50)), 3), round(float(np.percentile(times, 90)), 3), len(times))


def machine() -> str:
    name = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{name or platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs"


@dataclass
class Runner:
    """One way of running the model: PyTorch, or an exported file in its runtime."""

    format: str
    title: str
    runtime: str
    logits: Logits
    file: str | None = None
    bytes: int | None = None
    note: str = ""


def measure(model: nn.Module, metadata: ModelMetadata, runners: list[Runner], inputs: np.ndarray,
            labels: np.ndarray | None, source: str, training: dict[str, Any] | None = None,
            budget_s: float = LATENCY_BUDGET_S) -> DeploymentReport:
    """The report for `runners` on normalised test `inputs` (and their labels, when known). The first
    runner is the reference every agreement is measured against (PyTorch)."""
    from cnnstudio import __version__

    single = np.ascontiguousarray(inputs[:1], np.float32)
    batch = np.ascontiguousarray(np.resize(inputs, (BATCH, *inputs.shape[1:])), np.float32)
    reference = runners[0].logits(inputs)
    rows = []
    for runner in runners:
        out = reference if runner is runners[0] else runner.logits(inputs)
        rows.append(FormatRow(
            format=runner.format, title=runner.title, file=runner.file, bytes=runner.bytes, runtime=runner.runtime,
            single=time_calls(partial(runner.logits, single), budget_s),
            batch=time_calls(partial(runner.logits, batch), budget_s),
            accuracy=None if labels is None else round(float((out.argmax(1) == labels).mean()), 6),
            agreement=round(float((out.argmax(1) == reference.argmax(1)).mean()), 6),
            max_abs_diff=float(np.abs(out - reference).max()) if out.size else 0.0, note=runner.note))
    per_class, confusions = _per_class(reference, labels, metadata.classes)
    return DeploymentReport(
        model=metadata.model, dataset=metadata.dataset, classes=list(metadata.classes),
        input_shape=list(metadata.input_shape), parameters=sum(int(p.numel()) for p in model.parameters()),
        macs=count_macs(model, single), images=len(inputs), image_source=source, formats=rows,
        per_class=per_class, confusions=confusions, preparation=metadata.framing.description or "",
        training=training or {}, machine=machine(),
        created=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        cnnstudio_version=__version__)


def _per_class(logits: np.ndarray, labels: np.ndarray | None,
               classes: list[str]) -> tuple[list[ClassRow], list[Confusion]]:
    if labels is None or not len(labels):
        return [], []
    predicted = logits.argmax(1)
    rows = []
    for k, name in enumerate(classes):
        mask = labels == k
        if mask.any():
            rows.append(ClassRow(name, round(float((predicted[mask] == k).mean()), 6), int(mask.sum())))
    n = len(classes)
    matrix = np.zeros((n, n), np.int64)
    np.add.at(matrix, (labels.astype(np.int64), predicted.astype(np.int64)), 1)
    np.fill_diagonal(matrix, 0)
    confusions = []
    for flat in np.argsort(-matrix, axis=None, kind="stable")[:CONFUSIONS]:
        t, p = divmod(int(flat), n)
        if matrix[t, p] == 0:
            break
        support = int((labels == t).sum())
        confusions.append(Confusion(classes[t], classes[p], int(matrix[t, p]), round(matrix[t, p] / support, 6)))
    return rows, confusions


def training_of(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """What the checkpoint says of its training: the dataset and its sizes, epochs, batch, optimizer."""
    config = _section(checkpoint, "config")
    dataset = _section(_section(checkpoint, "meta"), "dataset")
    out: dict[str, Any] = {}
    for key in ("title", "source", "train_samples", "val_samples", "test_samples"):
        if isinstance(dataset.get(key), (str, int, float)):
            out[f"dataset_{key}" if key in ("title", "source") else key] = dataset[key]
    for key in ("dataset", "epochs", "batch_size", "optimizer", "lr", "augment", "seed", "precision"):
        if isinstance(config.get(key), (str, int, float, bool)):
            out[key] = config[key]
    return out


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


# -- the model card --------------------------------------------------------------------------------
def _ms(lat: Latency) -> str:
    return f"{lat.p50_ms:.2f} / {lat.p90_ms:.2f}"


def size_text(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2%}"


def card_text(r: DeploymentReport) -> str:
    c, h, w = r.input_shape
    t = r.training
    sizes = ", ".join(f"{t[k]:,} {k.split('_')[0]}" for k in ("train_samples", "val_samples", "test_samples")
                      if isinstance(t.get(k), int))
    recipe = ", ".join(f"{k.replace('_', ' ')} {t[k]}" for k in ("epochs", "batch_size", "optimizer", "lr", "augment",
                                                                 "precision", "seed") if k in t)
    source = f" ({t['dataset_source']})" if t.get("dataset_source") else ""
    dataset = f"{t.get('dataset_title') or r.dataset}{source}"
    lines = [CARD_MARK, f"# Model card: {r.model}, trained on {r.dataset}", "",
             f"Exported with CNN Studio {r.cnnstudio_version} on {r.created}.", "",
             "## Model", "",
             f"- Architecture: {r.model}; {r.parameters:,} parameters; {r.macs:,} multiply-accumulates per image",
             (f"- Input: {w}x{h} {'grey' if c == 1 else 'colour'} pictures, prepared as the training pictures were "
              f"({r.preparation or 'scaled to the frame'})"),
             f"- Output: {len(r.classes)} classes, in this order: {', '.join(r.classes)}", "",
             "## Training data", "",
             f"- Dataset: {dataset}",
             f"- Pictures: {sizes}" if sizes else "- Pictures: not recorded in the checkpoint",
             f"- Training: {recipe}" if recipe else "- Training: not recorded in the checkpoint", "",
             "## Deployment report", "",
             (f"Measured on {r.images:,} {r.image_source}, on {r.machine}. Latency is wall time per call in ms, "
              f"median / 90th percentile, for one image and for a batch of {BATCH}; agreement is the share of test "
              "images whose top class is PyTorch's."), "",
             ("| format | file | size | runtime | 1 image (ms) | batch of 32 (ms) | test accuracy "
              "| agreement with PyTorch |"),
             "|---|---|---|---|---|---|---|---|"]
    for row in r.formats:
        shown = row.file or ("(checkpoint)" if row.format == "pytorch" else "(not written)")
        lines.append(f"| {row.title} | {shown} | {size_text(row.bytes)} | {row.runtime} | "
                     f"{_ms(row.single)} | {_ms(row.batch)} | {_pct(row.accuracy)} | {row.agreement:.2%} |")
    notes = [f"- {row.title}: {row.note}" for row in r.formats if row.note]
    if notes:
        lines += [""] + notes
    if r.per_class:
        lines += ["", "## Accuracy per class", "", "| class | accuracy | test images |", "|---|---|---|"]
        lines += [f"| {row.name} | {row.accuracy:.2%} | {row.support:,} |" for row in r.per_class]
    if r.confusions:
        lines += ["", "## Known confusions", "", "The most frequent mistakes of the model on the test images:", ""]
        lines += [f"- {c.true} taken for {c.predicted}: {c.count:,} times ({c.share:.1%} of the {c.true} pictures)"
                  for c in r.confusions]
    elif r.per_class:
        lines += ["", "## Known confusions", "", "None on these test images."]
    lines += ["", "## Limits", "",
              ("- The figures hold for pictures like the test pictures; pictures unlike the training data (other "
               "framing, lighting, style) can be classified with confidence and still be wrong."),
              "- The model always answers with one of its classes; it has no \"none of these\"."]
    return "\n".join(lines) + "\n"
