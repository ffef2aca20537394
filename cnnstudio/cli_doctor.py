"""`cnnstudio doctor`: the data doctor on the command line (core/doctor; cli.py registers the command)."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnnstudio.cli_signals import first_ctrl_c_stops
from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.text import printable


def add_parser(sub: Any, positive_int: Any, seed_int: Any) -> None:
    p = sub.add_parser("doctor", help="find likely wrong labels, duplicates (and train/test leakage) and outliers",
                       description="Train a few quick models by cross-validation (or use --checkpoint's "
                       "features) and report the pictures whose label is likely wrong, the duplicates, "
                       "the test pictures that are also in train, and the pictures unlike the rest.")
    p.add_argument("--dataset", required=True, metavar="D", help="registered name, IDX folder or image folder")
    p.add_argument("--checkpoint", metavar="C", help="use this model's features and a linear head instead of "
                   "training the cross-validation models (seconds instead of minutes; finds fewer label errors)")
    p.add_argument("--model", metavar="M", help="the cross-validation models' preset (default: the one recommended)")
    p.add_argument("--epochs", type=positive_int, help="each cross-validation model's epochs (default: recommended)")
    p.add_argument("--folds", type=positive_int, default=4, help="cross-validation folds (default 4)")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--data-dir", metavar="DIR", help="folder holding the dataset's files")
    p.add_argument("--csv", metavar="FILE", help="also write every finding as a row of FILE (a new file)")
    p.add_argument("--top", type=positive_int, default=20, help="rows of each kind printed (default 20)")
    p.add_argument("--json", action="store_true", help='print one JSON object: {"label_issues": [...], '
                   '"duplicates": [...], "outliers": [...]}')


def cmd_doctor(args: argparse.Namespace, print_json: Callable[[Any], None]) -> int:
    """`print_json` is cli.py's (one line of strict JSON): handed in, as cli.py imports this module."""
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.doctor.crossval import doctor_config
    from cnnstudio.core.doctor.diagnose import diagnose, estimate_seconds
    from cnnstudio.core.training.control import RunControl
    from cnnstudio.core.training.estimate import duration_text

    if args.csv:
        check_new_file(args.csv)
    if args.folds < 2:
        raise CNNStudioError("--folds must be at least 2")
    data = load_dataset(args.dataset, data_dir=Path(args.data_dir) if args.data_dir else None)
    control = RunControl()
    if args.checkpoint is None:
        cfg = doctor_config(args.dataset, data, args.model, args.epochs, args.seed)
        seconds = estimate_seconds(data, cfg, args.folds)
        print(f"doctor: {args.folds} {cfg.model} models, {cfg.epochs} epochs each, on {data.name} "
              f"({len(data.train_labels) + len(data.test_labels):,} pictures): about {duration_text(seconds)}",
              file=sys.stderr)
    last = [-1]

    def progress(done: float, total: float, what: str) -> None:
        percent = int(100 * done / max(total, 1e-9))
        if percent >= last[0] + 5 or percent == 100:
            last[0] = percent
            print(f"doctor: {percent:3d}% {what}", file=sys.stderr)

    stopping = "stopping the doctor (Ctrl-C again to abort)"
    with first_ctrl_c_stops(control.stop, lambda: control.stop_requested, stopping):
        report = diagnose(data, data_name=args.dataset, checkpoint=args.checkpoint, model=args.model,
                          epochs=args.epochs, folds=args.folds, seed=args.seed, progress=progress,
                          control=control)
    if args.csv:
        write_csv(report, args.csv)
    if args.json:
        print_json(report.to_dict())
        return 0
    print(report.summary() + f" ({report.seconds:.0f} s; {report.method})")
    if report.label_issues:
        print("\nlikely wrong labels (most likely first):")
        for issue in report.label_issues[:args.top]:
            print(f"  {printable(issue.picture.name)}: labelled {printable(issue.given)}, looks like "
                  f"{printable(issue.suggested)} ({issue.score:.2f})")
    if report.duplicates:
        print("\nduplicates (leakage first):")
        for group in report.duplicates[:args.top]:
            tag = "LEAKAGE " if group.leakage else ""
            print(f"  {tag}{group.kind}: " + ", ".join(printable(p.name) for p in group.pictures[:6])
                  + (f" and {len(group.pictures) - 6} more" if len(group.pictures) > 6 else ""))
    if report.outliers:
        print("\noutliers:")
        for outlier in report.outliers[:args.top]:
            print(f"  {printable(outlier.picture.name)} ({printable(outlier.label)}): {outlier.reason} "
                  f"({outlier.score:.2f})")
    if args.csv:
        print(f"csv: {args.csv}", file=sys.stderr)
    return 0


def check_new_file(path: str) -> None:
    """--csv names a new file in a folder that exists: never a user's file overwritten."""
    target = Path(path)
    if target.exists():
        raise CNNStudioError(f"--csv {path}: the file exists; name a new file (nothing was overwritten)")
    if not target.parent.is_dir():
        raise CNNStudioError(f"--csv {path}: the folder {target.parent} does not exist")


def write_csv(report: Any, path: str) -> None:
    rows: list[list[Any]] = []
    for issue in report.label_issues:
        rows.append(["label issue", issue.picture.split, issue.picture.index, issue.picture.file or "", issue.given,
                     issue.suggested, f"{issue.score:.4f}", ""])
    for n, group in enumerate(report.duplicates):
        for p in group.pictures:
            rows.append([f"{group.kind} duplicate", p.split, p.index, p.file or "", "", "", "",
                         f"group {n + 1}" + (" leakage" if group.leakage else "")])
    for outlier in report.outliers:
        rows.append(["outlier", outlier.picture.split, outlier.picture.index, outlier.picture.file or "",
                     outlier.label, "", f"{outlier.score:.4f}", outlier.reason])
    try:
        with open(path, "x", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["finding", "split", "index", "file", "label", "suggested", "score", "note"])
            writer.writerows(rows)
    except OSError as exc:
        raise CNNStudioError(f"--csv {path}: cannot write it ({exc.strerror or exc})") from None
