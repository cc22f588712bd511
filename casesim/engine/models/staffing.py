"""Staff dynamics and cover: leave, sickness, turnover, vacancies, new starters, and what
happens to a manager's cases while the manager is away.

Each staff post runs one SimPy process (:func:`staff_life`) that alternates work with
absences (annual leave in blocks, sickness episodes) and ends when the person leaves; the
post is then vacant for the recruitment lag and filled by a new starter with a reduced
capacity for a while. Absences and departures show in the log as ``capacity`` changes.

Cover policies (``management.<setting>.cover``) are strategies; the engine asks them
``on_absence(sim, manager, days)`` and ``on_return(sim, manager)``:

* ``none``: cases wait; contacts due while their manager is away are not offered;
* ``pod``: a colleague of the manager's pod covers, the named manager stays responsible
  (no continuity break: the pod knows the case);
* ``temporary``: cases are reallocated for the absence and handed back on return (two breaks);
* ``permanent``: cases are reallocated for good (one break).

Departures always reallocate for good (cause ``staff_turnover``).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Literal

from casesim.engine.agents.case_manager import CaseManager
from casesim.engine.models.registry import policy
from casesim.engine.rng import Luck
from casesim.scenario.params import DECADE, DECADE_DAYS, SHARE, P, Strict

if TYPE_CHECKING:
    from casesim.engine.agents.case import Case
    from casesim.engine.simulation import Simulation

# purposes of per-post luck
LEAVE_GAP, SICK_GAP, SICK_LENGTH, QUIT, VACANT_FOR, LEAVE_LENGTH, VACANCY = 1, 2, 3, 4, 5, 6, 7


class Staffing(Strict):
    """How available staff are: leave, sickness, turnover, vacancies and new starters."""

    annual_leave_days: float = P(30, "days per person per year", "assumption: 25-30 days' leave plus some "
                                 "public holidays for public-sector staff", ge=0, le=200,
                                 limit="200 days: more than half the year away on leave")
    leave_block_days: float = P(7, "days (mean)", "assumption: leave taken in blocks of about a week", ge=0.5,
                                le=365, limit="a year: a block longer than a year is not leave",
                                description="at least half a day: absences are events, so tiny blocks would "
                                "make a run of endless absences")
    leave_block_spread: float = P(0.5, "share of the mean", "assumption: blocks from half to one and a half "
                                  "times the mean (uniform)", ge=0, le=1, limit=SHARE)
    sickness_days_per_year: float = P(11, "days per person per year", "assumption close to the average "
                                      "working days lost to sickness reported for HMPPS staff (10-13)", ge=0,
                                      le=365, limit="a whole year")
    sickness_episode_days: float = P(6, "days (mean of an exponential)", "assumption: most episodes are short, "
                                     "a few long", ge=0.5, le=365,
                                     limit="a year: longer episodes are departures, which turnover models",
                                     description="at least half a day: absences are events, so tiny episodes "
                                     "would make a run of endless absences")
    turnover_per_year: float = P(0.10, "leavers per post per year", "assumption in the range reported for "
                                 "probation officers in HMPPS workforce statistics (about 9-13%)", ge=0,
                                 le=12, limit="one leaver a month in every post: far above any reported "
                                 "turnover")
    recruitment_lag_days: float = P(120, "days (mean)", "assumption: advertising, vetting and notice", ge=0,
                                    le=DECADE_DAYS, limit=DECADE)
    vacancy_rate: float = P(0.0, "share of posts vacant on day 0", "scenario input", ge=0, lt=1,
                                 limit="below 1: a service with every post vacant has nobody to fill them")
    new_starter_days: float = P(180, "days", "assumption: a protected, reduced caseload for new staff", ge=0,
                                le=DECADE_DAYS, limit=DECADE)
    new_starter_capacity_factor: float = P(0.5, "share of full capacity", "assumption", ge=0, le=1, limit=SHARE)

    def static(self) -> bool:
        """True when nobody is ever away (staff stay as configured)."""
        return (self.annual_leave_days == 0 and self.sickness_days_per_year == 0
                and self.turnover_per_year == 0 and self.vacancy_rate == 0)


def staff_life(sim: Simulation, m: CaseManager, first: bool = True) -> Generator[Any, Any, None]:
    """One person in one post: absences until they leave, then the post's next holder starts."""
    st: Staffing = sim.scenario.staffing
    env = sim.env
    key = sim.luck.post_key(m.post)
    k = m.generation * 100_000
    leave_rate = st.annual_leave_days / st.leave_block_days / 365.0
    sick_rate = st.sickness_days_per_year / st.sickness_episode_days / 365.0
    quit_at = env.now - math.log(Luck.u(key, QUIT, k)) / (st.turnover_per_year / 365.0) \
        if st.turnover_per_year > 0 else math.inf
    if m.starter_until > env.now:
        env.process(_full_capacity_later(sim, m))
    cover = sim.cover[m.setting]

    def absence(n: int, now: float) -> tuple[float, str, float]:
        """The person's ``n``-th absence, drawn from ``now`` (their last change): when it starts, its cause
        and its length (a pure function of the post's luck, so it can be known before it comes)."""
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
            m.next_change, m.next_back = quit_at, None
            if quit_at > env.now:
                yield env.timeout(quit_at - env.now)
            sim.staff_leaves(m)
            lag = -st.recruitment_lag_days * math.log(Luck.u(key, VACANT_FOR, k)) \
                if st.recruitment_lag_days > 0 else 0.0
            yield env.timeout(lag)
            sim.fill_post(m.post, m.generation + 1, starter=True, template=m)
            return
        at = env.now + (t_next - env.now)   # the instant SimPy will wake this process, to the last bit
        days = min(days, max(0.0, quit_at - at))
        back = at + days
        following = absence(n + 1, back)
        # Published for contacts settled in aggregate: a window ends before the next change, unless that is an
        # absence nobody acts on (no cover, no move of cases), which it can then run across.
        m.next_change = t_next
        m.next_back = back if days > 0 and not cover.acts_on(days) else None
        m.next_after_back = min(following[0], quit_at)
        yield env.timeout(t_next - env.now)
        if days > 0:
            sim.absence_start(m, cause, days)
            m.next_change, m.next_back = back, None
            yield env.timeout(days)
            sim.absence_end(m)
        n += 1
        t_next, cause, days = following


def _full_capacity_later(sim: Simulation, m: CaseManager) -> Generator[Any, Any, None]:
    yield sim.env.timeout(m.starter_until - sim.env.now)
    sim.finish_induction(m)


# --- cover policies --------------------------------------------------------------------------------

class _CoverParams(Strict):
    cover_after_days: float = P(14, "days", "assumption: only absences of two weeks or more (long sickness) "
                                "are covered by moving cases; shorter ones wait or go to a duty officer", ge=0,
                                le=DECADE_DAYS, limit=DECADE)


class NoCoverParams(Strict):
    """Nobody covers: contacts due while the manager is away are not offered."""

    name: Literal["none"] = "none"


class PodParams(_CoverParams):
    """Managers work in pods that cover each other's absences."""

    name: Literal["pod"] = "pod"
    cover_after_days: float = P(3, "days", "assumption: a pod covers anything longer than a couple of days",
                                ge=0, le=DECADE_DAYS, limit=DECADE)
    size: int = P(4, "case managers", "DOMICE: small groups of case managers and support workers covering "
                  "for one another; assumption: four", ge=2, le=100, strict=True,
                  limit="a hundred: a pod is a small group, not an office")


class TemporaryParams(_CoverParams):
    """Cases move to another manager for the absence and come back after."""

    name: Literal["temporary"] = "temporary"


class PermanentParams(_CoverParams):
    """Cases move to another manager for good when their manager is away long enough."""

    name: Literal["permanent"] = "permanent"
    cover_after_days: float = P(28, "days", "assumption: reallocate for good only for absences of four weeks "
                                "or more", ge=0, le=DECADE_DAYS, limit=DECADE)


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


class _CoverAfter(NoCover):
    """A policy that acts on absences of ``cover_after_days`` or more."""

    def acts_on(self, days: float) -> bool:
        return days >= self.params.cover_after_days


@policy("cover", PodParams)
class PodCover(_CoverAfter):
    """A pod colleague does the work (the load moves), the named manager stays responsible."""

    def on_absence(self, sim: Simulation, m: CaseManager, days: float) -> None:
        if not self.acts_on(days):
            return
        mates = [p for p in sim.pods.get(m.pod, []) if p is not m and p.available]
        if not mates:
            return
        from casesim.engine.models.segmentation import least_loaded
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
