"""Staff dynamics and cover: leave, sickness, turnover, vacancies, new starters, and what
happens to a manager's cases while the manager is away.

Each staff post runs one SimPy process (:func:`staff_life`) that alternates work with
absences (annual leave in blocks, sickness episodes) and ends when the person leaves; the
post is then vacant for the recruitment lag and filled by a new starter with a reduced
capacity for a while. Absences and departures show in the log as ``capacity`` changes.

Cover policies (``management.<setting>.cover``) are strategies; the engine asks them
``on_absence(sim, manager, days)``, ``on_return(sim, manager)`` and, once the staff are built,
``pods(teams)`` (see :class:`~casesim.models.protocols.Cover`); their parameters, and the
``staffing`` section's, are declared in the scenario layer (``casesim/scenario/policies.py``,
``casesim/scenario/staffing.py``):

* ``none``: cases wait; contacts due while their manager is away wait for the return, at most
  ``process.max_contact_slip_days`` (then they are not delivered);
* ``pod``: a colleague of the manager's pod covers, the named manager stays responsible
  (no continuity break: the pod knows the case);
* ``temporary``: cases are reallocated for the absence and handed back on return (two breaks);
* ``permanent``: cases are reallocated for good (one break).

Departures always reallocate for good (cause ``staff_turnover``).
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

from casesim.agents.case_manager import CaseManager
from casesim.engine.rng import Luck
from casesim.models.registry import policy
from casesim.scenario.params import DAYS_PER_YEAR
from casesim.scenario.policies import NoCoverParams, PermanentParams, PodParams, TemporaryParams
from casesim.scenario.staffing import Staffing

if TYPE_CHECKING:
    from casesim.agents.case import Case
    from casesim.engine.simulation import Simulation

# purposes of per-post luck
LEAVE_GAP, SICK_GAP, SICK_LENGTH, QUIT, VACANT_FOR, LEAVE_LENGTH, VACANCY = 1, 2, 3, 4, 5, 6, 7


def staff_life(sim: Simulation, m: CaseManager, first: bool = True) -> Generator[Any, Any, None]:
    """One person in one post: absences until they leave, then the post's next holder starts."""
    st: Staffing = sim.current.staffing   # (the scenario in force when this person starts)
    env = sim.env
    key = sim.luck.post_key(m.post)
    k = m.generation * 100_000
    leave_rate = st.annual_leave_days / st.leave_block_days / DAYS_PER_YEAR
    sick_rate = st.sickness_days_per_year / st.sickness_episode_days / DAYS_PER_YEAR
    quit_at = env.now - math.log(Luck.u(key, QUIT, k)) / (st.turnover_per_year / DAYS_PER_YEAR) \
        if st.turnover_per_year > 0 else math.inf
    if m.starter_until > env.now:
        env.process(_full_capacity_later(sim, m))

    def absence(n: int, now: float) -> tuple[float, str, float]:
        """The person's ``n``-th absence, drawn from ``now`` (their last change): when it starts, its cause
        and its length (a pure function of the post's luck)."""
        gap_leave = -math.log(Luck.u(key, LEAVE_GAP, k + n)) / leave_rate if leave_rate > 0 else math.inf
        gap_sick = -math.log(Luck.u(key, SICK_GAP, k + n)) / sick_rate if sick_rate > 0 else math.inf
        if gap_leave <= gap_sick:
            spread = st.leave_block_spread
            return (now + gap_leave, "annual_leave",
                    st.leave_block_days * (1 - spread + 2 * spread * Luck.u(key, LEAVE_LENGTH, k + n)))
        return now + gap_sick, "sickness", -st.sickness_episode_days * math.log(Luck.u(key, SICK_LENGTH, k + n))

    n = 1
    t_next, cause, days = absence(n, env.now)
    while True:
        if quit_at <= t_next:
            if quit_at > env.now:
                yield env.timeout(quit_at - env.now)
            sim.staff_leaves(m)
            lag = -st.recruitment_lag_days * math.log(Luck.u(key, VACANT_FOR, k)) \
                if st.recruitment_lag_days > 0 else 0.0
            yield env.timeout(lag)
            if not sim.post_goes(m.post):   # (a post its group is to lose goes as it falls vacant)
                sim.fill_post(m.post, m.generation + 1, starter=True, successor_of=m)
            return
        at = env.now + (t_next - env.now)   # the instant SimPy will wake this process, to the last bit
        days = min(days, max(0.0, quit_at - at))
        back = at + days
        following = absence(n + 1, back)
        yield env.timeout(t_next - env.now)
        if days > 0:
            sim.absence_start(m, cause, days)
            yield env.timeout(days)
            sim.absence_end(m)
        n += 1
        t_next, cause, days = following


def _full_capacity_later(sim: Simulation, m: CaseManager) -> Generator[Any, Any, None]:
    yield sim.env.timeout(m.starter_until - sim.env.now)
    sim.finish_induction(m)


# --- cover policies --------------------------------------------------------------------------------

def _held(sim: Simulation, m: CaseManager) -> list[Case]:
    return sorted(m.held, key=lambda c: c.no)


def reallocate(sim: Simulation, case: Case, cause: str, exclude: CaseManager) -> CaseManager | None:
    """Move ``case`` to another eligible manager of its stage's setting, logging the break."""
    stage = case.stage
    if stage is None:
        return None
    seg = sim.segmentation_for(stage)
    ranked = seg.ranked(sim, case, stage, 1, exclude=exclude)
    if not ranked:
        return None
    new = ranked[0]
    sim.assign_holder(case, new, cause)
    sim.set_load(case, new, sim.case_weight(case, stage))
    return new


@policy("cover", NoCoverParams)
class NoCover:
    def __init__(self, params: NoCoverParams) -> None:
        self.params = params

    def acts_on(self, days: float) -> bool:
        """Whether an absence of ``days`` may lead this policy to cover or move the absent person's cases
        (when it does not, those cases stay where they are and their contacts wait for the return)."""
        return False

    def on_absence(self, sim: Simulation, m: CaseManager, days: float) -> None:
        return None

    def on_return(self, sim: Simulation, m: CaseManager) -> None:
        return None

    def pods(self, teams: Sequence[list[CaseManager]]) -> list[list[CaseManager]]:
        """No pods: nobody is put in one."""
        return []

    def on_successor(self, sim: Simulation, leaver: CaseManager, starter: CaseManager) -> None:
        """No pods: a newcomer in a leaver's post is placed nowhere in particular."""
        return None


class _CoverAfter(NoCover):
    """A policy that acts on absences of ``cover_after_days`` or more."""

    def acts_on(self, days: float) -> bool:
        return days >= self.params.cover_after_days


@policy("cover", PodParams)
class PodCover(_CoverAfter):
    """A pod colleague does the work (the load moves), the named manager stays responsible."""

    def pods(self, teams: Sequence[list[CaseManager]]) -> list[list[CaseManager]]:
        """Each team (the staff of one group and patch, in the order they were built) split in order into
        pods of ``size`` (the last one smaller when the team does not divide evenly)."""
        size = self.params.size
        return [members[j:j + size] for members in teams for j in range(0, len(members), size)]

    def on_successor(self, sim: Simulation, leaver: CaseManager, starter: CaseManager) -> None:
        """The newcomer in a leaver's post takes the leaver's place in the leaver's pod."""
        if leaver.pod is not None:
            starter.pod = leaver.pod
            sim.pods[starter.pod] = [starter if x is leaver else x for x in sim.pods[starter.pod]]

    def on_absence(self, sim: Simulation, m: CaseManager, days: float) -> None:
        if not self.acts_on(days):
            return
        mates = [p for p in sim.pods.get(m.pod, []) if p is not m and p.available]
        if not mates:
            return
        from casesim.models.segmentation import least_loaded
        for case in _held(sim, m):
            mate = least_loaded(p for p in mates if p.can_hold(case.mode))
            if mate is None:
                continue
            sim.set_cover(case, mate)
            sim.log.cover_start(sim.env.now, case.no, stage=case.stage or "", colleague=mate.unique_id, cover="pod",
                                holder=float(m.unique_id))

    def on_return(self, sim: Simulation, m: CaseManager) -> None:
        for case in _held(sim, m):
            if case.cover is not None:
                sim.log.cover_end(sim.env.now, case.no, stage=case.stage or "", colleague=case.cover.unique_id,
                                  cover="pod", holder=float(m.unique_id))
                sim.clear_cover(case)
                sim.set_load(case, m, case.load_weight)


@policy("cover", TemporaryParams)
class TemporaryCover(_CoverAfter):
    """Reallocate for the absence, hand back on return."""

    def on_absence(self, sim: Simulation, m: CaseManager, days: float) -> None:
        if not self.acts_on(days):
            return
        for case in _held(sim, m):
            if reallocate(sim, case, "absence_cover", exclude=m) is not None:
                case.return_to = m
                m.covering_for.add(case)

    def on_return(self, sim: Simulation, m: CaseManager) -> None:
        for case in sorted(m.covering_for, key=lambda c: c.no):
            holder = case.holder
            m.covering_for.discard(case)
            if (case.return_to is m and isinstance(holder, CaseManager) and holder is not m
                    and case.stage is not None and sim.journey.setting[case.stage] == m.setting
                    and m.can_hold(case.mode) and sim.segmentation_for(case.stage).keeps(sim, case, case.stage, m)):
                sim.assign_holder(case, m, "cover_return")
                sim.set_load(case, m, sim.case_weight(case, case.stage))
            case.return_to = None


@policy("cover", PermanentParams)
class PermanentCover(_CoverAfter):
    """Reallocate for good."""

    def on_absence(self, sim: Simulation, m: CaseManager, days: float) -> None:
        if not self.acts_on(days):
            return
        for case in _held(sim, m):
            reallocate(sim, case, "absence_reallocation", exclude=m)
