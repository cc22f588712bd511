"""The floor under the engine: SimPy alone, scheduling wake-ups the way a case process does.

``N`` objects each sleep on a timeout with one callback (as :class:`casesim.engine.process.CaseProcess`
does: no generator, a stale-wake check, a new timeout per wake-up, exponential gaps of a week on average),
with no model work at all. It prints the CPU time per event at each number of pending wake-ups. A national
part holds about 200,000, the baseline a few thousand; what the engine costs beyond this is the model's own
work (docs/performance.md, "its floor"). Run it under the engine's collector policy (automatic collection off)
and, for national sizes, with the parts' allocator: ``PYTHONMALLOC=malloc GLIBC_TUNABLES=glibc.malloc.hugetlb=1``.
Nothing is asserted: it is a measuring script.

    python benchmarks/bench_bare_simpy.py                      # 10,000 and 200,000 pending
    python benchmarks/bench_bare_simpy.py --pending 50000 --events 3000000 --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import random
import time

import simpy


class _Sleeper:
    """Sleeps on one timeout at a time; a wake-up from any other would be stale (as in ``CaseProcess.wake``)."""

    __slots__ = ("env", "gap", "alarm", "count")

    def __init__(self, env: simpy.Environment, gap: random.Random, count: list[int], first: float) -> None:
        self.env, self.gap, self.count = env, gap, count
        self.alarm = alarm = env.timeout(first)
        alarm.callbacks.append(self.wake)

    def wake(self, event: simpy.Event) -> None:
        if event is not self.alarm:
            return
        self.count[0] += 1
        self.alarm = alarm = self.env.timeout(self.gap.expovariate(1 / 7))
        alarm.callbacks.append(self.wake)


def measure(pending: int, events: int, seed: int = 1) -> float:
    """CPU seconds per event with ``pending`` sleepers, over ``events`` wake-ups."""
    env = simpy.Environment()
    rng, count = random.Random(seed), [0]
    sleepers = [_Sleeper(env, rng, count, rng.random() * 7) for _ in range(pending)]
    was = gc.isenabled()
    gc.disable()
    try:
        cpu = time.process_time()
        while count[0] < events:
            env.step()
        cpu = time.process_time() - cpu
    finally:
        if was:
            gc.enable()
    del sleepers
    return cpu / count[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pending", type=int, nargs="+", default=[10_000, 200_000], help="sleepers at once")
    parser.add_argument("--events", type=int, default=4_000_000, help="wake-ups measured at each size")
    parser.add_argument("--repeat", type=int, default=1, help="runs at each size (each printed)")
    args = parser.parse_args()
    for n in args.pending:
        for _ in range(args.repeat):
            print(f"{n:>9,} pending: {measure(n, args.events) * 1e6:.2f} µs an event", flush=True)


if __name__ == "__main__":
    main()
