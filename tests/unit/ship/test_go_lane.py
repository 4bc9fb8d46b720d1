"""The environment's Go lane: builds beside the caller's installs, errors reach the caller."""

from __future__ import annotations

import threading

import pytest

from tests.env.__main__ import COMPONENTS, GO_BUILDS, GoLane


def test_lane_runs_its_builds_while_the_caller_works() -> None:
    started, release = threading.Event(), threading.Event()
    done: list[str] = []

    def build() -> None:
        started.set()
        assert release.wait(5)
        done.append("built")

    with GoLane([build]):
        assert started.wait(5), "the lane did not start before the caller's own work"
        assert done == []  # still building while the caller goes on
        release.set()
    assert done == ["built"]  # leaving the block waits for the lane


def test_a_lane_error_reaches_the_caller() -> None:
    def broken() -> None:
        raise RuntimeError("go build failed")

    with pytest.raises(RuntimeError, match="go build failed"), GoLane([broken]):
        pass


def test_the_callers_error_stops_the_lane_after_the_build_under_way() -> None:
    started, release = threading.Event(), threading.Event()
    done: list[int] = []

    def build(n: int) -> None:
        started.set()
        assert release.wait(5)
        done.append(n)

    class Lane(GoLane):
        def stop(self) -> None:
            super().stop()
            release.set()  # the first build ends only once the caller's failure stopped the lane

    def caller_fails() -> None:
        with Lane([lambda: build(1), lambda: build(2)]):
            assert started.wait(5)
            raise ValueError("apt failed")

    with pytest.raises(ValueError, match="apt failed"):
        caller_fails()
    assert done == [1]  # the build under way finished; the second never started


def test_every_go_build_belongs_to_a_component() -> None:
    assert set(GO_BUILDS) <= set(COMPONENTS)
