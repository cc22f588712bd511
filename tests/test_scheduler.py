"""The calendar-queue environment must process events in exactly SimPy's order, and runs must not change."""

from __future__ import annotations

import random

import pandas as pd
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

import casesim.engine.simulation
from casesim.engine.scheduler import CalendarEnvironment
from casesim.engine.simulation import Simulation
from tests.helpers import small


def _trace(env: simpy.Environment, delays: list[list[float]], stops: list[float]) -> list[tuple]:
    """Processes sleeping for the given delays (ties, zero and infinite delays included), one waking
    another through a shared event and interrupting a third; returns every wake-up in order, with ``peek``
    before each stretch of the run."""
    seen: list[tuple] = []
    signal = env.event()

    def sleeper(i: int, ds: list[float]):   # noqa: ANN202 - a SimPy generator
        for j, d in enumerate(ds):
            try:
                yield env.timeout(d)
            except simpy.Interrupt:
                seen.append((env.now, i, j, "interrupted"))
                continue
            seen.append((env.now, i, j))
            if i == 0 and j == 1 and not signal.triggered:
                signal.succeed(i)

    def waiter():   # noqa: ANN202
        value = yield signal
        seen.append((env.now, "signal", value))
        yield env.timeout(0)
        seen.append((env.now, "after zero"))

    procs = [env.process(sleeper(i, ds)) for i, ds in enumerate(delays)]
    env.process(waiter())

    def interrupter():   # noqa: ANN202
        yield env.timeout(2.5)
        if len(procs) > 2 and procs[2].is_alive:
            procs[2].interrupt()

    env.process(interrupter())
    for stop in stops:
        if stop > env.now:
            seen.append(("peek", env.peek()))
            env.run(until=stop)
            seen.append(("stop", env.now))
    seen.append(("peek", env.peek()))
    return seen


delays_st = st.lists(st.lists(st.one_of(st.integers(0, 30).map(float), st.floats(0, 30, allow_nan=False),
                                        st.sampled_from([0.5, 1.0, float("inf")])), min_size=1, max_size=8),
                     min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(delays=delays_st, stops=st.lists(st.floats(0.1, 200, allow_nan=False), max_size=4).map(sorted),
       width=st.sampled_from([1.0, 0.25, 7.0]))
def test_events_come_in_simpys_order(delays: list[list[float]], stops: list[float], width: float) -> None:
    assert _trace(CalendarEnvironment(width=width), delays, stops) == _trace(simpy.Environment(), delays, stops)


def test_many_processes_come_in_simpys_order() -> None:
    """Thousands of sleepers over many buckets, with ties on whole days."""
    def go(env: simpy.Environment) -> list[tuple]:
        rng, seen = random.Random(7), []

        def sleeper(i: int):   # noqa: ANN202
            while True:
                d = rng.expovariate(1 / 10) if i % 3 else float(rng.randint(0, 20))
                yield env.timeout(d)
                seen.append((env.now, i))

        for i in range(2000):
            env.process(sleeper(i))
        for day in (1, 7, 30, 91.5, 365):
            env.run(until=day)
        return seen

    a, b = go(CalendarEnvironment()), go(simpy.Environment())
    assert len(a) > 50_000 and a == b


def test_an_empty_calendar_has_nothing_next() -> None:
    env = CalendarEnvironment()
    assert env.peek() == float("inf")
    with pytest.raises(simpy.core.EmptySchedule):
        env.step()
    env.timeout(12.5)
    assert env.peek() == 12.5   # filed in a later bucket, still seen
    env.step()
    assert env.now == 12.5 and env.peek() == float("inf")


@pytest.mark.parametrize("width", [0, -1, float("inf"), float("nan")])
def test_a_bucket_needs_a_positive_width(width: float) -> None:
    with pytest.raises(ValueError, match="width"):
        CalendarEnvironment(width=width)


@pytest.mark.parametrize("mode", ["each", "aggregate"])
def test_a_run_is_the_same_on_simpys_environment(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sets = ("time.horizon_days=400", "time.warmup_days=100", f"process.contact_settlement={mode}")
    sim = Simulation(small(*sets), seed=4)
    assert isinstance(sim.env, CalendarEnvironment)
    while sim.running:
        sim.step()
    monkeypatch.setattr(casesim.engine.simulation, "CalendarEnvironment", simpy.Environment)
    plain = Simulation(small(*sets), seed=4)
    assert type(plain.env) is simpy.Environment
    while plain.running:
        plain.step()
    pd.testing.assert_frame_equal(sim.log.to_frame(), plain.log.to_frame())
    assert len(sim.log) > 10_000


def test_events_at_and_beyond_the_last_bucket_come_in_simpys_order() -> None:
    """Events never due (``inf``) and too far ahead to number share the last bucket; once it runs, an urgent
    event scheduled then still comes before the normal ones left at the same time."""
    def go(env: simpy.Environment) -> list[tuple]:
        seen: list[tuple] = []

        def mark(name: str, urgent_next: bool = False):   # noqa: ANN202
            def cb(event: simpy.Event) -> None:
                seen.append((env.now, name))
                if urgent_next:
                    ev = env.event()
                    ev.callbacks.append(lambda e: seen.append((env.now, "urgent")))
                    ev._ok, ev._value = True, None
                    env.schedule(ev, simpy.events.URGENT)
            return cb

        for i, d in enumerate([float("inf"), 1e300, 3e18, float("inf"), 5.0, 1e299]):
            env.timeout(d).callbacks.append(mark(f"t{i}", urgent_next=(i == 0)))
        env.run()
        return seen

    a, b = go(CalendarEnvironment()), go(simpy.Environment())
    assert a == b and [x[1] for x in a][-3:] == ["t0", "urgent", "t3"]
