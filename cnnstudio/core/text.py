"""Words for numbers in messages: "1 epoch", "3 epochs", "1:05:00"."""

from __future__ import annotations

import math


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 epoch', '2 epochs', '1,200 images' (many: an irregular plural)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def clock_text(seconds: float | None, unknown: str = "--") -> str:
    """A duration as a clock shows it: '0:42', '12:05', '1:02:03'; `unknown` for None, NaN or negative."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return unknown
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
