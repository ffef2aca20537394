"""What a sweep varies: settings of `cnnstudio train` with a list of values or a range.

`lr=0.02,0.05,0.1` is a list; `lr=1e-3:1:log` and `weight_decay=0:1e-3:lin` are ranges. A grid needs
lists (a range has no points to visit); random and halving search draw from ranges too. Parsing checks
each value the way a run's config does (build_config), so a bad value is one clear line before any
trial starts, never a trial that fails an hour in.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cnnstudio.core.errors import CNNStudioError

# The settings a sweep may vary, and how their values are read. `model` is a preset name or a JSON spec
# file; `augment` one of config.AUGMENT_PRESETS (or "default": what the data's recipe chooses).
KINDS: dict[str, str] = {
    "lr": "float", "batch_size": "int", "epochs": "int", "weight_decay": "float", "label_smoothing": "float",
    "optimizer": "choice", "augment": "choice", "model": "choice",
}
SCALES = ("log", "lin")
MAX_GRID = 10_000  # more points than a person means to train; refused with the count


class SweepError(CNNStudioError):
    """A sweep's settings, folder or study cannot be used as given."""


@dataclass(frozen=True)
class SweepParam:
    """One setting to vary: a list of `values`, or a range `low`..`high` on a log or linear `scale`."""

    name: str
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    scale: str = ""

    @property
    def is_range(self) -> bool:
        return self.low is not None

    @property
    def kind(self) -> str:
        return KINDS[self.name]

    def text(self) -> str:
        """The parameter as the command line writes it (what sweep.json keeps)."""
        if self.is_range:
            return f"{self.name}={self.low:g}:{self.high:g}:{self.scale}"
        return f"{self.name}=" + ",".join(_value_text(v) for v in self.values)


def _value_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _number(name: str, text: str, kind: str) -> float | int:
    try:
        value: float | int = int(text) if kind == "int" else float(text)
    except ValueError:
        what = "a whole number" if kind == "int" else "a number"
        raise SweepError(f"{name}: {text!r} is not {what}") from None
    if not math.isfinite(value):
        raise SweepError(f"{name}: {text!r} is not a finite number")
    return value


def parse_param(text: str) -> SweepParam:
    """`NAME=a,b,c` or `NAME=lo:hi:log|lin` -> SweepParam; SweepError with one line when it cannot be read."""
    name, sep, values = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not values.strip():
        raise SweepError(f"--param {text!r}: write NAME=VALUES, e.g. lr=0.01,0.1 or lr=1e-3:1:log")
    if name not in KINDS:
        raise SweepError(f"--param {text!r}: {name!r} cannot be swept (one of {', '.join(KINDS)})")
    kind = KINDS[name]
    values = values.strip()
    parts = values.split(":")
    if len(parts) > 1 and not (kind == "choice" and name == "model"):
        if len(parts) != 3 or parts[2] not in SCALES:
            raise SweepError(f"--param {text!r}: a range is lo:hi:log or lo:hi:lin")
        if kind == "choice":
            raise SweepError(f"--param {text!r}: {name} takes a list of values, not a range")
        low, high = _number(name, parts[0], kind), _number(name, parts[1], kind)
        if low >= high:
            raise SweepError(f"--param {text!r}: the range's low end must be below its high end")
        if parts[2] == "log" and low <= 0:
            raise SweepError(f"--param {text!r}: a log range must start above 0 (use lin, or a low end like 1e-6)")
        return SweepParam(name, low=low, high=high, scale=parts[2])
    items = [v.strip() for v in values.split(",")]
    if any(not v for v in items):
        raise SweepError(f"--param {text!r}: an empty value in the list")
    parsed = tuple(items if kind == "choice" else [_number(name, v, kind) for v in items])
    if len(set(parsed)) != len(parsed):
        raise SweepError(f"--param {text!r}: a value is listed twice")
    return SweepParam(name, values=parsed)


def check_space(params: Sequence[SweepParam]) -> None:
    """At least one setting, none named twice."""
    if not params:
        raise SweepError("a sweep needs at least one --param NAME=VALUES")
    names = [p.name for p in params]
    for name in names:
        if names.count(name) > 1:
            raise SweepError(f"--param {name} is given twice: give it once with every value")


def grid_size(params: Sequence[SweepParam]) -> int:
    return math.prod(len(p.values) for p in params)


def grid(params: Sequence[SweepParam]) -> Iterator[dict[str, Any]]:
    """Every combination of the lists, the first parameter varying slowest."""
    names = [p.name for p in params]
    for combo in itertools.product(*(p.values for p in params)):
        yield dict(zip(names, combo))


def check_grid(params: Sequence[SweepParam], strategy: str) -> int:
    """The number of grid points; a range in a grid, or a grid too large to mean, is refused."""
    ranges = [p.name for p in params if p.is_range]
    if ranges:
        raise SweepError(f"--strategy {strategy} visits listed values, but {', '.join(ranges)} is a range: list "
                         "the values (a,b,c), or use --strategy random or halving with --trials N")
    size = grid_size(params)
    if size > MAX_GRID:
        raise SweepError(f"the grid has {size:,} points (more than {MAX_GRID:,}): list fewer values, or use "
                         "--strategy random or halving with --trials N")
    return size


def settings_text(settings: Mapping[str, Any]) -> str:
    """`lr=0.1 batch_size=128`: a trial's settings in one short line (logs, folder names)."""
    return " ".join(f"{k}={_value_text(v)}" for k, v in settings.items())
