"""Comparing runs: what a run's summary lists and how several runs' settings line up, Qt-free.

A run's settings are shown as text (setting_text: a damaged value reads "(unreadable)", never raises);
read_detail() reads one run for its summary, compare() several side by side: the damaged ones left out,
and each setting marked when it differs between the others. The app's Runs session runs these on its
background pool; the Runs page draws what they return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Collection, Sequence

from cnnstudio.core.runs import RunError, RunSummary, load_history, remove_orphaned_temp_files, run_label

# The settings a summary lists and a comparison sets side by side, in order: (config key, title).
COMPARED = [("model", "Model"), ("dataset", "Dataset"), ("epochs", "Epochs"), ("batch_size", "Batch size"),
            ("optimizer", "Optimizer"), ("lr", "Learning rate"), ("schedule", "LR schedule"),
            ("weight_decay", "Weight decay"), ("label_smoothing", "Label smoothing"), ("val_split", "Validation split"),
            ("augment", "Augmentation"), ("early_stopping_patience", "Early stopping"),
            ("class_weights", "Class weights"),
            ("seed", "Seed"), ("limit_train", "Training images"), ("train_samples", "Pictures trained on"),
            ("precision", "Precision"), ("device", "Device")]
# Saves killed half-way leave hidden temporary files; one this old is no save in flight by another process.
ORPHAN_MIN_AGE_S = 60


def percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f} %"


def setting_text(key: str, value: Any) -> str:
    """A setting as shown in the summary; a hand-edited or damaged value shows as "(unreadable)"."""
    try:
        return _format_setting(key, value)
    except (ValueError, TypeError, OverflowError, AttributeError):  # "1e999" as an int, text as a count...
        return "(unreadable)"


def _format_setting(key: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    if key == "augment" and isinstance(value, dict):
        from cnnstudio.core.training.config import Augmentation, augmentation_text

        return augmentation_text(Augmentation.from_dict(value))  # a run from another version: what we know of it
    if key == "val_split" and isinstance(value, (int, float)):
        return f"{100 * value:.0f} %"
    if key == "limit_train":
        return "all" if not value else f"{value:,}"
    if key == "train_samples":
        return "" if value is None else f"{int(value):,}"
    if key == "early_stopping_patience":
        return "off" if not value else f"{value} epochs"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def run_settings(run: RunSummary) -> dict[str, Any]:
    """The run's config with what it really used (model, dataset, precision, device) in place of the
    requested values: what the summary, the comparison table and the filter show."""
    cfg = dict(run.config)
    cfg.update({"model": run.model, "dataset": run.dataset, "precision": run.precision, "device": run.device,
                "train_samples": run.train_samples})
    return cfg


def search_text(run: RunSummary) -> str:
    """What the run list's filter matches besides the label: model, dataset and every setting's text."""
    cfg = run_settings(run)
    return " ".join(setting_text(key, cfg.get(key)) for key, _title in COMPARED) + f" {run.status}"


def summary_settings(run: RunSummary) -> tuple[tuple[str, str], ...]:
    """(title, text) of one run's summary table: results, epochs, parameters, the settings it has, the start."""
    rows = [("Test accuracy", percent(run.test_accuracy)), ("Best val. accuracy", percent(run.best_val_accuracy)),
            ("Epochs", f"{run.epochs_done} of {run.epochs_planned}" if run.epochs_planned else str(run.epochs_done)),
            ("Parameters", f"{run.params:,}" if run.params else "")]
    cfg = run_settings(run)
    for key, title in COMPARED:
        if key in ("model", "dataset", "epochs"):
            continue
        if key in cfg and cfg.get(key) is not None:
            rows.append((title, setting_text(key, cfg.get(key))))
    if cfg.get("optimizer") == "sgd":
        rows.append(("Momentum", setting_text("momentum", cfg.get("momentum"))))
    rows.append(("Started", run.date_text))
    return tuple((title, text) for title, text in rows if text not in (None, ""))


@dataclass(frozen=True)
class RunDetail:
    """One selected run: its curves (None when it has none to show), why it is damaged, its settings."""

    run: RunSummary
    history: dict[str, Any] | None  # core.runs' metrics history, as the charts draw it
    problem: str | None
    settings: tuple[tuple[str, str], ...]  # (title, text), summary_settings()


@dataclass(frozen=True)
class ComparedCurves:
    """One compared run's curves: `name` (its folder) is the charts' key, `label` the legend's text."""

    name: str
    label: str
    history: dict[str, Any]
    test_accuracy: float | None
    best_val_accuracy: float | None
    text: str  # what the run list's filter searches: search_text()


@dataclass(frozen=True)
class SettingRow:
    """A row of the comparison: one value per compared run; `differs` when they are not all the same."""

    title: str
    values: tuple[str, ...]
    differs: bool = False


@dataclass(frozen=True)
class RunsComparison:
    """Several selected runs: those shown (curves and a column or row each) and those left out (damaged)."""

    runs: tuple[RunSummary, ...]
    curves: tuple[ComparedCurves, ...]
    skipped: tuple[str, ...]
    results: tuple[SettingRow, ...]
    settings: tuple[SettingRow, ...]


def read_detail(run: RunSummary, training: bool) -> RunDetail:
    """One run's history and settings (on the pool); also clears what interrupted saves left behind."""
    if not training:
        remove_orphaned_temp_files(run.path, min_age_s=ORPHAN_MIN_AGE_S)
    problem, history = run.problem, None
    if not problem:
        try:
            history = load_history(run.path)
        except RunError as exc:
            problem = str(exc)
    return RunDetail(run, history, problem, summary_settings(run))


def compare(runs: Sequence[RunSummary]) -> RunsComparison:
    """Read the runs' histories (on the pool) and set their results and settings side by side."""
    curves, shown, skipped = [], [], []
    for run in runs:
        try:
            if run.problem:
                raise RunError(run.problem)
            history = load_history(run.path)
        except RunError:
            skipped.append(run.name)
            continue
        shown.append(run)
        curves.append(ComparedCurves(run.name, run_label(run), history, run.test_accuracy, run.best_val_accuracy,
                                     search_text(run)))
    settings = []
    for key, title in COMPARED:
        values = tuple(setting_text(key, run_settings(r).get(key)) for r in shown)
        settings.append(SettingRow(title, values, len(set(values)) > 1))
    results = (SettingRow("Test accuracy", tuple(percent(r.test_accuracy) for r in shown)),
               SettingRow("Best val. accuracy", tuple(percent(r.best_val_accuracy) for r in shown)))
    return RunsComparison(tuple(shown), tuple(curves), tuple(skipped), results, tuple(settings))


def restrict(comparison: RunsComparison, names: Collection[str]) -> RunsComparison:
    """The same comparison of only the runs named (the others filtered out of view): their columns, their
    curves, and each setting marked when it differs between them alone. Nothing is read again."""
    keep = [i for i, run in enumerate(comparison.runs) if run.name in names]

    def row(r: SettingRow, mark: bool) -> SettingRow:
        values = tuple(r.values[i] for i in keep)
        return SettingRow(r.title, values, mark and len(set(values)) > 1)

    return RunsComparison(tuple(comparison.runs[i] for i in keep),
                          tuple(c for c in comparison.curves if c.name in names), comparison.skipped,
                          tuple(row(r, False) for r in comparison.results),
                          tuple(row(r, True) for r in comparison.settings))
