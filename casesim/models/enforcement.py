"""Enforcement: what a missed contact leads to, decided by the case's holder.

The engine asks ``on_missed(sim, case, staff, now, k)`` at the ``k``-th contact, missed at ``now`` and seen
by ``staff``, and gets back ``"none"`` (an acceptable absence, or no action), ``"warning"``, ``"sanction"`` (an
intermediate sanction the policy has started through :meth:`Simulation.start_sanction`) or ``"breach"``.
Whether an absence is acceptable is the holder's judgement: the configured share of absences, more when the
holder has known the case long (familiarity), and under workload pressure a share of decisions not taken by
the rule (mostly letting the absence go). What a breach leads to (return to court, recall) is a property of
the journey stage. The parameters are declared in the scenario layer (``casesim/scenario/policies.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from casesim.engine.rng import ACCEPTABLE, JUDGEMENT, Luck
from casesim.models.registry import policy
from casesim.scenario.policies import GraduatedParams, StrictParams

if TYPE_CHECKING:
    from casesim.agents.case import Case
    from casesim.agents.case_manager import CaseManager
    from casesim.engine.simulation import Simulation

__all__ = ["Graduated", "GraduatedParams", "StrictBreach", "StrictParams"]

_u = Luck.u


class _Judgement:
    """The holder's judgement of whether a missed contact is acceptable (shared by both policies).

    By the rule an absence is acceptable with probability ``acceptable_absence_share``, raised for a holder
    who knows the case: by ``familiarity`` of the remaining share once the holder has held it
    ``familiarity_days``, in proportion before. A holder over the pressure threshold of practice takes a share
    ``min(inconsistency_max, inconsistency × lapse)`` of decisions otherwise: the absence is let go with
    probability ``inconsistent_acceptable_share`` (by default mostly, as inspections find lapses in enforcement
    to be action not taken), so enforcement gets less consistent, and by default laxer; at zero lapse the rule
    is applied exactly.
    """

    def __init__(self, params: GraduatedParams | StrictParams) -> None:
        self.acceptable = params.acceptable_absence_share
        self.familiar = (1.0 - self.acceptable) * params.familiarity   # share added at full familiarity
        self.familiar_days = params.familiarity_days
        self.inconsistency = params.inconsistency
        self.most = params.inconsistency_max
        self.at_random = params.inconsistent_acceptable_share

    def unacceptable(self, sim: Simulation, case: Case, staff: CaseManager | None, now: float, k: int) -> bool:
        threshold = self.acceptable
        if self.familiar and case.holder is not None:
            threshold += self.familiar * min(1.0, (now - case.holder_since) / self.familiar_days)
        if self.inconsistency and self.most:
            lapse = sim.practice_lapse(staff)
            if lapse > 0 and _u(case.luck, JUDGEMENT, k) < min(self.most, self.inconsistency * lapse):
                threshold = self.at_random   # decided at random, not by the rule
        return _u(case.luck, ACCEPTABLE, k) >= threshold


@policy("enforcement", GraduatedParams)
class Graduated(_Judgement):
    """Warn on each unacceptable absence until the warning limit, then impose intermediate sanctions (closer
    reporting for a period) until the sanction limit, then breach; warnings and sanctions count within
    ``window_days``."""

    def __init__(self, params: GraduatedParams) -> None:
        super().__init__(params)
        self.limit = params.warnings_before_breach
        self.window = params.window_days
        self.sanctions = params.sanctions_before_breach
        self.sanction = (params.sanction_days, params.sanction_interval_factor, params.sanction_deterrent)

    def on_missed(self, sim: Simulation, case: Case, staff: CaseManager | None, now: float, k: int) -> str:
        if not self.unacceptable(sim, case, staff, now, k):
            return "none"
        recent = [t for t in case.warning_times if now - t <= self.window]
        case.warning_times = tuple(recent)
        if len(recent) < self.limit:
            return "warning"
        if self.sanctions:
            imposed = [t for t in case.sanction_times if now - t <= self.window]
            case.sanction_times = tuple(imposed)
            if len(imposed) < self.sanctions:
                sim.start_sanction(case, *self.sanction)
                return "sanction"
        return "breach"


@policy("enforcement", StrictParams)
class StrictBreach(_Judgement):
    """No warnings and no intermediate step: the first unacceptable absence is a breach."""

    def on_missed(self, sim: Simulation, case: Case, staff: CaseManager | None, now: float, k: int) -> str:
        return "breach" if self.unacceptable(sim, case, staff, now, k) else "none"
