"""Vectorized sliding-window kernels over rows sorted by (entity, event time, input order).

Every row's window is a contiguous range ``[start, end)`` of sorted positions: the entity's rows
whose event time lies in ``(t - lag - window, t - lag]`` and that arrived no later than the row
itself. Rows are located with :func:`numpy.searchsorted` on one composite int64 key per row,
``group * stride + (t - t_min) + reach``, whose ``stride`` keeps every group's keys and window
bounds apart. No Python loop runs per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api.indexers import BaseIndexer

from core.errors import InvalidInputError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_INT64_LIMIT: Final = 2**63


@dataclass(frozen=True, slots=True)
class EntityLayout:
    """One entity field's rows (non-null keys only) in (entity, event time, input order) order."""

    rows: IntArray
    """Input row position of each sorted position."""
    groups: IntArray
    """Entity value code of each sorted position."""
    times: IntArray
    """Event time (ms) of each sorted position."""
    keys: IntArray
    """Composite search key of each sorted position (non-decreasing)."""

    @property
    def size(self) -> int:
        """Number of rows with a non-null entity value."""
        return len(self.rows)


@dataclass(frozen=True, slots=True)
class Bounds:
    """Per sorted position: the window ``[start, end)`` and the previous-rows window's end.

    ``previous_end = min(end, own position)``: the window without the row itself, which is what
    ``first_seen``, ``seconds_since_last`` and ``zscore`` look at.
    """

    start: IntArray
    end: IntArray
    previous_end: IntArray


def build_layout(codes: IntArray, event_ms: IntArray, reach_ms: int) -> EntityLayout:
    """Sort the rows whose entity code is not -1; ``reach_ms`` is the longest window plus lag."""
    rows = np.flatnonzero(codes >= 0).astype(np.int64)
    groups = codes[rows]
    times = event_ms[rows]
    if len(rows) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return EntityLayout(rows=empty, groups=empty, times=empty, keys=empty)
    t_min = int(times.min())
    stride = int(times.max()) - t_min + 2 * reach_ms + 1
    if (int(groups.max()) + 1) * stride >= _INT64_LIMIT:
        raise InvalidInputError(
            "timestamps span too long a period to compute windows over "
            f"{int(groups.max()) + 1} entity values"
        )
    keys = groups * stride + (times - t_min) + reach_ms
    order = np.argsort(keys, kind="stable")
    return EntityLayout(
        rows=rows[order], groups=groups[order], times=times[order], keys=keys[order]
    )


def window_bounds(layout: EntityLayout, window_ms: int, lag_ms: int) -> Bounds:
    """Each sorted row's window over (t - lag - window, t - lag], never past the row itself."""
    position = np.arange(layout.size, dtype=np.int64)
    start = np.searchsorted(layout.keys, layout.keys - (lag_ms + window_ms), side="right")
    if lag_ms == 0:
        end = position + 1
    else:
        end = np.searchsorted(layout.keys, layout.keys - lag_ms, side="right").astype(np.int64)
    start = start.astype(np.int64)
    return Bounds(start=start, end=end, previous_end=np.minimum(end, position))


def window_sums(values: IntArray, start: IntArray, end: IntArray, *, square: bool) -> FloatArray:
    """Exact integer sums of ``values`` (or their squares) over ``[start, end)``, as doubles.

    Prefix sums in int64 are exact whenever every window sum fits in int64 (intermediate
    wrap-around cancels in the difference); otherwise Python integers are used. Each exact sum is
    then rounded once to the nearest double.
    """
    if len(values) == 0:
        return np.zeros(0, dtype=np.float64)
    largest = int(np.abs(values).max()) ** (2 if square else 1)
    longest = int((end - start).max(initial=0))
    if largest * longest < _INT64_LIMIT:
        terms = values * values if square else values
        prefix = np.concatenate((np.zeros(1, dtype=np.int64), np.cumsum(terms)))
        return np.asarray(prefix[end] - prefix[start], dtype=np.float64)
    big = values.astype(object)
    big_terms = big * big if square else big
    big_prefix = np.concatenate((np.zeros(1, dtype=object), np.cumsum(big_terms)))
    return np.asarray(big_prefix[end] - big_prefix[start], dtype=np.float64)


class _GivenBounds(BaseIndexer):
    """A rolling-window indexer that returns precomputed ``[start, end)`` arrays."""

    def __init__(self, start: IntArray, end: IntArray) -> None:
        super().__init__()
        self._start = start
        self._end = end

    def get_window_bounds(
        self,
        num_values: int = 0,
        min_periods: int | None = None,
        center: bool | None = None,
        closed: str | None = None,
        step: int | None = None,
    ) -> tuple[IntArray, IntArray]:
        """The precomputed bounds, whatever pandas asks."""
        return self._start, self._end


def window_max(values: IntArray, start: IntArray, end: IntArray) -> FloatArray:
    """Largest value over ``[start, end)`` as a double; NaN for an empty window.

    Values must be below 2**53 so that they are exact doubles (amount units always are).
    """
    if len(values) == 0:
        return np.zeros(0, dtype=np.float64)
    series = pd.Series(values.astype(np.float64))
    rolled = series.rolling(_GivenBounds(start, end), min_periods=1).max()
    return rolled.to_numpy(dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Occurrences:
    """Where each (entity, value) pair occurs, for rows whose value is not null."""

    pair: IntArray
    """Dense pair code per sorted position, -1 where the value is null."""
    sorted_pairs: IntArray
    """Pair codes of all occurrences, grouped by pair, positions ascending within a pair."""
    sorted_positions: IntArray
    """Sorted position of each occurrence, in the same order as ``sorted_pairs``."""


def occurrences(layout: EntityLayout, value_codes: IntArray) -> Occurrences:
    """Index the (entity, value) pairs of ``value_codes`` (input row order, -1 for null)."""
    values = value_codes[layout.rows]
    positions = np.flatnonzero(values >= 0).astype(np.int64)
    raw = layout.groups[positions] * (int(values.max(initial=0)) + 1) + values[positions]
    order = np.argsort(raw, kind="stable")
    sorted_raw = raw[order]
    starts_pair = np.ones(len(order), dtype=np.int64)
    starts_pair[1:] = sorted_raw[1:] != sorted_raw[:-1]
    sorted_pairs = np.cumsum(starts_pair) - 1
    pair = np.full(layout.size, -1, dtype=np.int64)
    pair[positions[order]] = sorted_pairs
    return Occurrences(pair=pair, sorted_pairs=sorted_pairs, sorted_positions=positions[order])


def distinct_counts(occ: Occurrences, bounds: Bounds) -> IntArray:
    """Number of distinct non-null values among each row's window ``[start, end)``.

    An occurrence at position ``j`` is counted for row ``q`` exactly when it is the last
    occurrence of its pair before ``end_q``: ``start_q <= j < end_q <= next_j`` (``next_j`` being
    the pair's next occurrence). Because ``start`` and ``end`` never decrease, those rows form one
    contiguous range, added to a difference array.
    """
    size = len(bounds.start)
    j = occ.sorted_positions
    same_next = np.zeros(len(j), dtype=bool)
    same_next[:-1] = occ.sorted_pairs[1:] == occ.sorted_pairs[:-1]
    next_j = np.full(len(j), size, dtype=np.int64)
    next_j[:-1] = np.where(same_next[:-1], j[1:], size)
    first_row = np.searchsorted(bounds.end, j, side="right")
    after_start = np.searchsorted(bounds.start, j, side="right")
    before_next = np.searchsorted(bounds.end, next_j, side="right")
    last_row = np.minimum(after_start, before_next)
    keep = first_row < last_row
    delta = np.bincount(first_row[keep], minlength=size + 1) - np.bincount(
        last_row[keep], minlength=size + 1
    )
    return np.cumsum(delta[:size]).astype(np.int64)


def seen_before(occ: Occurrences, bounds: Bounds) -> BoolArray:
    """Whether each row's own value occurs in its previous-rows window ``[start, previous_end)``.

    Rows with a null value get ``False`` (callers mark them missing).
    """
    size = len(bounds.start)
    stride = size + 1
    occurrence_keys = occ.sorted_pairs * stride + occ.sorted_positions
    has_value = occ.pair >= 0
    query = occ.pair * stride + bounds.previous_end
    latest = np.searchsorted(occurrence_keys, query, side="left") - 1
    safe = np.clip(latest, 0, None)
    found = (latest >= 0) & has_value
    if len(occurrence_keys) == 0:
        return np.zeros(size, dtype=bool)
    found &= occ.sorted_pairs[safe] == occ.pair
    return found & (occ.sorted_positions[safe] >= bounds.start)


def known_counts(
    layout: EntityLayout, bounds: Bounds, flagged: BoolArray, known_ms: IntArray, delay_ms: int
) -> IntArray:
    """Per sorted row: the flagged rows of its previous-rows window ``[start, previous_end)``
    whose flag was known by the row's event time minus ``delay_ms`` (``known_ms + delay_ms <= t``).

    ``flagged`` and ``known_ms`` are given per sorted position. A flagged row ``j`` counts for row
    ``q`` exactly when ``start_q <= j < previous_end_q`` (a contiguous range of rows, because both
    bounds never decrease) and ``t_q >= known_j + delay`` (the rows of ``j``'s entity value from
    the first one at or after that instant): the intersection is one range, added to a
    difference array, as in :func:`distinct_counts`.
    """
    size = layout.size
    j = np.flatnonzero(flagged).astype(np.int64)
    if size == 0 or len(j) == 0:
        return np.zeros(size, dtype=np.int64)
    first_row = np.searchsorted(bounds.previous_end, j, side="right")
    last_row = np.searchsorted(bounds.start, j, side="right")
    # Keys of one entity value differ exactly as their times do, and a time up to t_max + 1 stays
    # inside the value's key range (see build_layout's stride), so the first row of j's value at
    # or after `known_j + delay` is a searchsorted away.
    times = layout.times[j]
    counted_from = np.clip(known_ms[j] + delay_ms, times, int(layout.times.max()) + 1)
    known_row = np.searchsorted(layout.keys, layout.keys[j] + (counted_from - times), side="left")
    first_row = np.maximum(first_row, known_row)
    keep = first_row < last_row
    delta = np.bincount(first_row[keep], minlength=size + 1) - np.bincount(
        last_row[keep], minlength=size + 1
    )
    return np.cumsum(delta[:size]).astype(np.int64)
