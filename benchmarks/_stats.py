"""Small helpers the benchmark scripts share (they run as scripts, so this folder is on sys.path)."""

from __future__ import annotations


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, q in 0..1; NaN for no values."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def median_interval(values: list[float], level: float = 0.95) -> tuple[float, float] | None:
    """Distribution-free confidence interval for the median: the order statistics x(k), x(n+1-k) with the
    largest k whose binomial(n, 1/2) coverage is still >= level. No assumption about the noise's shape,
    which on a shared VM is anything but normal. None when n is too small for the level (n < 6 at 95 %)."""
    from math import comb

    s, n = sorted(values), len(values)
    best = None
    for k in range(1, n // 2 + 1):
        # P(x(k) <= median <= x(n+1-k)) = 1 - 2 * P(Binomial(n, 1/2) <= k - 1)
        coverage = 1 - 2 * sum(comb(n, i) for i in range(k)) / 2 ** n
        if coverage >= level:
            best = k
    return None if best is None else (s[best - 1], s[n - best])
