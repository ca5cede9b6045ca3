"""A batch the worker is told to stop in the middle of is finished before Faust may ack it (issue 12).

Faust acks a ``take_events`` batch in a ``finally`` when the agent leaves its loop, a cancel included, and
commits acked offsets on shutdown: a batch cancelled half-way was committed with part of it never applied.
"""

from __future__ import annotations

import asyncio
from typing import Any, NoReturn

import pytest

from streams.app import run_batch


class Stopped(Exception):
    """Stands in for ``os._exit``: the process would end here, before any commit."""


def stopper(calls: list[tuple[str, BaseException]]) -> Any:
    def stop(agent: str, events: Any, exc: BaseException) -> NoReturn:
        calls.append((agent, exc))
        raise Stopped(agent)
    return stop


async def cancel_midway(work: Any, **kwargs: Any) -> tuple[str, list[tuple[str, BaseException]]]:
    calls: list[tuple[str, BaseException]] = []
    task = asyncio.ensure_future(run_batch("telemetry", [], work, stop=stopper(calls), **kwargs))
    await asyncio.sleep(0.02)
    task.cancel()  # what Faust does to the agent when the worker stops
    try:
        await task
    except asyncio.CancelledError:
        return "cancelled", calls
    except Stopped:
        return "stopped", calls
    return "returned", calls


def test_a_batch_cancelled_midway_is_finished_before_the_cancel_goes_on() -> None:
    steps: list[str] = []

    async def batch() -> None:
        steps.append("outputs sent")
        await asyncio.sleep(0.1)  # the cancel lands here: before the state writes
        steps.append("state written")

    outcome, calls = asyncio.run(cancel_midway(batch()))
    assert outcome == "cancelled" and not calls  # the stop goes on, gracefully (exit 0), after the batch
    assert steps == ["outputs sent", "state written"]


def test_a_batch_that_fails_after_the_cancel_stops_the_worker_before_a_commit() -> None:
    async def batch() -> None:
        await asyncio.sleep(0.1)
        raise OSError("the state write failed")

    outcome, calls = asyncio.run(cancel_midway(batch()))
    assert outcome == "stopped" and isinstance(calls[0][1], OSError)


def test_a_batch_that_cannot_finish_in_time_stops_the_worker_before_a_commit() -> None:
    async def batch() -> None:
        await asyncio.sleep(30)

    outcome, calls = asyncio.run(cancel_midway(batch(), finish_timeout_s=0.1))
    assert outcome == "stopped" and isinstance(calls[0][1], TimeoutError)
    assert "did not finish within" in str(calls[0][1])


def test_a_failure_without_a_stop_stops_the_worker_at_once() -> None:
    calls: list[tuple[str, BaseException]] = []

    async def batch() -> None:
        raise KeyError("bug")

    with pytest.raises(Stopped):
        asyncio.run(run_batch("weather", [], batch(), stop=stopper(calls)))
    assert calls[0][0] == "weather" and isinstance(calls[0][1], KeyError)


def test_a_finished_batch_returns_normally() -> None:
    calls: list[tuple[str, BaseException]] = []

    async def batch() -> str:
        return "ok"

    asyncio.run(run_batch("telemetry", [], batch(), stop=stopper(calls)))
    assert not calls
