"""Explicit train and test windows: the evaluation protocol fraud teams use.

"Train on days 1-14, wait 7 days for labels, test on days 22-28": the blocks are half-open date
ranges, ``[train_start, train_end)`` and ``[test_start, test_end)``, with ``train_end <=
test_start``. Every row still feeds the features (they only look back in time); only the rows in
a block are trained on or tested::

    |- history -|------ train ------|-- gap --|---- test ----|- after -|
                |--- fit ---|-val-|
                            (train rows whose label is not known at train_end: unlabelled)

* rows before ``train_start``, in the gap and after ``test_end``: feature history only;
* train rows count only when their label was known by ``train_end`` (:mod:`training.labels`);
  fit and validation are cut among them as in :func:`training.split.time_split`.

Dates are ISO 8601 (``2024-03-01`` is midnight UTC; a date-time may carry an offset). Problems
are reported with the command-line flag they come from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from core.errors import InvalidInputError, Problem
from training.split import TimeSplit, rows_per_day, to_datetime, train_blocks, utc_times

TRAIN_START: Final = "--train-start"
TRAIN_END: Final = "--train-end"
TEST_START: Final = "--test-start"
TEST_END: Final = "--test-end"
WINDOW_FLAGS: Final = (TRAIN_START, TRAIN_END, TEST_START, TEST_END)


@dataclass(frozen=True, slots=True)
class TimeWindows:
    """The train block ``[train_start, train_end)`` and the test block ``[test_start, test_end)``
    (timezone-aware)."""

    train_start: datetime
    train_end: datetime
    test_start: datetime
    test_end: datetime

    @property
    def gap_days(self) -> float:
        """Days between the end of the train block and the start of the test block."""
        return (self.test_start - self.train_end).total_seconds() / 86_400.0


def parse_moment(text: str, flag: str) -> datetime:
    """An ISO 8601 date or date-time (UTC when it has no offset); the error names ``flag``."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"invalid {flag}",
            [Problem(flag, f"{text!r} is not an ISO 8601 date, e.g. 2024-03-01")],
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_windows(
    train_start: str | None,
    train_end: str | None,
    test_start: str | None,
    test_end: str | None,
) -> TimeWindows | None:
    """The windows given as flag text; ``None`` when no flag is given.

    All four go together; each must parse, each block must end after it starts, and the train
    block must end no later than the test block starts.
    """
    texts = dict(zip(WINDOW_FLAGS, (train_start, train_end, test_start, test_end), strict=True))
    if all(text is None for text in texts.values()):
        return None
    problems = [
        Problem(flag, f"is required with {', '.join(f for f in WINDOW_FLAGS if f != flag)}")
        for flag, text in texts.items()
        if text is None
    ]
    moments: dict[str, datetime] = {}
    for flag, text in texts.items():
        if text is not None:
            try:
                moments[flag] = parse_moment(text, flag)
            except InvalidInputError as exc:
                problems.extend(exc.problems)
    if problems:
        raise InvalidInputError("invalid train/test windows", problems)
    problems = [
        *_ordered(moments, TRAIN_START, TRAIN_END),
        *_ordered(moments, TEST_START, TEST_END),
    ]
    if moments[TEST_START] < moments[TRAIN_END]:
        problems.append(
            Problem(
                TEST_START,
                f"{_show(moments[TEST_START])} is before {TRAIN_END} {_show(moments[TRAIN_END])}:"
                " the test block must start at or after the end of the train block",
            )
        )
    if problems:
        raise InvalidInputError("invalid train/test windows", problems)
    return TimeWindows(*(moments[flag] for flag in WINDOW_FLAGS))


def parse_test_window(
    test_start: str | None, test_end: str | None
) -> tuple[datetime, datetime] | None:
    """``--test-start`` / ``--test-end`` of ``vigil evaluate``: both or neither, start < end."""
    texts = {TEST_START: test_start, TEST_END: test_end}
    if test_start is None and test_end is None:
        return None
    problems = [
        Problem(flag, f"is required with {other}")
        for (flag, text), other in zip(texts.items(), (TEST_END, TEST_START), strict=True)
        if text is None
    ]
    if problems:
        raise InvalidInputError("invalid test window", problems)
    moments = {flag: parse_moment(text or "", flag) for flag, text in texts.items()}
    problems = _ordered(moments, TEST_START, TEST_END)
    if problems:
        raise InvalidInputError("invalid test window", problems)
    return moments[TEST_START], moments[TEST_END]


def window_split(
    timestamps: pd.Series,
    windows: TimeWindows,
    *,
    validation_fraction: float,
    known_at: NDArray[np.datetime64] | None = None,
) -> TimeSplit:
    """Cut rows into the blocks of ``windows``; :class:`InvalidInputError` names the flag whose
    block is empty (or ``--label-delay`` when no train label is known by ``train_end``)."""
    if not 0.0 < validation_fraction < 1.0:
        raise InvalidInputError(
            "invalid split options",
            [Problem("validation_fraction", f"must be between 0 and 1, got {validation_fraction}")],
        )
    times = utc_times(timestamps)
    train_start, train_end, test_start, test_end = (
        _naive(w)
        for w in (windows.train_start, windows.train_end, windows.test_start, windows.test_end)
    )
    train = (times >= train_start) & (times < train_end)
    test = (times >= test_start) & (times < test_end)
    gap = (times >= train_end) & (times < test_start)
    known = train if known_at is None else train & (known_at <= train_end)
    problems = _empty_blocks(times, windows, train, test, known)
    if problems:
        raise InvalidInputError("the train/test windows leave a block empty", problems)
    fit, validation, validation_start = train_blocks(times, known, validation_fraction)
    return TimeSplit(
        fit=fit,
        validation=validation,
        gap=gap,
        test=test,
        unlabelled=train & ~known,
        outside=~(train | gap | test),
        validation_period=train & (times >= validation_start),
        validation_start=to_datetime(validation_start),
        gap_start=windows.train_end,
        test_start=windows.test_start,
        train_rows_per_day=rows_per_day(int(np.count_nonzero(train)), train_start, train_end),
        train_start=windows.train_start,
        test_end=windows.test_end,
    )


def _empty_blocks(
    times: NDArray[np.datetime64],
    windows: TimeWindows,
    train: NDArray[np.bool_],
    test: NDArray[np.bool_],
    known: NDArray[np.bool_],
) -> list[Problem]:
    span = (
        f"the data spans {_show(to_datetime(times.min()))} to {_show(to_datetime(times.max()))}"
        if len(times)
        else "the data has no rows"
    )
    problems = []
    n_train, n_known = int(np.count_nonzero(train)), int(np.count_nonzero(known))
    if n_train == 0:
        block = f"[{_show(windows.train_start)}, {_show(windows.train_end)})"
        problems.append(Problem(f"{TRAIN_START}/{TRAIN_END}", f"no rows in {block}; {span}"))
    elif n_known < 2:
        problems.append(
            Problem(
                "--label-delay",
                f"only {n_known} of the {n_train} train rows have a label known by {TRAIN_END} "
                f"{_show(windows.train_end)}; lower --label-delay or end the train block later",
            )
        )
    if not test.any():
        block = f"[{_show(windows.test_start)}, {_show(windows.test_end)})"
        problems.append(Problem(f"{TEST_START}/{TEST_END}", f"no rows in {block}; {span}"))
    return problems


def _ordered(moments: dict[str, datetime], start: str, end: str) -> list[Problem]:
    if moments[start] < moments[end]:
        return []
    return [Problem(end, f"{_show(moments[end])} must be after {start} {_show(moments[start])}")]


def _naive(moment: datetime) -> np.datetime64:
    return np.datetime64(pd.Timestamp(moment).tz_convert("UTC").tz_localize(None), "us")


def _show(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%d}" if utc.time() == datetime.min.time() else utc.isoformat()
