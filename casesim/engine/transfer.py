"""Linked services on one clock, and the transfer of measures between them (docs/jurisdictions.md).

A :class:`LinkedRun` builds one :class:`~casesim.engine.simulation.Simulation` per service on a SimPy
environment they share, and gives each sending service a :class:`TransferRule` handler for every measure a
rule names. The engine asks the handler about every case that begins such a measure
(``Simulation.transfer_out``); the handler decides, from the case's own luck, whether a transfer is asked for
and when, and carries it out:

1. **request**: with probability ``share`` per stay, after an exponential delay (mean ``request_after_days``)
   from the measure's start, if the measure is still running then; the sending service keeps supervising;
2. **decision** after an exponential delay (mean ``recognition_days``): if the measure has ended meanwhile the
   request lapses; otherwise the receiving service refuses (probability ``refuse_share``; the case goes on
   where it is) or recognises the measure, adapting it (probability ``adapt_share``) to its nearest
   equivalent, whose remaining length is cut by ``adapted_length_factor``;
3. **handover**: the case leaves the sending service at once (its stay ends ``transferred``); nobody holds it
   for ``handover_days``; then the receiving service takes it on as a new case beginning the equivalent
   stage for the measure's remaining days (less the handover), with a fresh assessment, its own mode rule
   and a continuity break of cause ``jurisdiction_transfer`` at its first allocation. A measure that runs out
   during the handover ends there (``ended_in_transit``).

Every draw is a pure function of the person's luck and the stay, so the services' own events are those of
their unlinked runs until a transfer happens: with every request refused, each service's log is its unlinked
log plus its ``transfer`` rows.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import simpy

from casesim.engine.rng import TRANSFER, TRANSFER_ADAPT, TRANSFER_AFTER, TRANSFER_DECIDE, TRANSFER_REFUSE, Luck
from casesim.engine.simulation import Simulation

if TYPE_CHECKING:
    from casesim.engine.process import CaseProcess
    from casesim.scenario.linked import LinkedSpec
    from casesim.scenario.linked import TransferRule as RuleSpec


class TransferRule:
    """The handler of one rule in its sending service: asked by each case that begins one of its measures."""

    def __init__(self, spec: RuleSpec, sender: Simulation, receiver: Simulation) -> None:
        self.spec, self.sender, self.receiver = spec, sender, receiver

    def consider(self, process: CaseProcess) -> None:
        """A case begins one of the rule's measures now: schedule its transfer request, if it is to have one
        and the measure is still running when it comes."""
        spec, case, k = self.spec, process.case, process.k
        if spec.share <= 0 or Luck.u(case.luck, TRANSFER, k) >= spec.share:
            return
        env = self.sender.env
        after = -spec.request_after_days * math.log(Luck.u(case.luck, TRANSFER_AFTER, k))
        if env.now + after >= min(process.end, self.sender.horizon):
            return   # the measure (or the run) ends before anyone asks
        stage = process.stage
        env.timeout(after).callbacks.append(lambda _ev: self._request(process, stage, k))

    def _request(self, process: CaseProcess, stage: str, k: int) -> None:
        if not process.same_stay(stage, k):
            return   # the stay ended between the scheduling and now (a breach, an offence): nothing asked
        case, env = process.case, self.sender.env
        days = -self.spec.recognition_days * math.log(Luck.u(case.luck, TRANSFER_DECIDE, k))
        self.sender.log.transfer(env.now, case.no, stage=stage, step="requested", days=days)
        if env.now + days < self.sender.horizon:
            env.timeout(days).callbacks.append(lambda _ev: self._decide(process, stage, k))

    def _decide(self, process: CaseProcess, stage: str, k: int) -> None:
        spec, case, sender = self.spec, process.case, self.sender
        now = sender.env.now
        if not process.same_stay(stage, k):
            sender.log.transfer(now, case.no, stage=stage, step="lapsed", days=0.0)
            return
        if Luck.u(case.luck, TRANSFER_REFUSE, k) < spec.refuse_share:
            sender.log.transfer(now, case.no, stage=stage, step="refused", days=0.0)
            return
        adapted = Luck.u(case.luck, TRANSFER_ADAPT, k) < spec.adapt_share
        left = max(0.0, process.end - now) * (spec.adapted_length_factor if adapted else 1.0)
        sender.log.transfer(now, case.no, stage=stage, step="adapted" if adapted else "recognised", days=left)
        process.leave_for_elsewhere()
        days = left - spec.handover_days
        if days <= 0:
            sender.log.transfer(now, case.no, stage=stage, step="ended_in_transit", days=0.0)
            return
        if now + spec.handover_days < self.receiver.horizon:
            equivalent = spec.measures[stage]
            self.receiver.env.timeout(spec.handover_days).callbacks.append(
                lambda _ev: self.receiver.receive(case, equivalent, days))


class LinkedRun:
    """Several services on one clock, linked by transfer rules (see the module docstring).

    ``services`` maps each service's name to its model; ``run_to_end`` advances the shared clock a tick at a
    time and lets every model collect its live data after each tick."""

    def __init__(self, spec: LinkedSpec) -> None:
        self.spec = spec
        self.env = simpy.Environment()
        self.services: dict[str, Simulation] = {name: Simulation(scenario, env=self.env)
                                                for name, scenario in spec.services.items()}
        for rule in spec.rules:
            sender, receiver = self.services[rule.sender], self.services[rule.to]
            handler = TransferRule(rule, sender, receiver)
            for stage in rule.measures:
                sender.transfer_out[stage] = handler
        first = next(iter(self.services.values()))
        self.tick, self.horizon = first.tick, first.horizon

    @property
    def running(self) -> bool:
        return self.env.now < self.horizon

    def step(self) -> None:
        """Advance the shared clock one tick (or to the horizon); every service collects its live data."""
        self.env.run(until=min(self.env.now + self.tick, self.horizon))
        for sim in self.services.values():
            sim.collect()

    def run_to_end(self) -> None:
        while self.running:
            self.step()


__all__ = ["LinkedRun", "TransferRule"]
