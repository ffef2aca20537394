"""Runs compared by their settings: a sweep's trials, or any runs selected together, Qt-free.

`by_settings` finds the settings that differ between the runs (a sweep's trials say what they varied;
other runs are read from their configs), sorts the runs by best validation accuracy and says which
settings mattered most (each setting's main effect on the best validation accuracy, _importances), so
a hand-picked selection is judged the same way as a sweep.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cnnstudio.core.run_compare import COMPARED, run_settings, setting_text
from cnnstudio.core.runs import RunSummary

MIN_RUNS_FOR_IMPORTANCE = 4  # fewer runs than this say nothing about which setting mattered
MAX_GROUPS = 6  # a numeric setting with more distinct values is grouped into BINS bins of equal counts
BINS = 3
TITLES = dict(COMPARED)
# The settings a sweep varies (space.KINDS) and the config keys they are kept under.
NUMERIC = ("lr", "batch_size", "epochs", "weight_decay", "label_smoothing", "train_samples")
LOG_SCALE = ("lr", "weight_decay")
ENDED = ("finished", "early-stopped")  # plotted on a log axis when every value is above 0


@dataclass(frozen=True)
class SettingsRow:
    name: str  # the run folder's name
    path: str
    values: tuple[Any, ...]  # one per ComparedSettings.settings
    best_val_accuracy: float | None
    test_accuracy: float | None
    status: str

    @property
    def ended(self) -> bool:
        """Trained to its end (or stopped early by its own patience): its accuracy is a final one."""
        return self.status in ENDED


@dataclass(frozen=True)
class ComparedSettings:
    settings: tuple[str, ...]  # config keys that differ between the runs
    titles: tuple[str, ...]
    rows: tuple[SettingsRow, ...]  # best validation accuracy first; runs without one last
    importances: tuple[tuple[str, float], ...]  # (setting, share), largest first; () when too few runs
    note: str = ""  # why there are no importances, or what was left out

    @property
    def best(self) -> SettingsRow | None:
        top = self.rows[0] if self.rows else None
        return top if top is not None and top.ended and top.best_val_accuracy is not None else None

    def numeric(self, setting: str) -> bool:
        i = self.settings.index(setting)
        return all(isinstance(r.values[i], (int, float)) and not isinstance(r.values[i], bool) for r in self.rows)

    def log_scale(self, setting: str) -> bool:
        i = self.settings.index(setting)
        return setting in LOG_SCALE and self.numeric(setting) and all(r.values[i] > 0 for r in self.rows)

    def value_text(self, setting: str, value: Any) -> str:
        return setting_text(setting, value)


def _values(run: RunSummary, keys: Sequence[str]) -> dict[str, Any]:
    if run.trial_settings is not None:
        cfg = {**run_settings(run), **run.trial_settings}
    else:
        cfg = run_settings(run)
    out = {}
    for key in keys:
        value = cfg.get(key)
        if key == "augment" and isinstance(value, dict):
            value = setting_text("augment", value)
        elif (key in NUMERIC and not isinstance(value, (int, float))) or isinstance(value, bool):
            value = setting_text(key, value)
        out[key] = value
    return out


def by_settings(runs: Sequence[RunSummary]) -> ComparedSettings:
    shown = [r for r in runs if not r.damaged]
    left_out = len(runs) - len(shown)
    keys = [k for k, _ in COMPARED if k not in ("dataset", "device", "precision")]
    if shown and all(r.trial_settings is not None for r in shown):
        keys = list(dict.fromkeys(k for r in shown for k in (r.trial_settings or {})))  # what the sweep varied
    values = [_values(r, keys) for r in shown]
    differing = tuple(k for k in keys if len({repr(v[k]) for v in values}) > 1)
    rows = [SettingsRow(r.name, r.path, tuple(v[k] for k in differing), r.best_val_accuracy, r.test_accuracy,
                        r.trial_status or r.status) for r, v in zip(shown, values)]
    # Runs that trained to their end first, best first; then those stopped early (a pruned trial's
    # accuracy is its accuracy when it was stopped, not what it would have reached).
    rows.sort(key=lambda row: (not row.ended, row.best_val_accuracy is None, -(row.best_val_accuracy or 0.0),
                               row.name))
    importances, note = _importances(differing, rows)
    if left_out:
        note = (note + " " if note else "") + f"{left_out} damaged run{'s' if left_out > 1 else ''} left out."
    return ComparedSettings(differing, tuple(TITLES.get(k, k) for k in differing), tuple(rows), importances, note)


def _importances(settings: Sequence[str], rows: Sequence[SettingsRow]) -> tuple[tuple[tuple[str, float], ...], str]:
    """Each setting's main effect: how far apart the mean best validation accuracy of its values lies
    (a numeric setting with many values in three bins of equal counts), as a share of all the effects.

    Why not Optuna's importance evaluators: its default (PED-ANOVA) compares the top trials with the
    rest and needs more trials than a sweep here has: on a 10-point grid where the learning rate moved the
    accuracy by 5 points and the batch size by 0.1 (tests/test_sweep.py), it gave them 0.51 and 0.49.
    fANOVA needs scikit-learn. The main effect is what a person reads off the per-setting plot, in numbers."""
    scored = [r for r in rows if r.ended and r.best_val_accuracy is not None and math.isfinite(r.best_val_accuracy)]
    if not settings:
        return (), "The runs' settings are the same."
    if len(scored) < MIN_RUNS_FOR_IMPORTANCE:
        return (), f"Which setting mattered needs {MIN_RUNS_FOR_IMPORTANCE} or more finished runs."
    effects = {}
    for i, key in enumerate(settings):
        pairs = [(r.values[i], float(r.best_val_accuracy or 0.0)) for r in scored]
        effects[key] = _main_effect(pairs)
    total = sum(effects.values())
    if total <= 0:
        return (), "The runs' accuracies do not differ."
    return tuple(sorted(((k, v / total) for k, v in effects.items()), key=lambda kv: -kv[1])), ""


def _main_effect(pairs: Sequence[tuple[Any, float]]) -> float:
    distinct = {repr(v) for v, _ in pairs}
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v, _ in pairs)
    groups: dict[Any, list[float]] = {}
    if numeric and len(distinct) > MAX_GROUPS:
        ordered = sorted(pairs, key=lambda p: p[0])
        for i, (_, acc) in enumerate(ordered):
            groups.setdefault(i * BINS // len(ordered), []).append(acc)
    else:
        for value, acc in pairs:
            groups.setdefault(repr(value), []).append(acc)
    means = [sum(g) / len(g) for g in groups.values()]
    return max(means) - min(means) if len(means) > 1 else 0.0
