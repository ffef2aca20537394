"""The command line: a thin layer over cnnstudio.core.

`cnnstudio` with no arguments opens the desktop app. Every subcommand that takes --json prints one
JSON value on the last line of stdout. Mistakes a user can make (unknown dataset, bad size, a
checkpoint that does not fit) end with one clear line on stderr and a non-zero exit, no traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any
from collections.abc import Sequence

from cnnstudio import __version__
from cnnstudio.cli_signals import first_ctrl_c_stops
from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.text import printable
from cnnstudio.core.training.config import AUGMENT_PRESETS

EXIT_ERROR = 2
EXIT_FAILED = 1
EXIT_STOPPED = 130


class CLIError(CNNStudioError):
    pass


# No option takes a number beyond these: refused as typed, before any arithmetic can overflow with it
# (each setting's own range is then TrainConfig.validate's, the one place that knows it).
MAX_OPTION_INT = 10**12
MAX_OPTION_FLOAT = 1e15


def _whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:  # also Python's refusal of integers of more than 4,300 digits
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{shown}'") from None
    if abs(value) > MAX_OPTION_INT:
        raise argparse.ArgumentTypeError(
            f"must be at most {MAX_OPTION_INT:,}, got a {len(str(abs(value)))}-digit number")
    return value


def positive_int(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"cannot be negative, got {value}")
    return value


def finite_float(text: str) -> float:
    shown = text if len(text) <= 40 else text[:37] + "..."
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{shown}'") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got '{shown}'")
    if abs(value) > MAX_OPTION_FLOAT:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_OPTION_FLOAT:g}, got '{shown}'")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value:g}")
    return value


def learning_rate(text: str) -> float | str:
    """--lr: a positive number, or "auto" (the learning-rate finder chooses)."""
    return "auto" if text.strip().lower() == "auto" else positive_float(text)


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"cannot be negative, got {value:g}")
    return value


def seed_int(text: str) -> int:
    from cnnstudio.core.training.config import MAX_SEED

    value = non_negative_int(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SEED}, got {value}")
    return value


def fraction(text: str) -> float:
    value = finite_float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value:g}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnstudio", description="CNN Studio: train and understand convolutional networks. "
        "Run without a command to open the desktop app.")
    parser.add_argument("--version", action="version", version=f"CNN Studio {__version__}")
    parser.add_argument("--self-test", action="store_true",
                        help="open the app, train a short shapes run, predict a drawing, exit 0 if all worked")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("app", help="open the desktop app (the default)")

    p = sub.add_parser("datasets", help="list datasets, or download one")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.add_argument("--download", metavar="NAME", help="download a dataset into the user's data folder")

    p = sub.add_parser("models", help="list the architecture presets, or show one's layer table")
    p.add_argument("--dataset", metavar="D", default="shapes", help="size the models for this dataset")
    p.add_argument("--show", metavar="NAME", help="print the per-layer shape table of a preset or JSON spec")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("devices", help="list the devices training can run on")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("train", help="train a model headless")
    p.add_argument("--dataset", required=False, metavar="D", help="registered name, IDX folder or image folder")
    p.add_argument("--model", metavar="M", help="preset name or JSON spec file (default: the one recommended for "
                   "the data)")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--lr", type=learning_rate, help='a number, or "auto": the learning-rate finder chooses it')
    p.add_argument("--weight-decay", type=non_negative_float)
    p.add_argument("--optimizer", choices=["adam", "adamw", "sgd"])
    p.add_argument("--schedule", choices=["constant", "step", "cosine", "onecycle"])
    p.add_argument("--label-smoothing", type=fraction)
    p.add_argument("--class-weights", action=argparse.BooleanOptionalAction, default=None,
                   help="weight the loss by class, for unbalanced classes (default: on when the most common "
                        "class has more than 3x the images of the rarest)")
    p.add_argument("--no-recover", dest="recover", action="store_false", default=None,
                   help="stop when the loss blows up or stays at chance, instead of going back to the last good "
                        "state with a lower learning rate (up to 3 times)")
    p.add_argument("--warmup", type=non_negative_float, metavar="EPOCHS",
                   help="epochs of learning-rate warm-up (default: the data's recommendation)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"])
    p.add_argument("--val-split", type=fraction)
    p.add_argument("--augment", choices=["default", *AUGMENT_PRESETS],
                   help="augmentation preset (default: the dataset's)")
    p.add_argument("--early-stopping", type=non_negative_int, metavar="PATIENCE",
                   help="stop after this many epochs without validation improvement (0: off)")
    p.add_argument("--seed", type=seed_int)
    p.add_argument("--limit-train", type=positive_int, metavar="N", help="train on the first N samples only")
    p.add_argument("--data-dir", metavar="DIR", help="folder holding (or receiving) the dataset's files")
    p.add_argument("--download", action="store_true", help="download the dataset first if it is missing")
    p.add_argument("--weights", metavar="FILE", help="for a pretrained backbone: its ImageNet weights file, fetched "
                   "elsewhere (checked, then kept in the weights folder for later runs)")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default: a new folder under the runs folder)")
    p.add_argument("--resume", metavar="CKPT", help="continue a run from its last.pt")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on the last line")

    p = sub.add_parser("lr-find", help="find a learning rate: a short run with a rising learning rate (range test)")
    p.add_argument("--dataset", required=True, metavar="D", help="registered name, IDX folder or image folder")
    p.add_argument("--model", metavar="M", help="preset name or JSON spec file (default: the one recommended)")
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--optimizer", choices=["adam", "adamw", "sgd"])
    p.add_argument("--weight-decay", type=non_negative_float)
    p.add_argument("--augment", choices=["default", *AUGMENT_PRESETS])
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"])
    p.add_argument("--seed", type=seed_int)
    p.add_argument("--limit-train", type=positive_int, metavar="N", help="use the first N samples only")
    p.add_argument("--data-dir", metavar="DIR", help="folder holding (or receiving) the dataset's files")
    p.add_argument("--download", action="store_true", help="download the dataset first if it is missing")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the loss against the learning rate into a new PNG")
    p.add_argument("--json", action="store_true", help='print one JSON object: {"suggested_lr", "rule", "lrs", '
                   '"losses"}')
    p.set_defaults(epochs=None, lr=None, schedule=None, val_split=None, label_smoothing=None, early_stopping=None,
                   warmup=None, class_weights=None, recover=None)

    from cnnstudio.cli_sweep import add_parser as add_sweep_parser

    add_sweep_parser(sub, positive_int, positive_float, seed_int)

    from cnnstudio.cli_doctor import add_parser as add_doctor_parser

    add_doctor_parser(sub, positive_int, seed_int)

    from cnnstudio.cli_explain import add_parser as add_explain_parser

    add_explain_parser(sub, non_negative_int)

    p = sub.add_parser("evaluate", help="evaluate a checkpoint on a dataset's test split")
    p.add_argument("--checkpoint", required=True, metavar="C")
    p.add_argument("--dataset", metavar="D", help="default: the dataset the checkpoint was trained on")
    p.add_argument("--data-dir", metavar="DIR")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("predict", help="classify image files, a whole folder or a video's frames with a checkpoint")
    p.add_argument("--checkpoint", required=True, metavar="C")
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.add_argument("--folder", metavar="DIR", help="classify every image below DIR (recursive); with class "
                   "subfolders named like the model's classes, also report the accuracy")
    p.add_argument("--csv", metavar="OUT", help="with --folder or --video: write one row per image or frame to OUT")
    p.add_argument("--strict", action="store_true", help="with --folder: exit 1 when any file was skipped "
                   "(default: exit 0 when any image was classified)")
    p.add_argument("--top-k", type=positive_int, default=3)
    p.add_argument("--json", action="store_true")
    from cnnstudio.cli_video import add_parser as add_frames_parser, add_predict_options

    add_predict_options(p, positive_int)
    add_frames_parser(sub, positive_int)

    from cnnstudio.cli_export import add_parser as add_export_parser

    add_export_parser(sub, positive_int)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        if args.self_test:
            from cnnstudio.selftest import run_self_test

            return run_self_test()
        if args.command in (None, "app"):
            from cnnstudio.ui.app import run_app

            return run_app()
        handler = {"datasets": cmd_datasets, "models": cmd_models, "devices": cmd_devices, "train": cmd_train,
                   "evaluate": cmd_evaluate, "predict": cmd_predict, "export": cmd_export,
                   "lr-find": cmd_lr_find, "sweep": cmd_sweep, "doctor": cmd_doctor, "frames": cmd_frames,
                   "explain": cmd_explain}[args.command]
        return handler(args)
    except CNNStudioError as exc:
        print(f"cnnstudio: error: {printable(exc)}", file=sys.stderr)  # one line, whatever a quoted name holds
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("cnnstudio: interrupted", file=sys.stderr)
        return EXIT_STOPPED


def print_json(value: Any) -> None:
    """One line of strict JSON: NaN and infinities (a diverged metric) become null, as JSON has neither."""
    print(json.dumps(_finite(value), default=_json_default, allow_nan=False))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _finite(value.tolist())
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_table(rows: list[list[str]], header: list[str]) -> None:
    """Aligned columns; every cell shown through printable (a class or file name is one cell on one line)."""
    rows = [[printable(c) for c in r] for r in rows]
    header = [printable(h) for h in header]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def human_bytes(n: int | None) -> str:
    if not n:
        return "-"
    size: float = n
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return str(size)


# -- datasets ---------------------------------------------------------------------------------------
def cmd_datasets(args) -> int:
    from cnnstudio.core.datasets import download_dataset, list_datasets

    if args.download:
        progress = TerminalProgress(f"downloading {args.download}") if sys.stderr.isatty() else None
        path = download_dataset(args.download, progress=progress.bytes if progress else None)
        if progress:
            progress.close()
        print(f"{args.download} is ready in {path}")
        return 0
    infos = list_datasets()
    if args.json:
        print_json([i.to_dict() for i in infos])
        return 0
    rows = []
    for i in infos:
        where = i.location or "-"
        status = "available" if i.available else f"needs download ({human_bytes(i.download_bytes)})"
        rows.append([i.name, i.title, str(len(i.classes)), "x".join(map(str, i.input_shape)), status, where])
    print_table(rows, ["name", "title", "classes", "input", "status", "location"])
    return 0


def dataset_shape(name: str) -> tuple[tuple[int, int, int], int]:
    """(input shape, classes) of a registered dataset without loading it, or of a folder by loading it."""
    from cnnstudio.core.datasets import dataset_info, load_dataset

    if Path(name).exists():
        ds = load_dataset(name)
        return ds.input_shape, ds.num_classes
    info = dataset_info(name)
    c, h, w = info.input_shape
    return (c, h, w), len(info.classes)


# -- models -----------------------------------------------------------------------------------------
def cmd_models(args) -> int:
    from cnnstudio.core.models.presets import list_presets, resolve_spec
    from cnnstudio.core.models.spec import infer_shapes

    input_shape, classes = dataset_shape(args.dataset)
    if args.show:
        spec = resolve_spec(args.show)
        report = infer_shapes(spec, input_shape, classes)
        if args.json:
            print_json({"name": spec.get("name", args.show), "input_shape": list(input_shape),
                        "total_params": report.total_params, "error": report.error,
                        "layers": [layer_to_dict(layer) for layer in report.layers]})
            return 0 if report.ok else EXIT_ERROR
        print(printable(f"{spec.get('name', args.show)}: {spec.get('description', '')}"))  # a user's JSON
        print(f"input {'x'.join(map(str, input_shape))}, {classes} classes\n")
        rows = [[str(layer.index + 1), layer.label, "x".join(map(str, layer.out_shape)), f"{layer.params:,}",
                 layer.arithmetic or ""] for layer in report.layers]
        print_table(rows, ["#", "layer", "output", "params", "arithmetic"])
        print(f"\ntotal parameters: {report.total_params:,}")
        if not report.ok:
            print(f"cnnstudio: error: {printable(report.error)}", file=sys.stderr)
            return EXIT_ERROR
        return 0
    presets = list_presets()
    out = []
    for spec in presets:
        report = infer_shapes(spec, input_shape, classes)
        out.append({"name": spec["name"], "description": spec.get("description", ""),
                    "params": report.total_params if report.ok else None, "error": report.error})
    if args.json:
        print_json(out)
        return 0
    rows = [[m["name"], f"{m['params']:,}" if m["params"] is not None else "n/a", m["description"]] for m in out]
    print(f"presets sized for {args.dataset} ({'x'.join(map(str, input_shape))}, {classes} classes):\n")
    print_table(rows, ["name", "params", "description"])
    return 0


def layer_to_dict(layer) -> dict[str, Any]:
    return {"index": layer.index, "type": layer.type, "label": layer.label, "in_shape": list(layer.in_shape),
            "out_shape": list(layer.out_shape), "params": layer.params, "arithmetic": layer.arithmetic}


def cmd_devices(args) -> int:
    from cnnstudio.core.training.device import available_devices

    devices = available_devices()
    if args.json:
        print_json([{"name": d.id, **d.to_dict()} for d in devices])
        return 0
    rows = [[d.id, d.name, human_bytes(d.memory_bytes) if d.memory_bytes else "-", d.detail] for d in devices]
    print_table(rows, ["device", "name", "memory", "detail"])
    return 0


# -- train ------------------------------------------------------------------------------------------


def config_from_args(args, data=None, rec=None):
    """The run's TrainConfig: the defaults recommended for the data (`data`: the loaded Dataset, which
    decides for a folder of one's own; `rec`: that recommendation when the caller has made it already),
    then every option given."""
    from cnnstudio.core.training.config import build_config

    if rec is None:
        rec = _recommend_for_args(args, data)
    return build_config(rec.config, train_overrides(args))


def _recommend_for_args(args, data):
    """recommend() for the dataset and model the options name (`data`: the loaded Dataset, or None)."""
    from cnnstudio.core.training.recommend import recommend

    dataset = args.dataset or "shapes"
    return recommend(dataset if data is not None or not Path(dataset).exists() else "folder", data,
                     args.model, epochs=args.epochs)


def checked_options(args):
    """Every option checked before any data is loaded (a bad value is refused before a download): the
    options on the data-free defaults for this dataset's name (a folder's own are known once its images
    are). Not the run's config: the recommendation for the loaded data comes after."""
    from cnnstudio.core.training.config import build_config, data_config

    dataset = args.dataset or "shapes"
    return build_config(data_config(dataset if not Path(dataset).exists() else "folder", args.model),
                        train_overrides(args))


def train_overrides(args) -> dict:
    """The options given on the command line, as TrainConfig fields (those left out are not there)."""
    overrides = {
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "optimizer": args.optimizer,
        "schedule": args.schedule, "precision": args.precision, "val_split": args.val_split, "seed": args.seed,
        "limit_train": args.limit_train, "data_dir": args.data_dir, "weight_decay": args.weight_decay,
        "label_smoothing": args.label_smoothing, "early_stopping_patience": args.early_stopping,
        "warmup_epochs": args.warmup, "class_weights": args.class_weights, "recover": args.recover,
    }
    overrides = {key: value for key, value in overrides.items() if value is not None}
    overrides.update(dataset=args.dataset or "shapes", device=args.device)
    if args.augment and args.augment != "default":
        overrides["augment"] = dataclasses.replace(AUGMENT_PRESETS[args.augment])  # a copy, not the table's
    if args.model and Path(args.model).suffix.lower() == ".json":
        from cnnstudio.core.models.presets import resolve_spec

        overrides["spec"] = resolve_spec(args.model)
    return overrides


def cmd_train(args) -> int:
    from cnnstudio.core.training import distributed as dist
    from cnnstudio.core.training.config import TrainConfig
    from cnnstudio.core.training.trainer import Trainer

    auto_lr = args.lr == "auto" and not args.resume  # the finder runs once the data is loaded
    if auto_lr:
        args.lr = None
    if args.resume:
        ignored = [flag for flag, value in _resume_fixed_options(args) if value is not None and value is not False]
        if ignored:
            raise CLIError(f"--resume continues a run with its saved settings, so {', '.join(ignored)} cannot be "
                           "changed (only --epochs, --device, --data-dir, --out and --json can). Start a new run "
                           "to train with other settings.")
        if not Path(args.resume).is_file():
            raise CLIError(f"checkpoint to resume not found: {args.resume}")
        cfg = TrainConfig(epochs=args.epochs or 0, device=args.device, data_dir=args.data_dir)
    else:
        if not args.dataset:
            raise CLIError("--dataset is required (a name from `cnnstudio datasets`, or a folder)")
        cfg = checked_options(args)  # every option checked before the data is loaded
        if args.weights:
            _import_backbone_weights(cfg, args.weights)

    if args.out:
        from cnnstudio.core.run_lock import check_run_folder

        # A finished run or a folder in use is refused before any data is loaded, by every rank alike (the
        # trainer claims the folder itself, under a lock, and refuses the same way).
        check_run_folder(args.out, args.resume)
    ctx = dist.init_from_env(args.device) if dist.launched_by_torchrun() else dist.current()
    main_rank = ctx.is_main
    dataset = None
    if not args.resume:
        from cnnstudio.core.datasets import load_dataset

        data_dir = Path(args.data_dir) if args.data_dir else None
        progress = TerminalProgress(f"downloading {cfg.dataset}") if (sys.stderr.isatty() and main_rank) else None
        from cnnstudio.core.models.backbones import input_size
        from cnnstudio.core.models.presets import resolve_spec

        # A pretrained backbone sees pictures at its resolution: decode a folder at that size.
        size = input_size(cfg.spec if cfg.spec is not None else resolve_spec(cfg.model)) if args.model else None
        dataset = load_dataset(cfg.dataset, data_dir=data_dir, download=args.download,
                               progress=progress.bytes if progress else None, image_size=size)
        if progress:
            progress.close()
        if dataset.report is not None and main_rank:
            if dataset.report.files_skipped:
                print(f"note: {printable(dataset.report.summary())}", file=sys.stderr)
            for note in dataset.report.notes:
                print(f"note: {printable(note)}", file=sys.stderr)
        # The data decides the defaults (a folder's kind and size), so the config comes after loading it:
        # recommended once, built once.
        rec = _recommend_for_args(args, dataset)
        cfg = config_from_args(args, dataset, rec)
        if main_rank:
            if not args.model:
                print(f"note: no --model given: training {cfg.model}, the model recommended for this data",
                      file=sys.stderr)
            if args.epochs is None:  # the user relies on the recommended length: say how it was chosen
                for reason in rec.reasons:
                    print(f"note: {reason}", file=sys.stderr)
            elif rec.recipe and all(v is None for v in (args.lr, args.optimizer, args.schedule)):  # the recipe applies
                print(f"note: {rec.reasons[-1]}", file=sys.stderr)
        # No measured recipe fits this network (recipes.py: a deep custom spec without normalisation): its
        # learning rate comes from the finder unless the user gave one.
        if rec.lr_auto and args.lr is None and not args.resume:
            auto_lr = True
        if auto_lr:
            cfg.lr = _found_lr(cfg, dataset, main_rank)

    reporter = TrainReporter(enabled=main_rank, json_mode=args.json)
    trainer = Trainer(cfg, dataset=dataset, run_dir=args.out, resume_from=args.resume, on_event=reporter)
    try:
        with first_ctrl_c_stops(trainer.stop, lambda: trainer.control.stop_requested,
                                "stopping after this batch (Ctrl-C again to abort)..."):
            result = trainer.run()
    finally:
        dist.shutdown()
    reporter.close()
    if not main_rank:
        return 0 if result.status != "failed" else EXIT_FAILED
    if result.status == "failed":
        print(f"cnnstudio: error: {printable(result.message)}", file=sys.stderr)
        if args.json:
            print_json(result.to_dict())
        # Refused before training started (settings, data, checkpoint): the same exit as every other
        # command's refusal. Failed while training (diverged, out of memory, disk full): 1.
        return EXIT_ERROR if result.phase == "setup" else EXIT_FAILED
    if args.json:
        print_json(result.to_dict())
    else:
        test = result.test_accuracy
        print(f"{result.status}: {result.epochs} epochs on {result.device} ({result.precision}), "
              f"{result.train_samples_per_second or 0:,.0f} samples/s"
              + (f", test accuracy {test:.2%}" if test is not None else ""))
        print(printable(f"run folder: {result.run_dir}"))
        if result.checkpoint:
            print(printable(f"best checkpoint: {result.checkpoint}"))
    return EXIT_STOPPED if result.status == "stopped" else 0


def cmd_doctor(args) -> int:
    from cnnstudio.cli_doctor import cmd_doctor as run_doctor

    return run_doctor(args, print_json)


def cmd_explain(args) -> int:
    from cnnstudio.cli_explain import cmd_explain as run_explain

    return run_explain(args, print_json)


def cmd_sweep(args) -> int:
    from cnnstudio.cli_sweep import cmd_sweep as sweep

    return sweep(args, TrainReporter(enabled=True, json_mode=args.json), print_json)


def _run_finder(cfg, dataset, show: bool):
    """The learning-rate finder on this configuration, with a progress bar on a terminal."""
    from cnnstudio.core.training.lr_find import find_lr

    bar = TerminalProgress("finding the learning rate") if show and sys.stderr.isatty() else None
    progress = (lambda step, steps, lr, loss: bar.draw(step / steps, f"lr {lr:.2g} loss {loss:.4f}")) if bar else None
    try:
        return find_lr(cfg, dataset, progress=progress)
    finally:
        if bar:
            bar.close()


def _found_lr(cfg, dataset, main_rank: bool) -> float:
    """train --lr auto: the finder's suggestion, said in one line."""
    result = _run_finder(cfg, dataset, main_rank)
    from cnnstudio.core.training.lr_find import NoLearningRateFound

    try:
        lr = result.chosen_lr()
    except NoLearningRateFound as exc:
        raise CLIError(f"{exc} with --lr") from None
    if main_rank:
        print(f"note: {result.summary()}", file=sys.stderr)
    return lr


def cmd_lr_find(args) -> int:
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.models.backbones import input_size
    from cnnstudio.core.models.presets import resolve_spec

    if args.plot:  # a plot that could not be written is refused before the minutes of the test
        from cnnstudio.core.training.lr_find_plot import check_plot_path

        check_plot_path(args.plot)
    cfg = checked_options(args)  # every option checked before the data is loaded
    size = input_size(cfg.spec if cfg.spec is not None else resolve_spec(cfg.model)) if args.model else None
    dataset = load_dataset(cfg.dataset, data_dir=Path(args.data_dir) if args.data_dir else None,
                           download=args.download, image_size=size)
    cfg = config_from_args(args, dataset)
    result = _run_finder(cfg, dataset, show=True)
    if args.plot:
        from cnnstudio.core.training.lr_find_plot import write_plot

        write_plot(result, args.plot, f"{cfg.spec.get('name') if cfg.spec else cfg.model} on {dataset.name}")
    if args.json:
        print_json(result.to_dict())
    elif result.suggested_lr is None:
        print(f"no suggestion: the loss did not fall over {len(result.lrs)} steps ({result.seconds:.1f} s)")
    else:
        print(f"suggested learning rate: {result.suggested_lr:.3g} (rule: {result.rule}; {len(result.lrs)} steps "
              f"from {result.lrs[0]:.0e} to {result.lrs[-1]:.2g}, {result.seconds:.1f} s)")
    if args.plot:
        print(f"plot: {args.plot}", file=sys.stderr)
    return 0


def _import_backbone_weights(cfg, path: str) -> None:
    """--weights: check the file against the model's backbone and keep it where training looks."""
    from cnnstudio.core.models.backbones import import_weights
    from cnnstudio.core.models.presets import resolve_spec

    spec = cfg.spec if cfg.spec is not None else resolve_spec(cfg.model)
    archs = sorted({layer.get("arch") for layer in spec.get("layers", []) if layer.get("type") == "backbone"})
    if not archs:
        raise CLIError(f"--weights is for a model with a pretrained backbone; {cfg.model} has none")
    if len(archs) > 1:
        raise CLIError(f"--weights: the model has several backbones ({', '.join(archs)}); import each with the app")
    where, note = import_weights(archs[0], path)
    print(f"note: {Path(path).name}: {note}; kept as {where}", file=sys.stderr)


def _resume_fixed_options(args) -> list[tuple[str, Any]]:
    """The train options a resumed run keeps from its checkpoint, with what the user passed."""
    return [("--dataset", args.dataset), ("--model", args.model), ("--batch-size", args.batch_size),
            ("--lr", args.lr), ("--weight-decay", args.weight_decay), ("--optimizer", args.optimizer),
            ("--schedule", args.schedule), ("--label-smoothing", args.label_smoothing),
            ("--precision", args.precision), ("--val-split", args.val_split), ("--augment", args.augment),
            ("--early-stopping", args.early_stopping), ("--warmup", args.warmup),
            ("--class-weights", args.class_weights), ("--seed", args.seed), ("--limit-train", args.limit_train),
            ("--no-recover", True if args.recover is False else None),
            ("--download", args.download), ("--weights", args.weights)]


class TerminalProgress:
    """A one-line progress bar on stderr, redrawn at most 10 times a second."""

    def __init__(self, title: str):
        self.title = title
        self._last = 0.0
        self._shown = False

    def draw(self, fraction: float, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        width = 28
        filled = int(round(width * max(0.0, min(1.0, fraction))))
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{self.title} [{bar}] {fraction:6.1%} {text}\x1b[K")
        sys.stderr.flush()
        self._shown = True

    def bytes(self, done: int, total: int) -> None:
        self.draw(done / total if total else 0.0, f"{human_bytes(done)} / {human_bytes(total)}")

    def close(self) -> None:
        if self._shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._shown = False


def stderr_progress_line(prefix: str = ""):
    """The in-epoch progress line (core/training/progress_line.py) on stderr when it is a terminal; None
    otherwise (a pipe or a log gets the epoch lines only). Shared by every command that trains."""
    from cnnstudio.core.training.progress_line import ProgressLine

    if not sys.stderr.isatty():
        return None

    def write(text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    try:
        columns: int | None = os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        columns = None
    return ProgressLine(write, columns=columns, prefix=prefix)


class TrainReporter:
    """Turns trainer events into a progress line redrawn in place (terminal) and plain lines on stderr."""

    def __init__(self, enabled: bool, json_mode: bool):
        self.enabled = enabled
        self.bar = stderr_progress_line() if enabled else None

    def __call__(self, event) -> None:
        from cnnstudio.core.training.events import EpochEvent, LogEvent, StartedEvent, StepEvent

        if not self.enabled:
            return
        if isinstance(event, StartedEvent):
            self.line(f"training on {event.device} ({event.device_name}, {event.precision}, {event.threads} threads): "
                       f"{event.train_samples} train / {event.val_samples} val / {event.test_samples} test samples, "
                       f"{event.params:,} parameters; run folder {event.run_dir}")
        elif isinstance(event, StepEvent) and self.bar is not None:
            self.bar.step(event)
        elif isinstance(event, EpochEvent):
            val = (f", val loss {event.val_loss:.4f} acc {event.val_accuracy:.2%}"
                   if event.val_accuracy is not None else "")
            self.line(f"epoch {event.epoch}/{event.epochs}: train loss {event.train_loss:.4f} acc "
                       f"{event.train_accuracy:.2%}{val} ({event.seconds:.1f} s, {event.samples_per_second:,.0f}/s)"
                       + (" *best" if event.is_best else ""))
        elif isinstance(event, LogEvent):
            self.line(event.message)

    def line(self, text: str) -> None:
        if self.bar is not None:
            self.bar.clear()
        print(printable(text), file=sys.stderr, flush=True)

    def set_prefix(self, text: str) -> None:
        """What the progress line starts with from now on: a sweep's "trial 3/10"."""
        if self.bar is not None:
            self.bar.prefix = text

    def close(self) -> None:
        if self.bar is not None:
            self.bar.clear()


# -- evaluate / predict -----------------------------------------------------------------------------
def cmd_evaluate(args) -> int:
    import torch

    from cnnstudio.core.checkpoint import CheckpointSummary, dataset_of, load_checkpoint, model_from_checkpoint
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.metrics import evaluate
    from cnnstudio.core.training.augment import BatchPreprocessor
    from cnnstudio.core.training.device import configure_threads, resolve_device

    ckpt = load_checkpoint(args.checkpoint)
    summary = CheckpointSummary.of(ckpt)
    dataset_name = args.dataset or dataset_of(ckpt)
    if not dataset_name:
        raise CLIError(f"{args.checkpoint} does not say which dataset it was trained on; name one with --dataset")
    data_dir = Path(args.data_dir) if args.data_dir else None
    # A folder is decoded at the side the model was trained at (a backbone's 224, say).
    ds = load_dataset(str(dataset_name), data_dir=data_dir, image_size=summary.input_shape[1])
    # A dataset named on the command line may number its classes where the checkpoint names them.
    check_fits(ckpt, ds, args.checkpoint, same_names=not args.dataset)
    device = resolve_device(args.device)
    configure_threads(device)
    model = model_from_checkpoint(ckpt).to(device).to(memory_format=torch.channels_last)
    pre = BatchPreprocessor(list(summary.mean), list(summary.std), device)
    ev = evaluate(model, ds.test_images, ds.test_labels, ds.classes, pre.normalise, device)
    assert ev is not None  # evaluate returns None only when its `cancelled` callback, not given here, says so
    out = {"checkpoint": str(args.checkpoint), "dataset": ds.name, **ev.to_dict(top_misclassified=20)}
    if args.json:
        print_json(out)
        return 0
    print(f"{ds.name} test split, {out['samples']} samples: accuracy {ev.accuracy:.2%}, loss {ev.loss:.4f}\n")
    rows = [[r["class"], f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}", str(r["support"])]
            for r in out["per_class"]]
    print_table(rows, ["class", "precision", "recall", "f1", "support"])
    return 0


def check_fits(ckpt: dict, ds, path, same_names: bool = True) -> None:
    from cnnstudio.core.checkpoint import CheckpointSummary, fit_problem

    problem = fit_problem(ckpt, ds, same_names=same_names)
    if problem:
        summary = CheckpointSummary.of(ckpt)
        raise CLIError(f"checkpoint {path} expects {len(summary.classes)} classes of shape "
                       f"{summary.shape_text}: {problem}")


def cmd_frames(args) -> int:
    from cnnstudio.cli_video import cmd_frames as extract

    return extract(args, print_json)


def cmd_predict(args) -> int:
    from cnnstudio.core.inference import Predictor, open_image

    if args.video:
        from cnnstudio.cli_video import predict_video

        return predict_video(args, print_json)
    if args.every:
        raise CLIError("--every goes with --video")
    if not args.images and not args.folder:
        raise CLIError("give image files, or --folder DIR")
    if args.images and args.folder:
        raise CLIError("give image files or --folder, not both")
    if (args.csv or args.strict) and not args.folder:
        raise CLIError(f"{'--csv' if args.csv else '--strict'} goes with --folder")
    predictor = Predictor(args.checkpoint)
    if args.folder:
        return _predict_folder(args, predictor)
    results, failures = [], 0
    for path in args.images:
        try:
            prepared, probs = predictor.predict_image(open_image(path, predictor.framing))
        except CNNStudioError as exc:
            failures += 1
            results.append({"image": path, "error": str(exc)})
            if not args.json:
                print(printable(f"{path}: error: {exc}"), file=sys.stderr)
            continue
        top = predictor.top_k(probs, args.top_k)
        results.append({"image": path, "label": top[0]["label"], "index": top[0]["index"],
                        "probability": top[0]["probability"], "top_k": top, "empty": prepared.empty})
        if not args.json:
            alts = ", ".join(f"{t['label']} {t['probability']:.1%}" for t in top)
            print(printable(f"{path}: {top[0]['label']} ({alts})"))
    if args.json:
        print_json(results)
    return EXIT_FAILED if failures else 0


def _predict_folder(args, predictor) -> int:
    """Classify a folder. Exit 0 when any image was classified, the skipped files listed on stderr, in the
    summary line and in the CSV (a folder of 120 photos with one broken file is a good result, not a
    failure for the script that ran it); --strict: 1 when any file was skipped. Nothing classified: 1,
    or 2 when the folder holds no image at all."""
    from cnnstudio.core.classify import classify_folder

    bar = TerminalProgress("classifying") if sys.stderr.isatty() else None
    # keep_pixels=False: the command line shows no thumbnails, and a large folder's pixels add up.
    result = classify_folder(predictor, args.folder, top_k=args.top_k, keep_pixels=False,
                             progress=(lambda done, total: bar.draw(done / max(total, 1), f"{done:,} / {total:,}"))
                             if bar else None)
    if bar:
        bar.close()
    if args.csv:
        result.write_csv(args.csv)
    for name, why in result.skipped:
        print(printable(f"skipped {name}: {why}"), file=sys.stderr)
    if args.json:
        print_json(result.to_dict())
    else:
        for r in result.results:
            mark = "" if r.correct is None else ("  ok" if r.correct else f"  WRONG (is {predictor.classes[r.truth]})")
            print(printable(f"{r.path}: {r.label} {r.confidence:.1%}{mark}"))
        print(printable(result.summary()))
        if args.csv:
            print(printable(f"table written to {args.csv}"))
    if not result.results and not result.skipped:
        print(printable(f"cnnstudio: error: no images found in {args.folder}"), file=sys.stderr)
        return EXIT_ERROR
    if not result.results:
        print(f"cnnstudio: error: none of the {len(result.skipped):,} image files could be classified",
              file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED if result.skipped and args.strict else 0


def cmd_export(args) -> int:
    from cnnstudio.cli_export import cmd_export as run_export

    return run_export(args, print_json, TerminalProgress)


if __name__ == "__main__":
    sys.exit(main())
