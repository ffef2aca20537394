"""What a person picks in the Sweep dialog, checked as `cnnstudio sweep` checks its options (Qt-free)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.sweep.space import SweepError, parse_param
from cnnstudio.core.sweep.study import SweepSpec, make_spec


@dataclass(frozen=True)
class SweepChoice:
    """The parameters as `cnnstudio sweep --param` writes them, and how to search."""

    params: tuple[str, ...]
    strategy: str
    trials: int | None
    epochs: int | None
    budget_minutes: float | None


@dataclass(frozen=True)
class SweepCheck:
    spec: SweepSpec | None
    problem: str  # "" when spec is not None


def choice_params(rows: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """(setting, values typed) of the ticked rows, as --param texts."""
    return tuple(f"{name}={values.strip()}" for name, values in rows)


def uses_trials(choice: SweepChoice) -> bool:
    """Whether the number of trials means anything: random draws, or halving over a range (halving over
    lists visits every combination, as a grid does)."""
    if choice.strategy == "random":
        return True
    if choice.strategy != "halving":
        return False
    try:
        return any(parse_param(p).is_range for p in choice.params)
    except SweepError:
        return False


def check_choice(dataset: str, model: str | None, choice: SweepChoice,
                 fixed: Mapping[str, Any] | None = None) -> SweepCheck:
    try:
        spec = make_spec(dataset, choice.params, choice.strategy, model=model,
                         trials=choice.trials if uses_trials(choice) else None, epochs=choice.epochs, fixed=fixed)
    except CNNStudioError as exc:
        return SweepCheck(None, str(exc))
    return SweepCheck(spec, "")
