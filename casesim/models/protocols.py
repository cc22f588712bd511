"""What the engine asks each kind of case-management policy: one ``typing.Protocol`` per kind.

The engine asks and the policy decides: the simulation (``simulation.py``), the case process
(``process.py``) and the staff dynamics (``staffing.py``) call only the methods below, never look at a
policy's name or parameters, and type their policy attributes with these protocols. A policy is a class
with these methods, built from its parameter model (declared in ``casesim/scenario/policies.py``) and
registered with :func:`casesim.models.registry.policy`. The protocols are ``runtime_checkable``,
so ``isinstance(policy, Approach)`` checks that the methods are there (not their signatures).

``sim`` is the :class:`~casesim.engine.simulation.Simulation`, ``case`` a
:class:`~casesim.agents.case.Case`, ``stage`` the name of a journey stage, ``m`` / ``leaver`` a
:class:`~casesim.agents.case_manager.CaseManager`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from casesim.agents.case import Case
    from casesim.agents.case_manager import CaseManager
    from casesim.agents.provider import Provider
    from casesim.agents.team import Team
    from casesim.engine.simulation import Simulation

__all__ = ["Approach", "Cover", "Enforcement", "ModeAssignment", "Segmentation"]


@runtime_checkable
class Approach(Protocol):
    """Who is responsible for a case in one setting (``management.<setting>.approach``): a named case
    manager, a case team, or a team with a driver.

    The case process asks the approach of the setting the case is in; the policy decides who holds the
    case, how long the assessment takes and how much it finds, how soon the plan is agreed, what the team
    does at the plan and at reviews, how its members speed referrals, and how much of its work carries
    over when the case moves to the other setting. The simulation asks it who replaces a team member who
    leaves the service.
    """

    def keeps_across(self, sim: Simulation, case: Case, stage: str) -> bool:
        """Asked when the case enters ``stage`` of this setting while held from the other setting: whether
        that holder goes on holding it (True) or the other setting's approach lets it go (False)."""
        ...

    def take_on(self, sim: Simulation, case: Case, stage: str) -> None:
        """Asked at every stage entry, after a plan is made and after each review: make sure the right
        holder has the case (keep it, or choose one through the segmentation, or release it when nobody
        can hold it), and carry its workload weight."""
        ...

    def assessment(self, sim: Simulation, case: Case) -> tuple[float, float]:
        """Asked when an assessment starts: (days it takes, probability that each need is found)."""
        ...

    def plan_days(self, sim: Simulation, case: Case) -> float:
        """Asked when the assessment is done: the days until the plan is agreed (a team's chair speeds it)."""
        ...

    def convene(self, sim: Simulation, case: Case, needs: list[str]) -> None:
        """Told the needs about to be referred to providers (at the plan, and the referrals carried over
        from the other setting), before the referrals are made: a team seats the representatives of their
        providers, so that each referral has its representative."""
        ...

    def referral_effect(self, sim: Simulation, case: Case, provider: Provider) -> tuple[float, float]:
        """Asked by ``provider`` when it takes a referral of ``case``: (factor on its acceptance probability,
        factor on its acceptance delay), on top of the relationship's (a provider represented on the case's
        team accepts more, and sooner)."""
        ...

    def handover(self, sim: Simulation, case: Case) -> float:
        """Asked when ``case``, held in this setting, moves to a stage of the other setting: the share
        (0..1) of what was done here that carries over. It is the chance each open referral is re-made at
        once to the new setting's provider of the same need, and, when a plan was made here, the share by
        which the new setting's assessment is shortened. (Needs identified and met stay with the case.)"""
        ...

    def after_plan(self, sim: Simulation, case: Case, planned: list[str]) -> None:
        """Told the needs the plan refers to providers: what the holder does with them (a team gives
        them to members as tasks)."""
        ...

    def on_review(self, sim: Simulation, case: Case) -> None:
        """Told at each formal review, before the case is taken on again (a team meets)."""
        ...

    def let_go(self, sim: Simulation, case: Case) -> None:
        """Asked when the case leaves this setting or the system: release it (a team is dissolved)."""
        ...

    def replacement(self, sim: Simulation, team: Team, leaver: CaseManager) -> CaseManager | None:
        """Asked when ``leaver``, a member of ``team``, leaves the service (it is out of post and off the
        staff index already): the colleague who takes the seat, or None to leave it empty.

        The policy is the place for eligibility and skill: today every approach answers with the
        least-pressed colleague at work in the setting not on the team already, whatever their
        segment or skills (:func:`casesim.models.approach.least_pressed_outsider`)."""
        ...


@runtime_checkable
class Segmentation(Protocol):
    """Which staff may hold a case (``management.<setting>.segmentation``): by patch, task or case type.

    The approach, the cover policy and the reallocation of a leaver's cases ask the segmentation of the
    stage's setting (through ``Simulation.segmentation_for``); the policy decides who is eligible, who is
    chosen and when the current holder keeps the case.
    """

    def ranked(self, sim: Simulation, case: Case, stage: str, k: int = 1,
               exclude: CaseManager | None = None) -> list[CaseManager]:
        """The ``k`` least-pressed candidates at work, in order, ``exclude`` left out."""
        ...

    def keeps(self, sim: Simulation, case: Case, stage: str, holder: Any) -> bool:
        """Whether ``holder`` (a case manager or team) may go on holding the case in ``stage``."""
        ...

    def choose(self, sim: Simulation, case: Case, stage: str) -> CaseManager | None:
        """The case manager to allocate the case to, or None when nobody can hold it."""
        ...

    def handoff_cause(self, sim: Simulation, case: Case, stage: str, holder: Any) -> str:
        """Why ``holder`` does not keep the case (asked only when ``keeps`` said no): the cause logged
        with the continuity break."""
        ...


@runtime_checkable
class ModeAssignment(Protocol):
    """Which supervision mode a case gets (``mode_assignment``, service-wide).

    The case process asks at every stage entry, after the plan and at each review; the policy decides
    the mode (a key of the scenario's ``modes``), and the engine logs and applies a change.
    """

    def mode_for(self, case: Case) -> str:
        """The mode ``case`` should be in now."""
        ...


@runtime_checkable
class Enforcement(Protocol):
    """What a missed contact leads to (``enforcement``, service-wide).

    The case process asks at each missed contact that can be enforced; the policy decides the action as the
    holder would (how long the holder has known the case, how pressed the staff member is), starts an
    intermediate sanction itself (:meth:`Simulation.start_sanction`), and the engine logs a warning or ends
    the stay with a breach (what a breach leads to is the stage's).
    """

    def on_missed(self, sim: Simulation, case: Case, staff: CaseManager | None, now: float,
                  k: int) -> Literal["none", "warning", "sanction", "breach"]:
        """The action on the ``k``-th contact ``case`` missed at ``now``, seen by ``staff``; the policy draws
        the case's luck for it (purposes ``ACCEPTABLE`` and ``JUDGEMENT``, counter ``k``). ``"sanction"``:
        the policy has started an intermediate sanction."""
        ...


@runtime_checkable
class Cover(Protocol):
    """What happens to an absent manager's cases (``management.<setting>.cover``).

    The simulation asks the cover policy of the absent manager's setting when an absence starts and
    ends, and once, after building the staff, which pods they work in; the policy decides whether and
    how the cases are covered or moved.
    """

    def on_absence(self, sim: Simulation, m: CaseManager, days: float) -> None:
        """``m`` has just gone away for ``days`` (capacity already zero): cover or move the cases, or not."""
        ...

    def on_return(self, sim: Simulation, m: CaseManager) -> None:
        """``m`` is back (capacity restored): end the cover or hand cases back, or not."""
        ...

    def pods(self, teams: Sequence[list[CaseManager]]) -> list[list[CaseManager]]:
        """The pods to put the setting's staff in, given them in teams (the members of one staff group and
        patch, in the order they were built): each pod a list of members, numbered in the order given.
        A policy without pods answers none."""
        ...

    def on_successor(self, sim: Simulation, leaver: CaseManager, starter: CaseManager) -> None:
        """``starter`` has just taken the post ``leaver`` left: place them as the policy wants (with pods:
        in the leaver's pod, in the leaver's place)."""
        ...
