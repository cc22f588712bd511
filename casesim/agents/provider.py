"""A provider: a service addressing one need, with a number of places and a waiting list."""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

import mesa

from casesim.engine.rng import ACCEPTANCE, COMPLETION, DROPOUT_TIME, INTERVENTION_LENGTH, Luck, sample
from casesim.scenario.params import RISKS

if TYPE_CHECKING:
    from casesim.agents.case import Case
    from casesim.engine.simulation import Simulation
    from casesim.scenario.schema import ProviderSpec

ACCEPTING, QUEUED, ACTIVE, CLOSED = 0, 1, 2, 3
_RISK_RANK = {r: i for i, r in enumerate(reversed(RISKS))}   # HIGH first


def _without(tickets: tuple[Ticket, ...], t: Ticket) -> tuple[Ticket, ...]:
    """``tickets`` less ``t`` (a case's open tickets are a tuple: most cases hold none or one, and an empty
    tuple is shared where each case would hold an empty list of its own)."""
    i = tickets.index(t)
    return tickets[:i] + tickets[i + 1:]


class Ticket:
    """One referral of one case to one provider, from acceptance to the end of the intervention."""

    __slots__ = ("case", "provider", "need", "need_index", "k", "referred", "state")

    def __init__(self, case: Case, provider: Provider, need: str, need_index: int, k: int,
                 referred: float) -> None:
        self.case = case
        self.provider = provider
        self.need = need
        self.need_index = need_index
        self.k = k
        self.referred = referred
        self.state = ACCEPTING


class Provider(mesa.Agent):
    """Places are taken first come, first served (or by risk when ``priority_by_risk``).

    A referral is accepted with the provider's acceptance probability, joins the waiting list
    after the acceptance delay, starts when a place is free, and ends completed or dropped out.
    """

    def __init__(self, model: Simulation, spec: ProviderSpec) -> None:
        super().__init__(model)
        self.spec = spec
        self.name = spec.name
        self.setting = spec.setting
        self.need = spec.need
        self.places = spec.places
        self.busy = 0
        self.queued = 0
        self._waiting: list[tuple[int, int, Ticket]] = []
        self._seq = 0

    def refer(self, case: Case, need_index: int) -> Ticket | None:
        """Refer ``case``; returns the ticket if the referral is accepted."""
        sim = self.model
        now = sim.env.now
        k = case.referrals
        case.referrals += 1
        effect = sim.relationship[self.spec.relationship]
        if Luck.u(case.luck, ACCEPTANCE, k) >= min(1.0, self.spec.acceptance_probability * effect.acceptance_factor):
            sim.log.referral(now, case.no, stage=case.stage or "", provider=self.unique_id, outcome="declined",
                             need_index=need_index)
            return None
        sim.log.referral(now, case.no, stage=case.stage or "", provider=self.unique_id, outcome="accepted",
                         need_index=need_index)
        ticket = Ticket(case, self, self.need, need_index, k, now)
        delay = self.spec.acceptance_delay_days * effect.delay_factor
        if delay > 0:
            sim.env.timeout(delay).callbacks.append(lambda _ev: self._join(ticket))
        else:
            self._join(ticket)
        return ticket

    def _join(self, t: Ticket) -> None:
        if t.state != ACCEPTING:
            return
        t.state = QUEUED
        self.queued += 1
        rank = _RISK_RANK[t.case.risk] if self.spec.priority_by_risk else 0
        self._seq += 1
        heapq.heappush(self._waiting, (rank, self._seq, t))
        self._fill()

    def _fill(self) -> None:
        while self.busy < self.places and self._waiting:
            t = heapq.heappop(self._waiting)[2]
            if t.state == QUEUED:
                self.queued -= 1
                self._start(t)

    def _start(self, t: Ticket) -> None:
        sim = self.model
        now = sim.env.now
        t.state = ACTIVE
        self.busy += 1
        case = t.case
        sim.log.intervention_start(now, case.no, stage=case.stage or "", provider=self.unique_id,
                                   days_waited=now - t.referred)
        d = self.spec.duration
        length = sample(d.dist, d.mean_days, d.cv, Luck.u(case.luck, INTERVENTION_LENGTH, t.k))
        completes = Luck.u(case.luck, COMPLETION, t.k) < self.spec.completion_probability
        if not completes:
            length *= Luck.u(case.luck, DROPOUT_TIME, t.k)
        cause = "completed" if completes else "dropped_out"
        sim.env.timeout(length).callbacks.append(lambda _ev: self._end(t, cause))

    def _end(self, t: Ticket, cause: str) -> None:
        if t.state != ACTIVE:
            return
        sim = self.model
        case = t.case
        t.state = CLOSED
        self.busy -= 1
        sim.log.intervention_end(sim.env.now, case.no, stage=case.stage or "", provider=self.unique_id, outcome=cause,
                                 need_index=t.need_index)
        if cause == "completed":
            case.need_met(t.need_index)
        case.pending = _without(case.pending, t)
        self._fill()

    def withdraw(self, t: Ticket) -> None:
        """The case leaves this provider's reach: end its intervention or drop its referral."""
        sim = self.model
        now = sim.env.now
        case = t.case
        if t.state == ACTIVE:
            self._end(t, "withdrawn")
            return
        if t.state == QUEUED:
            self.queued -= 1
        if t.state != CLOSED:
            sim.log.referral_withdrawn(now, case.no, stage=case.stage or "", provider=self.unique_id,
                                       days_waited=now - t.referred)
            t.state = CLOSED
            case.pending = _without(case.pending, t)

    @property
    def waiting_list(self) -> int:
        """Accepted referrals waiting for a place."""
        return self.queued
