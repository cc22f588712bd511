"""Mesa's agent registry without weak references: what a case costs to be known to the model.

Mesa 3.3 files each agent three times: in the model's dict of agents (a strong reference, which keeps it
alive), and in two :class:`mesa.agent.AgentSet` (every agent; the agent's class), each a
``WeakKeyDictionary``: a weak reference with a callback and a slot in a dict per agent and per set. In
casesim an agent is alive exactly as long as it is registered (a case is removed from the model at its
exit, a team when it disbands, a leaver when they go), so the weak references hold nothing the strong one
does not. They cost about 460 bytes a case, a tenth of a case's memory at national size.

:class:`HeldAgentSet` is an ``AgentSet`` whose agents are kept in a plain dict (:class:`HeldAgents`), and
:class:`HeldRegistry` is the model's side: the set of every agent *is* the model's dict of agents, and each
class's set is a :class:`ClassView` of that same dict, which lists the agents of its class, in the dict's
order, when asked, and counts them as they register and leave. An agent then costs one dict slot in all:
a dict of agents that come and go is, on average, about three times larger than what it holds, so a
second dict per class cost about 107 bytes a case at national size. Everything an ``AgentSet`` does is
unchanged: order (insertion order, as before), ``select``, ``shuffle``, ``sort``, ``do``, ``map``, ``get``,
``agg``, ``groupby``; selections and copies are Mesa's own weak sets, and set operators (``|``, ``&``, ``-``)
give held sets. Changing ``model.agents``
or a class's set itself (``add``, ``discard``, ``remove``, an in-place ``select``, ``shuffle`` or ``sort``)
first gives it a dict of its own, as Mesa's sets are apart from the model's registry: the registry is
never changed through them.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Iterable, Iterator
from random import Random
from typing import Any

import mesa


class HeldAgents(dict):
    """A dict of agents (the value is always None) that also answers ``keyrefs()``, which Mesa's
    ``AgentSet.do``, ``map`` and ``shuffle_do`` iterate over, with weak references made for that call."""

    def keyrefs(self) -> list[weakref.ref]:
        return [weakref.ref(agent) for agent in self]


class HeldAgentSet(mesa.agent.AgentSet):
    """An :class:`mesa.agent.AgentSet` that holds its agents in a :class:`HeldAgents` dict.

    ``storage``, if given, is used as it is (not copied): the model's set of every agent shares the
    model's own dict, and is given a copy the first time it is changed itself (``add``, ``discard``,
    ``remove`` and the set operations built on them). An in-place ``select``, ``shuffle`` or ``sort`` gives
    the set a new dict, as Mesa's gives it a new ``WeakKeyDictionary``; a shared dict is never changed.
    """

    def __init__(self, agents: Iterable[Any] = (), random: Random | None = None,
                 storage: HeldAgents | None = None) -> None:
        held = storage if storage is not None else HeldAgents.fromkeys(agents)
        if random is None and held:   # as Mesa: the random number generator of the first agent's model
            random = next(iter(held)).model.random
        super().__init__([], random=random)
        self._agents = held
        self._shared = storage is not None

    def _own(self) -> None:
        """Copy a shared dict before this set changes (the model's registry changes only by registration)."""
        if self._shared:
            self._agents = HeldAgents(self._agents)
            self._shared = False

    def shares(self, storage: HeldAgents) -> bool:
        """Whether this set's dict is ``storage`` itself (the model's, until this set is changed)."""
        return self._agents is storage

    def moved(self, storage: HeldAgents, to: HeldAgents) -> None:
        """The model's dict ``storage`` has been replaced by ``to`` (a copy): share that if this set shared it."""
        if self._agents is storage:
            self._agents = to

    def add(self, agent: Any) -> None:
        self._own()
        self._agents[agent] = None

    def discard(self, agent: Any) -> None:
        self._own()
        self._agents.pop(agent, None)

    def remove(self, agent: Any) -> None:
        self._own()
        del self._agents[agent]

    def __copy__(self) -> mesa.agent.AgentSet:
        return mesa.agent.AgentSet(list(self._agents), self.random)   # a copy is Mesa's (weak), as in Mesa

    def __iter__(self) -> Iterator[Any]:
        return iter(self._agents)   # (Mesa returns the weak dict's keys(), an iterator; a dict's is a view)

    def _update(self, agents: Iterable[Any]) -> HeldAgentSet:
        self._agents = HeldAgents.fromkeys(agents)
        self._shared = False
        return self

    def shuffle(self, inplace: bool = False) -> mesa.agent.AgentSet:
        agents = list(self._agents)
        self.random.shuffle(agents)   # the same draws as Mesa's shuffle of the same number of references
        return self._update(agents) if inplace else mesa.agent.AgentSet(agents, self.random)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.random = state["random"]
        self._update(state["agents"])


class ClassView(HeldAgentSet):
    """The set of one class's agents, read from the model's dict of agents (:meth:`HeldRegistry.register_agent`
    counts them): its length is the count, membership a type check and a look-up, and iteration walks the
    model's dict for the class's agents, so a set's methods see exactly the agents and order that a dict of
    their own would hold. Changed itself, it takes a dict of its own, which the registry then keeps as Mesa
    keeps a class's set."""

    def __init__(self, kind: type, storage: HeldAgents, random: Random) -> None:
        super().__init__(random=random)
        self._kind = kind
        self._count = 0                               # the class's agents in the model's dict
        self._view: HeldAgents | None = storage       # None once the set has a dict of its own

    @property
    def _agents(self) -> HeldAgents:   # (what AgentSet's methods read)
        if self._view is None:
            return self._held
        kind = self._kind
        return HeldAgents.fromkeys(a for a in self._view if type(a) is kind)

    @_agents.setter
    def _agents(self, agents: HeldAgents) -> None:   # (set only to give the set a dict of its own)
        self._held = agents
        self._view = None

    def _own(self) -> None:
        if self._view is not None:
            self._agents = self._agents

    def shares(self, storage: HeldAgents) -> bool:
        return self._view is storage

    def moved(self, storage: HeldAgents, to: HeldAgents) -> None:
        if self._view is storage:
            self._view = to

    def joined(self, agent: Any) -> None:
        """The registry has taken ``agent``, of this class, into the model's dict."""
        if self._view is not None:
            self._count += 1
        else:
            self._held[agent] = None

    def left(self, agent: Any) -> None:
        """The registry has taken ``agent``, of this class, out of the model's dict."""
        if self._view is not None:
            self._count -= 1
        else:
            del self._held[agent]

    def __len__(self) -> int:
        return self._count if self._view is not None else len(self._held)

    def __contains__(self, agent: Any) -> bool:
        if self._view is not None:
            return type(agent) is self._kind and agent in self._view
        return agent in self._held

    def __iter__(self) -> Iterator[Any]:
        if self._view is None:
            return iter(self._held)
        kind = self._kind   # (a list first: agents of other classes may come and go while it is walked)
        return iter([a for a in self._view if type(a) is kind])

    @classmethod
    def _from_iterable(cls, agents: Iterable[Any]) -> HeldAgentSet:   # (what set operators make: a held set)
        return HeldAgentSet(agents)


class HeldRegistry:
    """A mixin for a :class:`mesa.Model` (listed before it): agents are registered in held sets.

    Call :meth:`_hold_agents` in ``__init__`` right after ``mesa.Model.__init__``, before any agent is made.

    A dict does not reuse the slot of a removed key: it grows on insertion until it has room no more, then
    moves to a table three times the size of what it holds. With cases always arriving and leaving, the
    model's dict of agents was therefore two to four times larger than a copy of it, about 70 bytes an
    agent more. Every ``_LOOK_EVERY`` registrations the registry looks at its dict's size and, if it has grown
    by half since it was last copied, replaces it with a copy (same agents, same order) in every set that
    shares it: a copy that did not shrink (the model has more agents) only sets the size to grow from.
    """

    #: Registrations between looks at the size of the model's dict of agents (a look costs less than a
    #: microsecond; a copy of a national run's dict about 10 ms, made a few dozen times a run).
    _LOOK_EVERY = 1 << 10

    def _hold_agents(self) -> None:
        if self._agents:
            raise RuntimeError("agents were registered before the registry was set up")
        self._agents = HeldAgents()
        self._all_agents = HeldAgentSet(random=self.random, storage=self._agents)
        self._until_look = self._LOOK_EVERY
        self._copied_size = sys.getsizeof(self._agents)

    def register_agent(self, agent: Any) -> None:
        self._agents[agent] = None
        if not self._all_agents.shares(self._agents):   # the set of all has a dict of its own (see above)
            self._all_agents.add(agent)
        kind = type(agent)
        try:
            self._agents_by_type[kind].joined(agent)
        except KeyError:
            view = self._agents_by_type[kind] = ClassView(kind, self._agents, self.random)
            view.joined(agent)
        self._until_look -= 1
        if not self._until_look:
            self._look()

    def deregister_agent(self, agent: Any) -> None:
        del self._agents[agent]
        if not self._all_agents.shares(self._agents):
            self._all_agents.discard(agent)
        self._agents_by_type[type(agent)].left(agent)

    def _look(self) -> None:
        """Copy the model's dict of agents if it has grown by half since its last copy."""
        self._until_look = self._LOOK_EVERY
        if sys.getsizeof(self._agents) * 2 > self._copied_size * 3:
            self._compact()

    def _compact(self) -> None:
        """Replace the model's dict of agents, in every set that shares it, by a copy (same agents, same
        order), which holds only the live ones."""
        old = self._agents
        copy = HeldAgents(old)
        for agents in (self._all_agents, *self._agents_by_type.values()):
            agents.moved(old, copy)
        self._agents = copy
        self._copied_size = sys.getsizeof(copy)
