"""Percentiles and medians shared by the benchmark scripts."""

from __future__ import annotations

import math
from typing import Iterable, Optional, Sequence


def percentile(sorted_values: Sequence[float], fraction: float) -> Optional[float]:
    """Return the nearest-rank percentile of already sorted values, or None when empty.

    `fraction` is in [0, 1]: 0.5 is the median, 0.99 the 99th percentile.
    """
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def median(values: Iterable[Optional[float]]) -> Optional[float]:
    """Return the median of the values that are not None, or None when there are none.

    An even count gives the mean of the two middle values.
    """
    present = sorted(value for value in values if value is not None)
    if not present:
        return None
    middle = len(present) // 2
    if len(present) % 2:
        return present[middle]
    return (present[middle - 1] + present[middle]) / 2
