"""The per-session serializer: no overlap, bursts folded, results shared, cancellation safe."""

from __future__ import annotations

import asyncio

import pytest

from tuneop.controller.scheduling import Coalescer


class Probe:
    """A job that records overlap and waits to be released."""

    def __init__(self) -> None:
        self.running = 0
        self.max_running = 0
        self.calls: list[str] = []
        self.release = asyncio.Event()

    def job(self, label: str, fail: bool = False):  # type: ignore[no-untyped-def]
        async def run() -> str:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self.calls.append(label)
            try:
                await self.release.wait()
                if fail:
                    raise RuntimeError(label)
                return label
            finally:
                self.running -= 1

        return run


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_runs_of_one_key_never_overlap_and_a_burst_becomes_one_more_run() -> None:
    async def scenario() -> None:
        c, p = Coalescer(), Probe()
        first = asyncio.create_task(c.run("ns/a", p.job("first")))
        await settle()
        burst = [asyncio.create_task(c.run("ns/a", p.job(f"event {i}"))) for i in range(10)]
        await settle()
        p.release.set()
        results = await asyncio.gather(first, *burst)
        assert p.max_running == 1
        assert p.calls == ["first", "event 9"]  # the newest request's job runs
        assert results == ["first"] + ["event 9"] * 10
        assert c.runs == 2 and len(c) == 0

    asyncio.run(scenario())


def test_different_keys_run_in_parallel() -> None:
    async def scenario() -> None:
        c, p = Coalescer(), Probe()
        tasks = [asyncio.create_task(c.run(k, p.job(k))) for k in ("a", "b")]
        await settle()
        assert p.max_running == 2
        p.release.set()
        assert await asyncio.gather(*tasks) == ["a", "b"]

    asyncio.run(scenario())


def test_every_joined_caller_sees_the_error() -> None:
    async def scenario() -> None:
        c, p = Coalescer(), Probe()
        p.release.set()
        tasks = [asyncio.create_task(c.run("k", p.job("x", fail=True))) for _ in range(3)]
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(o, RuntimeError) for o in outcomes)
        assert c.runs == 1 and len(c) == 0

    asyncio.run(scenario())


def test_a_cancelled_caller_does_not_cancel_the_run_others_wait_for() -> None:
    async def scenario() -> None:
        c, p = Coalescer(), Probe()
        mine = asyncio.create_task(c.run("k", p.job("shared")))
        other = asyncio.create_task(c.run("k", p.job("shared")))
        await settle()
        mine.cancel()
        await settle()
        p.release.set()
        assert await other == "shared"
        with pytest.raises(asyncio.CancelledError):
            await mine

    asyncio.run(scenario())


def test_a_request_after_a_run_started_gets_a_fresh_run() -> None:
    async def scenario() -> None:
        c, p = Coalescer(), Probe()
        first = asyncio.create_task(c.run("k", p.job("one")))
        await settle()
        assert p.calls == ["one"]
        second = asyncio.create_task(c.run("k", p.job("two")))
        await settle()
        assert p.calls == ["one"]  # waits for the first to end
        p.release.set()
        assert await asyncio.gather(first, second) == ["one", "two"]

    asyncio.run(scenario())
