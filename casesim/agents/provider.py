"""A provider: a service addressing one need, with a number of places and a waiting list.

A universal provider also serves the public: people who are not cases arrive as a Poisson stream
(``ProviderSpec.public_load``), take places for the provider's duration, and wait with the agency's referrals.
They are not logged (the agency's cases' waits, ``intervention_start``, show the competition) and draw their
randomness from the population stream ``public:<provider name>``, so the cases keep their common random
numbers. Each public user costs two SimPy events (arrival, departure) and no log row.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from typing import TYPE_CHECKING

import mesa

from casesim.engine.rng import ACCEPTANCE, COMPLETION, DROPOUT_TIME, INTERVENTION_LENGTH, WAITING_LOSS, Luck, sample
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

    With public demand, a free place goes to the agency's cases first when the relationship gives them
    priority (``RelationshipEffect.priority_over_public``); otherwise to whoever has waited longest, the
    public user at the head of its queue or the agency's longest-waiting case, and when it goes to the
    agency, the agency's own order (first come, or by risk) says which of its cases takes it.
    ``busy`` and ``queued`` count the agency's cases; ``public_busy`` and ``public_queued`` the public.
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
        self.public_busy = 0
        self._public: deque[tuple[int, float]] = deque()   # (join order, length of stay) of waiting public users
        self._case_order: deque[tuple[int, Ticket]] = deque()   # queued cases by join order (by-risk lists only)
        self._cases_first = model.relationship[spec.relationship].priority_over_public
        self._public_rate = (spec.public_load * spec.places / spec.duration.mean_days
                             if spec.public_load > 0 and spec.places > 0 else 0.0)
        # the join order of the agency's cases is needed apart from its list only when the two orders differ
        self._keep_case_order = self._public_rate > 0 and spec.priority_by_risk and not self._cases_first
        self._loss_per_day = spec.waiting_loss_per_month / 30.0
        if self._public_rate > 0:
            self._public_rng = model.streams[f"public:{spec.name}"]
            self._open_to_public()

    def refer(self, case: Case, need_index: int) -> Ticket | None:
        """Refer ``case``; returns the ticket if the referral is accepted. The acceptance probability and
        delay are the provider's, times the relationship's factors, times the factors the approach of the
        provider's setting gives for this case (``Approach.referral_effect``: its team's representative)."""
        sim = self.model
        now = sim.env.now
        k = case.referrals
        case.referrals += 1
        effect = sim.relationship[self.spec.relationship]
        accept, slow = sim.approach[self.setting].referral_effect(sim, case, self)   # (a representative on the team)
        if Luck.u(case.luck, ACCEPTANCE, k) >= min(1.0, self.spec.acceptance_probability * effect.acceptance_factor
                                                   * accept):
            sim.log.referral(now, case.no, stage=case.stage or "", provider=self.unique_id, outcome="declined",
                             need_index=need_index)
            return None
        sim.log.referral(now, case.no, stage=case.stage or "", provider=self.unique_id, outcome="accepted",
                         need_index=need_index)
        ticket = Ticket(case, self, self.need, need_index, k, now)
        delay = self.spec.acceptance_delay_days * effect.delay_factor * slow
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
        if self._keep_case_order:
            self._case_order.append((self._seq, t))
        self._fill()
        if t.state == QUEUED and self._loss_per_day > 0:   # no place free: it waits, and may be lost meanwhile
            case = t.case
            rate = self._loss_per_day * (1.0 - case.motivation) / 0.5
            if rate > 0:
                patience = -math.log(Luck.u(case.luck, WAITING_LOSS, t.k)) / rate
                self.model.env.timeout(patience).callbacks.append(lambda _ev: self._lost(t))

    def _lost(self, t: Ticket) -> None:
        """The person on the waiting list for ``t`` drops off it (``waiting_loss_per_month``), if still waiting:
        the need stays unmet."""
        if t.state == QUEUED:
            self._close_waiting(t, "lost_while_waiting")

    def _fill(self) -> None:
        if self._public_rate <= 0:   # the agency's places alone
            while self.busy < self.places and self._waiting:
                t = heapq.heappop(self._waiting)[2]
                if t.state == QUEUED:
                    self.queued -= 1
                    self._start(t)
            return
        while self.busy + self.public_busy < self.places:
            waiting = self._waiting
            while waiting and waiting[0][2].state != QUEUED:   # withdrawn or started: dropped lazily
                heapq.heappop(waiting)
            if self._public and (not waiting or (not self._cases_first
                                                 and self._public[0][0] < self._longest_case_wait())):
                self._start_public(self._public.popleft()[1])
            elif waiting:
                self.queued -= 1
                self._start(heapq.heappop(waiting)[2])
            else:
                return

    def _longest_case_wait(self) -> int:
        """Join order of the agency's longest-waiting queued case (the waiting list is not empty)."""
        if not self.spec.priority_by_risk:
            return self._waiting[0][1]   # first come, first served: the head of the list
        order = self._case_order
        while order[0][1].state != QUEUED:   # (every queued case is in it: never emptied while one waits)
            order.popleft()
        return order[0][0]

    # --- the public ------------------------------------------------------------------------------------
    def _open_to_public(self) -> None:
        """At the start, the public's share of places already occupied (each with the rest of its stay), so a
        run does not open on an empty service; then the first public arrival."""
        for _ in range(min(self.places, round(self.spec.public_load * self.places))):
            self._start_public(self._public_length() * self._public_u())
        self._next_public()

    def _public_u(self) -> float:
        return max(float(self._public_rng.random()), 2.0 ** -54)   # in (0, 1): the inversions need it

    def _public_length(self) -> float:
        d = self.spec.duration
        return sample(d.dist, d.mean_days, d.cv, self._public_u())

    def _next_public(self) -> None:
        gap = -math.log(self._public_u()) / self._public_rate   # exponential gaps: a Poisson stream
        self.model.env.timeout(gap).callbacks.append(self._public_arrives)

    def _public_arrives(self, _ev: object) -> None:
        length = self._public_length()
        self._seq += 1
        self._public.append((self._seq, length))
        self._fill()
        self._next_public()

    def _start_public(self, length: float) -> None:
        self.public_busy += 1
        self.model.env.timeout(length).callbacks.append(self._public_leaves)

    def _public_leaves(self, _ev: object) -> None:
        self.public_busy -= 1
        self._fill()

    @property
    def public_queued(self) -> int:
        """Public users waiting for a place."""
        return len(self._public)

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
        if t.state == ACTIVE:
            self._end(t, "withdrawn")
            return
        if t.state != CLOSED:
            self._close_waiting(t, "out_of_reach")

    def _close_waiting(self, t: Ticket, reason: str) -> None:
        """Close the referral ``t``, accepted or waiting and not started, for ``reason``."""
        case, now = t.case, self.model.env.now
        if t.state == QUEUED:   # (its entry in the waiting list is dropped when it comes to the top)
            self.queued -= 1
        self.model.log.referral_withdrawn(now, case.no, stage=case.stage or "", provider=self.unique_id,
                                          reason=reason, days_waited=now - t.referred)
        t.state = CLOSED
        case.pending = _without(case.pending, t)

    @property
    def waiting_list(self) -> int:
        """Accepted referrals waiting for a place."""
        return self.queued
