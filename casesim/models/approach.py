"""Approaches: who is responsible for a case in a setting, an individual or a team.

The engine asks the approach of the setting a case is in what :class:`~casesim.models.protocols.Approach`
lists:

* ``keeps_across(sim, case, stage)`` when the case enters a stage of this setting from the other one;
* ``take_on(sim, case, stage)`` at every stage entry: make sure the right holder has the case;
* ``assessment(sim, case)`` -> (days the assessment takes, probability each need is found);
* ``plan_days(sim, case)`` -> days from the assessment to the plan;
* ``convene(sim, case, needs)`` before referrals for ``needs`` are made;
* ``referral_effect(sim, case, provider)`` -> (acceptance factor, delay factor) of a referral;
* ``handover(sim, case)`` -> share of the work done here that carries over to the other setting;
* ``after_plan(sim, case, planned_needs)`` once the plan is made;
* ``on_review(sim, case)`` at each formal review;
* ``let_go(sim, case)`` when the case leaves the setting or the system;
* ``replacement(sim, team, leaver)`` when a member of a case team leaves the service.

The parameters of each approach are declared in the scenario layer (``casesim/scenario/policies.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from casesim.agents.case_manager import CaseManager
from casesim.agents.team import Team
from casesim.scenario.policies import HybridParams, IndividualParams, TeamParams

from casesim.models.registry import policy  # isort: skip

if TYPE_CHECKING:
    from casesim.agents.case import Case
    from casesim.engine.simulation import Simulation

BOUNDARY = "custody_community_boundary"


def break_cause(case: Case, setting: str, default: str) -> str:
    """Cause of a change of holder: crossing the custody/community boundary, or ``default``."""
    if case.last_setting is not None and case.last_setting != setting:
        return BOUNDARY
    return default


def least_pressed_outsider(sim: Simulation, team: Team, leaver: CaseManager) -> CaseManager | None:
    """The least-pressed colleague at work in the leaver's setting who is not on ``team`` already (any
    group, patch, specialism or skill), or None: who takes a departing member's seat today."""
    index = sim.staff_index[leaver.setting]
    pool = [x for x in index.smallest(index.classes, len(team.members) + 1) if x not in team.members]
    return pool[0] if pool else None


@policy("approach", IndividualParams)
class Individual:
    """Individual-based approach: one named case manager, chosen by the segmentation."""

    def __init__(self, params: IndividualParams) -> None:
        self.params = params

    def keeps_across(self, sim: Simulation, case: Case, stage: str) -> bool:
        """Whether the case's holder from the other setting goes on holding it in this one."""
        holder = case.holder
        return (self.params.keep_from_other_setting and isinstance(holder, CaseManager)
                and holder.can_keep(case.mode))

    def take_on(self, sim: Simulation, case: Case, stage: str) -> None:
        seg = sim.segmentation_for(stage)
        holder = case.holder
        if holder is not None and (seg.keeps(sim, case, stage, holder) or (
                holder.setting != sim.journey.setting[stage] and self.keeps_across(sim, case, stage))):
            sim.set_load(case, sim.load_target(case, holder), sim.case_weight(case, stage))
            return
        chosen = seg.choose(sim, case, stage)
        if chosen is None:
            sim.release(case)
            return
        setting = sim.journey.setting[stage]
        cause = seg.handoff_cause(sim, case, stage, holder) if holder is not None else "reallocation"
        sim.assign_holder(case, chosen, break_cause(case, setting, cause))
        sim.set_load(case, chosen, sim.case_weight(case, stage))

    def assessment(self, sim: Simulation, case: Case) -> tuple[float, float]:
        return self.params.assessment_days, self.params.detection_probability

    def plan_days(self, sim: Simulation, case: Case) -> float:
        """The service's ``process.plan_days``."""
        return sim.rules.plan_days

    def convene(self, sim: Simulation, case: Case, needs: list[str]) -> None:
        return None

    def referral_effect(self, sim: Simulation, case: Case, provider: Any) -> tuple[float, float]:
        """No representative: the relationship's effect alone."""
        return 1.0, 1.0

    def handover(self, sim: Simulation, case: Case) -> float:
        return self.params.handover_share

    def after_plan(self, sim: Simulation, case: Case, planned: list[str]) -> None:
        return None

    def on_review(self, sim: Simulation, case: Case) -> None:
        return None

    def let_go(self, sim: Simulation, case: Case) -> None:
        sim.release(case)

    def replacement(self, sim: Simulation, team: Team, leaver: CaseManager) -> CaseManager | None:
        """An individual approach forms no teams; should one of its setting's teams lose a member, the
        least-pressed colleague not on it takes the seat (:func:`least_pressed_outsider`)."""
        return least_pressed_outsider(sim, team, leaver)


@policy("approach", TeamParams)
class TeamBased:
    """Team-based approach: a chair plus members; tasks of the plan go to members; the team
    re-meets at each review."""

    def __init__(self, params: TeamParams) -> None:
        self.params = params

    def keeps_across(self, sim: Simulation, case: Case, stage: str) -> bool:
        return False

    def workload_share(self) -> float:
        """Share of the case's weight carried by the team's load bearer."""
        return self.params.chair_workload_share

    def take_on(self, sim: Simulation, case: Case, stage: str) -> None:
        weight = sim.case_weight(case, stage) * self.workload_share()
        team = case.holder
        seg = sim.segmentation_for(stage)
        if isinstance(team, Team) and team.can_hold(case.mode) and seg.keeps(sim, case, stage, team.chair):
            sim.set_load(case, team.load_bearer, weight)
            return
        pool = seg.ranked(sim, case, stage, 1 + self.params.staff_members)
        if not pool:
            sim.release(case)
            return
        chair, staff = pool[0], pool[1:1 + self.params.staff_members]
        old = case.holder
        team = Team(sim, case, chair, staff, driver=self.driver(chair, staff))
        open_mask = case.open_mask   # the needs known already, in the needs' order
        self.seat_representatives(sim, team, [n for i, n in enumerate(sim.needs) if open_mask >> i & 1])
        sim.log.team_formed(sim.env.now, case.no, stage=case.stage or "", team=team.unique_id,
                            members=float(len(team.members)))
        cause = seg.handoff_cause(sim, case, stage, old) if old is not None else "reallocation"
        sim.assign_holder(case, team, break_cause(case, chair.setting, cause))
        sim.set_load(case, team.load_bearer, weight)
        if isinstance(old, Team):
            old.dissolve()

    def assessment(self, sim: Simulation, case: Case) -> tuple[float, float]:
        return self.params.assessment_days, self.params.detection_probability

    def plan_days(self, sim: Simulation, case: Case) -> float:
        """``process.plan_days`` times ``plan_days_factor``: the chair's authority speeds agreement."""
        return sim.rules.plan_days * self.params.plan_days_factor

    def seat_representatives(self, sim: Simulation, team: Team, needs: Iterable[str]) -> None:
        """The providers of ``needs`` in the team's setting send a representative to the team (when the
        team has provider representatives)."""
        if not self.params.provider_representatives:
            return
        setting = team.chair.setting
        for need in needs:
            rep = sim.provider_for(setting, need)
            if rep is not None and rep not in team.providers:
                team.providers += (rep,)

    def convene(self, sim: Simulation, case: Case, needs: list[str]) -> None:
        """The representatives of the providers about to receive referrals join before they are made."""
        team = case.holder
        if isinstance(team, Team):
            self.seat_representatives(sim, team, needs)

    def referral_effect(self, sim: Simulation, case: Case, provider: Any) -> tuple[float, float]:
        """A provider represented on the case's team accepts the referral more often
        (``representative_acceptance_factor``) and sooner (``representative_delay_factor``)."""
        team = case.holder
        if isinstance(team, Team) and provider in team.providers:
            return self.params.representative_acceptance_factor, self.params.representative_delay_factor
        return 1.0, 1.0

    def handover(self, sim: Simulation, case: Case) -> float:
        return self.params.handover_share

    def after_plan(self, sim: Simulation, case: Case, planned: list[str]) -> None:
        """Each planned need becomes a task of its provider's representative (seated by :meth:`convene`)
        or, without one, of a staff member; monitoring is a task of the driver or a staff member."""
        team = case.holder
        if not isinstance(team, Team):
            return
        now, stage = sim.env.now, case.stage or ""
        setting = team.chair.setting
        for need in planned:
            rep = sim.provider_for(setting, need) if self.params.provider_representatives else None
            if rep is not None and rep not in team.providers:
                team.providers += (rep,)
            member = rep if rep is not None else (team.staff[0] if team.staff else team.chair)
            sim.log.task_assigned(now, case.no, stage=stage, member=member.unique_id, task=need,
                                  team=float(team.unique_id))
        monitor: CaseManager = team.driver or (team.staff[0] if team.staff else team.chair)
        sim.log.task_assigned(now, case.no, stage=stage, member=monitor.unique_id, task="monitoring",
                              team=float(team.unique_id))

    def on_review(self, sim: Simulation, case: Case) -> None:
        team = case.holder
        if isinstance(team, Team):
            team.meetings += 1
            sim.log.team_meeting(sim.env.now, case.no, stage=case.stage or "", team=team.unique_id,
                                 present=float(len(team.members)))

    def let_go(self, sim: Simulation, case: Case) -> None:
        team = case.holder
        sim.release(case)
        if isinstance(team, Team):
            team.dissolve()

    def replacement(self, sim: Simulation, team: Team, leaver: CaseManager) -> CaseManager | None:
        """Who takes ``leaver``'s seat on ``team`` (the leaver is out of post and off the staff index already):
        the least-pressed colleague at work in the setting who is not on the team already
        (:func:`least_pressed_outsider`), whatever their specialisms or skills, or None to leave the seat.

        This is the place for eligibility: a replacement that must suit the case (its segment) or be skilled
        for the leaver's tasks is decided here, not by the engine."""
        return least_pressed_outsider(sim, team, leaver)

    def driver(self, chair: CaseManager, staff: list[CaseManager]) -> CaseManager | None:
        """Nobody drives the plan alone in a pure team."""
        return None


@policy("approach", HybridParams)
class Hybrid(TeamBased):
    """Hybrid: the team assesses, plans and reviews; its first staff member (or the chair) drives
    the plan, sees the case and carries it in the caseload."""

    def workload_share(self) -> float:
        return self.params.driver_workload_share

    def driver(self, chair: CaseManager, staff: list[CaseManager]) -> CaseManager | None:
        return staff[0] if staff else chair
