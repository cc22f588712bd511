"""A SimPy environment whose event queue is split by day: a calendar of buckets ahead, a small heap now.

SimPy keeps every scheduled event in one binary heap. In casesim every case and every staff member always
has one event pending (its next happening), so at national size the heap holds hundreds of thousands of
entries, and each ``heappop`` walks about 17 levels of tuples scattered through memory: the single
largest line of a profile (14% of the CPU at 1 in 10 of England and Wales), and one that grows with the
population while the work per event does not.

:class:`CalendarEnvironment` keeps in the heap only the events due before the end of the current bucket
(``width`` days; one day by default) and files later ones, unsorted, in a bucket per day. When the heap
runs dry, the next bucket is heapified and becomes the heap. The heap then holds about one day of events
(a few thousand at national size, small enough to stay in the processor's caches), and filing an event
for later is one list append. An event filed for later waits without its insertion number (a tuple of
three, not four, and no integer of its own: 36 bytes less for each of the hundreds of thousands waiting);
its place in its bucket's list keeps its order, and the number is given when its day comes.

The order is exactly SimPy's: events come out by (time, priority, insertion number), as from the single
heap. Every event due before the current bound is in the heap and every event in a bucket is due at or
after it, so the heap's smallest is the smallest of all, and a bucket's events all come before the next
bucket's. Runs are bit-for-bit the same as with :class:`simpy.Environment`.
"""

from __future__ import annotations

import math
from heapq import heapify, heappop, heappush
from typing import Any

import simpy
from simpy.core import EmptySchedule, Infinity, StopSimulation
from simpy.events import NORMAL, EventPriority

#: The last bucket: events that never come (a delay of ``inf``) and those too far ahead to number, after every
#: other; once it is the heap, the bound is ``inf`` and every event goes into the heap.
_NEVER = 1 << 62


class CalendarEnvironment(simpy.Environment):
    """:class:`simpy.Environment` with its future events filed in buckets of ``width`` days."""

    def __init__(self, initial_time: float = 0, width: float = 1.0) -> None:
        if not width > 0 or not math.isfinite(width):
            raise ValueError(f"width must be a positive number of days, got {width!r}")
        super().__init__(initial_time)
        self._width = float(width)
        self._bound = (math.floor(initial_time / self._width) + 1) * self._width   # heap: events due before it
        self._later: dict[int, list[Any]] = {}   # bucket number -> its events, unsorted
        self._buckets: list[int] = []            # heap of the bucket numbers in use

    def schedule(self, event: Any, priority: EventPriority = NORMAL, delay: float = 0) -> None:
        """Schedule an *event* with a given *priority* and a *delay* (as SimPy does)."""
        t = self._now + delay
        if t < self._bound or self._bound == Infinity:   # (once the last bucket runs, all goes in its heap)
            heappush(self._queue, (t, priority, next(self._eid), event))
            return
        next(self._eid)   # (numbered as SimPy numbers every event; in a bucket, its place is its number)
        b = t // self._width
        b = int(b) if b < _NEVER else _NEVER   # the far future and "never" (inf, whose b is nan) share the last
        try:
            self._later[b].append((t, priority, event))
        except KeyError:
            self._later[b] = [(t, priority, event)]
            heappush(self._buckets, b)

    def _turn(self) -> bool:
        """The heap is empty: make the next bucket the heap. False when there is none."""
        if not self._buckets:
            return False
        b = heappop(self._buckets)
        later = self._later.pop(b)
        # A bucket's events are in the order they were scheduled, all before any event scheduled from now
        # on, so numbers -n..-1 in that order rank them as their insertion numbers would: among
        # themselves, and before every later event with the same time and priority (numbered from 0 up).
        queue = [(t, priority, k, event) for k, (t, priority, event) in enumerate(later, -len(later))]
        del later
        heapify(queue)
        self._queue = queue
        self._bound = (b + 1) * self._width if b != _NEVER else Infinity
        return True

    def peek(self) -> float:
        """The time of the next scheduled event (``inf`` if there is none)."""
        if self._queue:
            return self._queue[0][0]
        if self._buckets:
            return min(entry[0] for entry in self._later[self._buckets[0]])
        return Infinity

    def step(self) -> None:
        """Process the next event (SimPy's ``step``, taking it from the heap or, once the heap is empty,
        from the next bucket)."""
        queue = self._queue
        if not queue:
            if not self._turn():
                raise EmptySchedule
            queue = self._queue
        self._now, _, _, event = heappop(queue)

        callbacks, event.callbacks = event.callbacks, None
        try:
            for callback in callbacks:
                callback(event)
        except StopSimulation:
            event.callbacks = callbacks[callbacks.index(callback) + 1:]
            self.schedule(event, EventPriority(-1))
            raise

        if not event._ok and not hasattr(event, "_defused"):
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc
