"""A run's configuration as the command line that reproduces it: plain or under torchrun.

The app's "Export command line" uses this, so a run set up by clicking can be repeated headless or
taken to a cluster. Only settings that differ from the dataset's defaults are spelled out.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from cnnstudio.core.training.config import AUGMENT_PRESETS, Augmentation, TrainConfig
from cnnstudio.core.training.recommend import default_config


def augment_flag(aug: Augmentation) -> str:
    """The --augment name of `aug` ("default" when no preset matches: the dataset's own is used)."""
    return next((name for name, preset in AUGMENT_PRESETS.items() if preset == aug), "default")


def train_arguments(config: TrainConfig, spec_path: str | None = None) -> list[str]:
    """`cnnstudio train` arguments for this config. A custom architecture needs its JSON file (spec_path)."""
    base = default_config(config.dataset if not Path(config.dataset).exists() else "folder", config.model,
                          spec=config.spec, epochs=config.epochs)
    model = spec_path or config.model
    args = ["train", "--dataset", config.dataset, "--model", model, "--epochs", str(config.epochs),
            "--batch-size", str(config.batch_size), "--lr", f"{config.lr:g}", "--optimizer", config.optimizer,
            "--schedule", config.schedule]
    if config.weight_decay != base.weight_decay or config.weight_decay:
        args += ["--weight-decay", f"{config.weight_decay:g}"]
    if config.label_smoothing:
        args += ["--label-smoothing", f"{config.label_smoothing:g}"]
    own_folder = Path(config.dataset).exists()  # its defaults come from its images: see below
    if config.val_split != base.val_split or own_folder:
        args += ["--val-split", f"{config.val_split:g}"]
    # A folder's defaults come from its images, which this function does not see: its validation split,
    # early stopping and augmentation are always spelled out, so the command trains what the app would.
    if config.warmup_epochs != base.warmup_epochs or own_folder:
        args += ["--warmup", f"{config.warmup_epochs:g}"]
    if config.class_weights != base.class_weights or own_folder:
        args += ["--class-weights" if config.class_weights else "--no-class-weights"]
    if not config.recover:
        args += ["--no-recover"]
    if config.early_stopping_patience or own_folder:
        args += ["--early-stopping", str(config.early_stopping_patience)]
    if config.seed:
        args += ["--seed", str(config.seed)]
    if config.limit_train:
        args += ["--limit-train", str(config.limit_train)]
    if config.precision != "auto":
        args += ["--precision", config.precision]
    if config.data_dir:
        args += ["--data-dir", config.data_dir]
    if own_folder or config.augment != base.augment:
        args += ["--augment", augment_flag(config.augment)]
    return args


def command_line(config: TrainConfig, spec_path: str | None = None, device: str | None = None) -> str:
    args = ["cnnstudio", *train_arguments(config, spec_path)]
    if device or config.device != "auto":
        args += ["--device", device or config.device]
    return shlex.join(args + ["--json"])


def torchrun_command(config: TrainConfig, nproc_per_node: int = 1, nnodes: int = 1,
                     rdzv_endpoint: str = "$HEAD_NODE:29500", spec_path: str | None = None) -> str:
    launcher = ["torchrun", "--nproc-per-node", str(nproc_per_node)]
    if nnodes > 1:
        launcher += ["--nnodes", str(nnodes), "--rdzv-backend", "c10d", "--rdzv-endpoint", rdzv_endpoint,
                     "--rdzv-id", "cnnstudio"]
    else:
        launcher += ["--standalone"]
    tail = shlex.join(["-m", "cnnstudio", *train_arguments(config, spec_path), "--json"])
    # The endpoint may hold a shell variable the user fills in: leave it unquoted.
    return " ".join(shlex.quote(a) if not a.startswith("$") else a for a in launcher) + " " + tail


def launcher_script(config: TrainConfig, nproc_per_node: int = 1, nnodes: int = 1,
                    spec_path: str | None = None) -> str:
    """A small bash launcher for a cluster node (works as is on one node; set HEAD_NODE for several)."""
    cmd = torchrun_command(config, nproc_per_node, nnodes, spec_path=spec_path)
    return f"""#!/usr/bin/env bash
# CNN Studio run exported from the app. Run it on every node (or from SLURM: see docs/scaling.md).
# Needs CNN Studio installed (pip install cnnstudio, or the project's `make install`).
set -euo pipefail
HEAD_NODE="${{HEAD_NODE:-localhost}}"   # the first node's address when training on several nodes
{cmd}
"""
