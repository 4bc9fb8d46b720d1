"""rounds.Rounds: every registered gate refreshed once a round, a stuck one never holding up
the others, a gone one unregistered. Pure asyncio, no I/O."""

from __future__ import annotations

import asyncio

from healthgate_operator.rounds import Rounds


def make_rounds(workers: int = 2) -> tuple[Rounds, list[float]]:
    seen: list[float] = []
    return Rounds(interval=3600, workers=workers, observe=seen.append), seen


async def test_a_round_refreshes_every_registered_gate_once() -> None:
    rounds, _ = make_rounds()
    calls: list[str] = []

    def refresher(key: str):  # type: ignore[no-untyped-def]
        async def refresh() -> bool:
            calls.append(key)
            return True

        return refresh

    with rounds.registered("a", refresher("a")), rounds.registered("b", refresher("b")):
        with rounds.registered("c", refresher("c")):
            await rounds.round()
        await rounds.round()
    await rounds.round()
    assert sorted(calls) == ["a", "a", "b", "b", "c"]


async def test_a_stuck_gate_holds_one_worker_and_the_others_go_on() -> None:
    rounds, _ = make_rounds(workers=2)
    release = asyncio.Event()
    done: list[str] = []

    async def stuck() -> bool:
        await release.wait()
        done.append("stuck")
        return True

    async def quick() -> bool:
        done.append("quick")
        return True

    with (
        rounds.registered("stuck", stuck),
        rounds.registered("q1", quick),
        rounds.registered("q2", quick),
        rounds.registered("q3", quick),
    ):
        task = asyncio.create_task(rounds.round())
        for _ in range(20):
            await asyncio.sleep(0)
        assert done == ["quick"] * 3  # all three while "stuck" still waits
        release.set()
        await task
    assert done[-1] == "stuck"


async def test_a_gone_gate_is_marked_and_an_error_is_not_the_end() -> None:
    rounds, _ = make_rounds()

    async def gone() -> bool:
        return False

    async def broken() -> bool:
        raise RuntimeError("bug")

    with rounds.registered("gone", gone) as g, rounds.registered("broken", broken) as b:
        await rounds.round()
        assert g.gone.is_set()
        assert not b.gone.is_set()


async def test_run_times_each_round_and_waits_for_a_first_gate() -> None:
    rounds, seen = make_rounds()
    rounds.start()
    await asyncio.sleep(0.01)
    assert seen == []  # idle: no rounds without gates

    async def refresh() -> bool:
        return True

    with rounds.registered("a", refresh):
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
    await rounds.stop()
    assert len(seen) == 1
