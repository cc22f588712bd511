"""Finding the least-pressed eligible case manager without looking at every member of staff.

Allocation asks, many times a day, "who is the least-pressed member of staff at work who may hold
this case?". Scanning every member of the setting would make each allocation cost grow with the
staff count, and a national run has thousands of case managers: allocation would take most of its
time (docs/performance.md, step 1).

Staff are grouped into *classes* of members who are interchangeable for eligibility: the same
setting, patch, specialisms, mode skills and group. A segmentation's ``eligible`` reads only those
static attributes, so it is asked once per class (with one member standing for the class), not
once per person. Each class keeps a heap of ``(pressure, load, id)`` entries for its members at
work; when a member's load, capacity or availability changes the simulation calls
:meth:`StaffIndex.touch`, which bumps the member's version and pushes a fresh entry. Entries
whose version is old, or whose member is away, are dropped lazily when they reach the top.

The order is the one ``least_loaded`` uses, ``(pressure, load, unique_id)``, which is total, so
the index picks exactly the member a full scan would.
"""

from __future__ import annotations

from collections.abc import Iterable
from heapq import heapify, heappop, heappush
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from casesim.agents.case_manager import CaseManager

Entry = tuple[float, float, int, int, Any]


class StaffClass:
    """Members of one setting sharing patch, specialisms, mode skills and group."""

    __slots__ = ("key", "rep", "modes", "heap", "size")

    def __init__(self, key: tuple[Any, ...], rep: CaseManager) -> None:
        self.key = key
        self.rep = rep              # stands for the class when eligibility is asked (static attributes only)
        self.modes = rep.modes
        self.heap: list[Entry] = []
        self.size = 0               # members in post

    def holds(self, mode: str | None) -> bool:
        """Whether members of this class are skilled in ``mode``."""
        return mode is None or mode in self.modes

    def top(self) -> Entry | None:
        """The least-pressed member at work (its heap entry), dropping stale entries on the way."""
        h = self.heap
        while h:
            e = h[0]
            m = e[4]
            if e[3] == m.index_version and m.in_post and not m.absent:
                return e
            heappop(h)
        return None

    def smallest(self, k: int) -> list[Entry]:
        """Up to ``k`` valid entries in order (the heap is left as it was, less stale entries)."""
        out: list[Entry] = []
        h = self.heap
        while h and len(out) < k:
            e = self.top()
            if e is None:
                break
            out.append(heappop(h))
        for e in out:
            heappush(h, e)
        return out

    def compact(self) -> None:
        """Rebuild the heap from its valid entries when stale ones pile up."""
        self.heap = [e for e in self.heap if e[3] == e[4].index_version and e[4].in_post and not e[4].absent]
        heapify(self.heap)


class StaffIndex:
    """The classes of one setting, and a heap per class (see the module docstring)."""

    def __init__(self) -> None:
        self.classes: list[StaffClass] = []
        self._by_key: dict[tuple[Any, ...], StaffClass] = {}
        self._class_of: dict[int, StaffClass] = {}

    @staticmethod
    def key_of(m: CaseManager) -> tuple[Any, ...]:
        return (m.patch, m.specialisms, m.modes, m.group)

    def add(self, m: CaseManager) -> None:
        """A member starts in post."""
        key = self.key_of(m)
        c = self._by_key.get(key)
        if c is None:
            c = StaffClass(key, m)
            self._by_key[key] = c
            self.classes.append(c)
        c.size += 1
        self._class_of[m.unique_id] = c
        self.touch(m)

    def remove(self, m: CaseManager) -> None:
        """A member leaves the service (their entries go stale)."""
        c = self._class_of.pop(m.unique_id)
        c.size -= 1
        m.index_version += 1

    def touch(self, m: CaseManager) -> None:
        """``m``'s load, capacity or availability changed: its old entries go stale."""
        m.index_version += 1
        c = self._class_of.get(m.unique_id)
        if c is None or not m.in_post or m.absent:
            return
        h = c.heap
        heappush(h, (m.pressure, m.load, m.unique_id, m.index_version, m))
        if len(h) > 4 * c.size + 64:
            c.compact()

    def least(self, classes: Iterable[StaffClass]) -> CaseManager | None:
        """The least-pressed member at work among ``classes``."""
        best: Entry | None = None
        for c in classes:
            e = c.top()
            if e is not None and (best is None or e[:3] < best[:3]):
                best = e
        return None if best is None else best[4]

    def smallest(self, classes: Iterable[StaffClass], k: int) -> list[CaseManager]:
        """The ``k`` least-pressed members at work among ``classes``, in order."""
        if k == 1:
            m = self.least(classes)
            return [] if m is None else [m]
        entries: list[Entry] = []
        for c in classes:
            entries.extend(c.smallest(k))
        entries.sort(key=lambda e: e[:3])
        return [e[4] for e in entries[:k]]

    def any_at_work(self, classes: Iterable[StaffClass]) -> bool:
        return any(c.top() is not None for c in classes)
