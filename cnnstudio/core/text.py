"""Words for numbers in messages: "1 epoch", "3 epochs"."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 epoch', '2 epochs', '1,200 images' (many: an irregular plural)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
