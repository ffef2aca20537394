"""`cnnstudio sweep`: the command-line face of core/sweep (cli.py registers its options)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnnstudio.core.sweep.runner import SweepRunner
from cnnstudio.core.sweep.space import SweepError
from cnnstudio.cli_signals import first_ctrl_c_stops
from cnnstudio.core.sweep.estimate import estimate_sweep
from cnnstudio.core.sweep.study import (STRATEGIES, SweepOutcome, SweepSpec, TrialEnded, TrialStarted, make_spec,
                                        new_sweep_dir, read_spec, trial_line, trial_percent)
from cnnstudio.core.text import plural, printable


def add_parser(sub: Any, positive_int: Any, positive_float: Any, seed_int: Any) -> None:
    p = sub.add_parser("sweep", help="train many runs with settings varied (grid, random, or halving search)",
                       description="Train a run for each setting chosen by the strategy; every trial is a run "
                       "folder inside the sweep folder. Give only --out DIR to continue a stopped sweep.")
    p.add_argument("--dataset", metavar="D", help="registered name, IDX folder or image folder")
    p.add_argument("--model", metavar="M", help="preset name or JSON spec file (default: the one recommended)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUES",
                   help="a setting to vary: lr, batch_size, epochs, optimizer, weight_decay, label_smoothing, "
                   "augment or model; VALUES a list a,b,c or a range lo:hi:log / lo:hi:lin (repeat --param)")
    p.add_argument("--strategy", choices=STRATEGIES, default="grid",
                   help="grid: every combination; random: --trials draws; halving: like grid (or --trials "
                   "draws from ranges), stopping trials that fall behind at a ninth and a third of their steps")
    p.add_argument("--trials", type=positive_int, help="random/halving: how many trials (default 10 for ranges)")
    p.add_argument("--budget-minutes", type=positive_float, metavar="T",
                   help="stop after T minutes (the trial in training is continued when the sweep is)")
    p.add_argument("--epochs", type=positive_int, help="each trial's epochs (default: the recommended length)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (each worker its own)")
    p.add_argument("--seed", type=seed_int, help="the seed of every trial (and of the random search)")
    p.add_argument("--limit-train", type=positive_int, metavar="N", help="train on the first N samples only")
    p.add_argument("--data-dir", metavar="DIR", help="folder holding the dataset's files")
    p.add_argument("--out", metavar="DIR", help="the sweep folder (default: a new folder under the runs folder); "
                   "a folder holding this sweep continues it")
    p.add_argument("--storage", metavar="URL", help="Optuna storage shared by several workers (default: "
                   "sqlite in the sweep folder; e.g. postgresql://host/db across machines, docs/scaling.md)")
    p.add_argument("--json", action="store_true", help='print one JSON object: {"best": {...}, "trials": [...]}')


def _spec_from_args(args: argparse.Namespace) -> SweepSpec | None:
    """The sweep the options describe; None when they only name a folder to continue."""
    if not args.param and not args.dataset:
        if not args.out:
            raise SweepArgsError("give --dataset and --param NAME=VALUES (or --out DIR to continue a sweep)")
        return None
    if not args.dataset:
        raise SweepArgsError("--dataset is required (a name from `cnnstudio datasets`, or a folder)")
    fixed: dict[str, Any] = {}
    for key, value in (("seed", args.seed), ("limit_train", args.limit_train), ("data_dir", args.data_dir)):
        if value is not None:
            fixed[key] = value
    return make_spec(args.dataset, args.param, args.strategy, model=args.model, trials=args.trials,
                     epochs=args.epochs, fixed=fixed)


class SweepArgsError(SweepError):
    """Options that do not describe a sweep: one line, as every refusal of the command line."""


class SweepReporter:
    """A line per trial on stderr (and the trainer's progress line on a terminal, led by the trial)."""

    def __init__(self, train_reporter: Any):
        self.train = train_reporter

    def __call__(self, event: Any) -> None:
        if isinstance(event, TrialStarted):
            self.train.set_prefix(f"trial {event.index}/{event.total}")
            self.train.line(trial_line(event))
        elif isinstance(event, TrialEnded):
            self.train.line(trial_line(event))
        else:
            from cnnstudio.core.training.events import LogEvent, StartedEvent

            if not isinstance(event, LogEvent | StartedEvent):  # per-trial chatter: the trial line says enough
                self.train(event)


def cmd_sweep(args: argparse.Namespace, train_reporter: Any, print_json: Callable[[Any], None]) -> int:
    spec = _spec_from_args(args)
    sweep_dir = Path(args.out) if args.out else new_sweep_dir(spec) if spec else None
    assert sweep_dir is not None
    if spec is None and read_spec(sweep_dir) is None:
        raise SweepArgsError(f"{sweep_dir} holds no sweep to continue: give --dataset and --param to start one")
    runner = SweepRunner(sweep_dir, spec, storage=args.storage, budget_minutes=args.budget_minutes,
                         device=args.device, on_event=SweepReporter(train_reporter))
    train_reporter.line(f"sweep folder: {runner.sweep_dir} ({runner.spec.strategy}, "
                        f"{plural(runner.spec.target, 'trial')})")
    runner.on_ready = lambda data: train_reporter.line(  # once the data is loaded: the whole sweep's estimate
        f"estimated: {estimate_sweep(runner.spec, data, args.device).text()}")
    try:
        with first_ctrl_c_stops(runner.stop, lambda: bool(runner.stopping),
                                "stopping the sweep after this batch (Ctrl-C again to abort); continue it with "
                                f"--out {runner.sweep_dir}"):
            result = runner.run()
    finally:
        train_reporter.close()
    _report(result, args.json, print_json)
    if result.stopped == "by the user":
        return 130
    if result.complete and result.best is None:
        return 1  # every trial failed: each one's line says why
    return 0


def _report(result: SweepOutcome, json_mode: bool, print_json: Callable[[Any], None]) -> None:
    from cnnstudio.core.sweep.space import settings_text

    if json_mode:
        print_json(result.to_dict())
        return
    rows = sorted(result.trials, key=lambda t: -(t.best_val_accuracy or -1))
    for t in rows:
        val, test = trial_percent(t.best_val_accuracy), trial_percent(t.test_accuracy)
        print(printable(f"{t.status:13s} val {val:>8s}  test {test:>8s}  {settings_text(t.settings)}  {t.run_dir}"))
    if result.best is not None:
        best = result.best
        print(printable(f"best: {settings_text(best.settings)}: val {trial_percent(best.best_val_accuracy)}, "
                        f"test {trial_percent(best.test_accuracy)}, run folder {best.run_dir}"))
    if not result.complete:
        why = f" ({result.stopped})" if result.stopped else ""
        print(printable(f"the sweep is not complete{why}: continue it with cnnstudio sweep --out {result.sweep_dir}"))
