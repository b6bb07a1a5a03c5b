"""The micro-batcher turns concurrent submissions into few batch calls, failing items alone."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Callable, Sequence

import pytest

from engine.batching import BatcherClosedError, BatchingOptions, MicroBatcher


class Recorder:
    """A batch function that records each batch and doubles the items."""

    def __init__(self, fail_on: Callable[[int], bool] = lambda _: False) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on
        self.release = asyncio.Event()
        self.release.set()
        self.arrived: asyncio.Queue[list[int]] = asyncio.Queue()

    async def __call__(self, items: list[int]) -> Sequence[int | Exception]:
        self.batches.append(list(items))
        self.arrived.put_nowait(list(items))
        await self.release.wait()
        return [ValueError(f"bad item {i}") if self.fail_on(i) else i * 2 for i in items]


@pytest.fixture
async def closing() -> AsyncIterator[list[MicroBatcher[int, int]]]:
    """Batchers appended here are closed after the test."""
    batchers: list[MicroBatcher[int, int]] = []
    yield batchers
    for batcher in batchers:
        await batcher.aclose()


async def test_concurrent_submissions_share_one_batch(
    closing: list[MicroBatcher[int, int]],
) -> None:
    """Items submitted together within the wait window are processed in one call."""
    recorder = Recorder()
    batcher = MicroBatcher(recorder, BatchingOptions(max_batch_size=64, max_wait_s=0.05))
    closing.append(batcher)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
    assert results == [i * 2 for i in range(10)]
    assert recorder.batches == [list(range(10))]


async def test_batches_never_exceed_the_size_limit(closing: list[MicroBatcher[int, int]]) -> None:
    """25 items with a limit of 10 are processed as batches of 10, 10 and 5."""
    recorder = Recorder()
    batcher = MicroBatcher(recorder, BatchingOptions(max_batch_size=10, max_wait_s=0.05))
    closing.append(batcher)
    results = await batcher.submit_many(list(range(25)))
    assert results == [i * 2 for i in range(25)]
    assert [len(b) for b in recorder.batches] == [10, 10, 5]


async def test_a_lone_item_is_flushed_after_the_wait(closing: list[MicroBatcher[int, int]]) -> None:
    """A single item does not wait for company beyond max_wait_s: it is processed alone."""
    recorder = Recorder()
    batcher = MicroBatcher(recorder, BatchingOptions(max_batch_size=64, max_wait_s=0.001))
    closing.append(batcher)
    assert await batcher.submit(3) == 6
    assert await batcher.submit(4) == 8
    assert recorder.batches == [[3], [4]]


async def test_an_item_error_fails_only_that_item(closing: list[MicroBatcher[int, int]]) -> None:
    """An exception returned for one item is raised to its caller; its neighbours succeed."""
    recorder = Recorder(fail_on=lambda i: i == 2)
    batcher = MicroBatcher(recorder, BatchingOptions(max_wait_s=0.05))
    closing.append(batcher)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(4)), return_exceptions=True)
    assert results[0] == 0
    assert results[1] == 2
    assert isinstance(results[2], ValueError)
    assert results[3] == 6
    assert len(recorder.batches) == 1


async def test_a_raising_batch_fails_every_caller_in_it(
    closing: list[MicroBatcher[int, int]],
) -> None:
    """When the batch function raises, every caller of that batch gets the error."""

    async def explode(items: list[int]) -> Sequence[int | Exception]:
        raise ConnectionError(f"down for {len(items)}")

    batcher: MicroBatcher[int, int] = MicroBatcher(explode, BatchingOptions(max_wait_s=0.05))
    closing.append(batcher)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)


async def test_wrong_result_count_fails_the_batch(closing: list[MicroBatcher[int, int]]) -> None:
    """A batch function that answers the wrong number of items fails that batch loudly."""

    async def short(items: list[int]) -> Sequence[int | Exception]:
        return items[:-1]

    batcher: MicroBatcher[int, int] = MicroBatcher(short, BatchingOptions(max_wait_s=0.05))
    closing.append(batcher)
    with pytest.raises(RuntimeError, match="returned 1 results for 2 items"):
        await batcher.submit_many([1, 2])


async def test_next_batch_collects_while_one_is_in_flight(
    closing: list[MicroBatcher[int, int]],
) -> None:
    """While a slow batch runs, later items form their own batch instead of waiting behind it."""
    recorder = Recorder()
    recorder.release.clear()
    batcher = MicroBatcher(recorder, BatchingOptions(max_wait_s=0.001, max_in_flight=2))
    closing.append(batcher)
    first = asyncio.create_task(batcher.submit(1))
    assert await recorder.arrived.get() == [1]
    second = asyncio.create_task(batcher.submit(2))
    assert await recorder.arrived.get() == [2]
    recorder.release.set()
    assert (await first, await second) == (2, 4)
    assert recorder.batches == [[1], [2]]


async def test_submitting_after_close_is_an_error() -> None:
    """A closed batcher refuses new items."""
    batcher = MicroBatcher(Recorder())
    await batcher.aclose()
    with pytest.raises(BatcherClosedError):
        await batcher.submit(1)


@pytest.mark.parametrize(
    "options",
    [
        {"max_batch_size": 0},
        {"max_wait_s": -0.1},
        {"max_in_flight": 0},
    ],
)
def test_nonsense_limits_are_rejected(options: dict[str, float]) -> None:
    """Limits that could never flush or never run are rejected at construction."""
    with pytest.raises(ValueError, match="must be"):
        BatchingOptions(**options)  # type: ignore[arg-type]


async def test_batches_do_not_inherit_the_first_callers_context(
    closing: list[MicroBatcher[int, int]],
) -> None:
    """Context variables bound by the caller that starts the batcher never reach the batch."""
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")
    seen: list[str] = []

    async def process(items: list[int]) -> Sequence[int | Exception]:
        seen.append(request_id.get())
        return items

    batcher = MicroBatcher(process, BatchingOptions(max_batch_size=4, max_wait_s=0.001))
    closing.append(batcher)

    async def submit_as(caller: str, item: int) -> int:
        request_id.set(caller)
        return await batcher.submit(item)

    assert await asyncio.create_task(submit_as("first-request", 1)) == 1
    assert await asyncio.create_task(submit_as("second-request", 2)) == 2
    assert seen == ["none", "none"]


async def test_a_group_is_never_split_across_batches(
    closing: list[MicroBatcher[int, int]],
) -> None:
    """A group that does not fit in the batch being collected starts the next batch whole,
    in order; each item gets its own result or error."""
    recorder = Recorder(fail_on=lambda i: i == 12)
    batcher = MicroBatcher(recorder, BatchingOptions(max_batch_size=8, max_wait_s=0.05))
    closing.append(batcher)
    singles = [asyncio.create_task(batcher.submit(i)) for i in range(5)]
    await asyncio.sleep(0)  # the five are queued first
    group = await batcher.submit_group([10, 11, 12, 13, 14, 15])
    assert await asyncio.gather(*singles) == [0, 2, 4, 6, 8]
    assert group[:2] == [20, 22]
    assert isinstance(group[2], ValueError)
    assert group[3:] == [26, 28, 30]
    assert recorder.batches == [[0, 1, 2, 3, 4], [10, 11, 12, 13, 14, 15]]


async def test_a_group_larger_than_a_batch_is_refused(
    closing: list[MicroBatcher[int, int]],
) -> None:
    """submit_group takes at most max_batch_size items (the caller chunks)."""
    batcher = MicroBatcher(Recorder(), BatchingOptions(max_batch_size=4))
    closing.append(batcher)
    with pytest.raises(ValueError, match="exceeds max_batch_size"):
        await batcher.submit_group(list(range(5)))
    assert await batcher.submit_group([]) == []
