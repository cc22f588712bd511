"""The model: a ``mesa.Model`` that owns a SimPy environment, the agents and the event log.

Mesa owns the model (agents, ``step()``, DataCollector, ``batch_run``); SimPy owns time. Every
happening is a SimPy event on a plain :class:`simpy.Environment`; ``step()`` advances the SimPy clock by one
tick, and ``model.time`` (days) is the SimPy clock itself.

The model uses Mesa's and SimPy's public interfaces only, on Mesa 3.3 (Python 3.11) and Mesa 3.5 (Python
3.12 and later); the one exception, for Mesa 3.3 alone, is :mod:`casesim.engine.mesa_compat`. The engine
leaves the process's garbage collector as it found it: the collector policy of a long run belongs to the
program that owns the process (:mod:`casesim.outputs.collector`).
"""

from __future__ import annotations

import math
import os
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd
import simpy

from casesim import models
from casesim.agents import Case, CaseManager, Provider, Team
from casesim.agents.case import Sanction
from casesim.engine import mesa_compat  # noqa: F401 - Mesa 3.3 only: see the module
from casesim.engine.process import CaseProcess, ComplianceModel, ReoffendingModel
from casesim.engine.rng import (
    AFTER_EXIT,
    FRAILTY,
    OFFEND_AGAIN_AFTER_EXIT,
    RETURN,
    RETURN_DELAY,
    RETURN_RISK,
    TRANSFER_PATCH,
    Luck,
    Streams,
    sample,
)
from casesim.engine.staff_index import StaffIndex
from casesim.log.events import EventLog
from casesim.models.protocols import Approach, Cover, Enforcement, ModeAssignment, Segmentation
from casesim.models.staffing import VACANCY, VACANT_FOR, reallocate, staff_life
from casesim.scenario import changes
from casesim.scenario.journey import JourneyRuntime
from casesim.scenario.params import DAYS_PER_YEAR, RISKS, SETTINGS
from casesim.scenario.schema import Scenario, in_force, scenario_from

#: The scenario a :class:`Simulation` runs when given none: the shipped baseline.
BASELINE = Path(__file__).resolve().parents[2] / "scenarios" / "baseline.yaml"


#: The most a staff member's workload pressure counts above the threshold of practice (ten times its hours).
MAX_LAPSE = 10.0


class Simulation(mesa.Model):
    """One run of one scenario with one seed.

    Every argument can be given by keyword, as ``mesa.batch_run`` gives them:
    ``scenario`` is a :class:`Scenario`, the path of a scenario file, or None for the shipped baseline
    (``scenarios/baseline.yaml``); ``seed`` (default: the scenario's) sets every random stream;
    ``overrides`` are ``dotted.key=value`` strings applied to a scenario file (as ``casesim run --set``).
    ``env``, a SimPy environment shared with other models, puts the run on their clock: linked services
    (:mod:`casesim.engine.transfer`) run this way, and whoever owns the clock advances it.
    """

    def __init__(self, scenario: Scenario | str | os.PathLike[str] | None = None, seed: int | None = None,
                 overrides: Sequence[str] = (), env: simpy.Environment | None = None) -> None:
        scenario = scenario_from(BASELINE if scenario is None else scenario, overrides)
        seed = scenario.seed if seed is None else int(seed)
        # (first: Mesa's constructor reads the clock, ``time`` below)
        self.env = simpy.Environment() if env is None else env
        # Mesa's own generators (``random``, ``rng``) are seeded with ``seed``, given as ``rng``: ``seed`` is
        # deprecated in Mesa 3.5, and Mesa 3.3 seeds both generators from an integer ``rng`` as from ``seed``.
        super().__init__(rng=seed)
        self.scenario = scenario
        self.seed = seed
        self.streams = Streams(seed)
        self.luck = Luck(self.streams)
        self.log = EventLog()
        self._need_sets: dict[int, frozenset[str]] = {}   # bit mask -> names (Case.found, Case.done)
        self._break_cause: str | None = None   # set while a reorganisation moves cases (``assign_holder``)
        self._absence_cover: dict[int, Cover] = {}   # staff id -> the cover policy its absence began under
        self._configure(scenario)
        self.staff: dict[str, list[CaseManager]] = {s: [] for s in SETTINGS}   # in post now
        self.staff_index: dict[str, StaffIndex] = {s: StaffIndex() for s in SETTINGS}
        self.staff_ever: list[CaseManager] = []
        self.pods: dict[int, list[CaseManager]] = {}
        self._build_staff()
        self.providers = [Provider(self, spec) for spec in scenario.providers]
        self._provider_for = {key: self.providers[i] for key, i in scenario.serving().items()}
        self._register = _Register()
        # Contacts waiting for someone to see the case (process.max_contact_slip_days): the waiting case's
        # process by case number, and the numbers of the cases waiting on each absent member of staff (by id;
        # an entry may be stale: a nudge that finds nothing waiting does nothing).
        self._waiting: dict[int, CaseProcess] = {}
        self._waiting_on: dict[int, list[int]] = {}
        self.cases_created = 0
        self.newcomers = 0   # cases created as initial population or arrivals (not returns)
        self._returns: dict[int, int] = {}   # case number of a returned person's case -> their returns so far
        #: Measures this service transfers to a linked service: stage -> the rule's handler, asked by every case
        #: that begins a stay in the stage (``CaseProcess``); empty unless a linked run sets it.
        self.transfer_out: dict[str, Any] = {}
        self._transferred_in: set[int] = set()   # received cases not yet allocated (their first holder: a break)
        self.datacollector = mesa.DataCollector(model_reporters={
            "time": "time", "active_cases": lambda m: len(m.cases()),
            "mean_pressure": lambda m: m.mean_pressure()})
        for stage, count in scenario.initial_population.by_stage.items():
            for _ in range(count):
                self._new_case(stage, "initial", residual=True)
        # The scenario's changes (docs/scenarios.md#changes-from-a-date): each adopted on its day, in order. Their
        # timeouts are made now, before the run starts and the cases make theirs, so on its day a change comes
        # before the other happenings due then.
        self._plan = list(zip(scenario.changes, in_force(scenario), strict=True))
        self._arrival_rates = self._arrival_schedule()
        for i, (change, after) in enumerate(self._plan):
            self.env.timeout(change.at_day).callbacks.append(
                lambda _ev, i=i, change=change, after=after: self.adopt(after, change, i))
        self.env.process(self._arrivals())
        self.running = True

    def _configure(self, scenario: Scenario) -> None:
        """Derive everything the run reads from the scenario in force (``current``): at the start, and again
        on the day of each of its changes (:meth:`adopt`). Only what the scenario says goes here; the run's
        state (staff, cases, providers, random streams, the log) is built once, in ``__init__``."""
        self.current = scenario   # the scenario in force now (``scenario``: the run's input, changes and all)
        # What every case reads at every wake-up, as plain attributes (``scenario`` is a property; see below).
        self.rules = scenario.process
        self.modes = scenario.modes
        self.mode_hours = {m: scenario.mode_hours_per_week(m) for m in scenario.modes}
        self.seat_hours = scenario.seat_hours_per_week()
        self.practice = scenario.pressure   # what workload pressure does to practice
        #: The share of its weekly hours a case asks of a matching specialist holder (``case_weight``).
        self.specialist_hours = 1.0 - scenario.skill.specialist_time_saving
        self.workload = scenario.costs.workload   # the hours of each activity
        self.skill = scenario.skill
        self.tick = scenario.time.tick_days
        self.horizon = scenario.time.horizon_days
        self.journey = JourneyRuntime(scenario.journey)
        self.compliance = ComplianceModel(scenario)
        self.reoffending = ReoffendingModel(scenario)
        self.needs = list(scenario.arrivals.needs_prevalence)
        self.need_index = {n: i for i, n in enumerate(self.needs)}
        self.approach: dict[str, Approach] = {s: models.build("approach", m.approach)
                                              for s, m in scenario.management.items()}
        self.segmentation: dict[str, Segmentation] = {s: models.build("segmentation", m.segmentation)
                                                      for s, m in scenario.management.items()}
        self.mode_rule: ModeAssignment = models.build("mode_assignment", scenario.mode_assignment)
        self.enforcement: Enforcement = models.build("enforcement", scenario.enforcement)
        self.cover: dict[str, Cover] = {s: models.build("cover", m.cover) for s, m in scenario.management.items()}
        self.relationship = scenario.relationships
        self._attr = _AttributeSampler(scenario, self.streams["attributes"])   # (the stream goes on where it was)
        self.after_exit = scenario.reoffending   # offending after exit and returns
        # A person's frailty (``reoffending.frailty_sd``): a lognormal of mean 1 whose log has that standard
        # deviation, i.e. a coefficient of variation of sqrt(exp(sd^2) - 1), as ``sample`` takes it (0: exactly 1).
        self.frailty_cv = math.sqrt(math.expm1(scenario.reoffending.frailty_sd ** 2))
        self.motivating = scenario.motivation    # how motivation moves
        self.saturation = scenario.compliance.continuity_saturation_days

    # --- changes from a date (docs/scenarios.md#changes-from-a-date) ----------------------------------------
    def adopt(self, scenario: Scenario, change: Any, index: int) -> None:
        """From now on the run follows ``scenario``, the scenario in force from ``change`` (the ``index``-th of
        the run's changes) on: every derived setting is re-derived (:meth:`_configure`), so rates and policies
        apply to what happens from now; a setting whose segmentation or approach changed is reorganised (its
        cases moved under the new rule now, each move a ``reorganisation`` break); a cover policy that changed
        forms its pods; and staff groups whose count changed gain or lose posts, at once or in even steps over
        ``change.over_days`` (:meth:`_restaff`)."""
        before, old_approach = self.current, dict(self.approach)
        now = self.env.now
        self._configure(scenario)
        self.log.policy_change(now, paths=changes.changed_paths(change), change=float(index))
        for case in self.cases():   # the compliance logit's fixed part is re-derived at the next contact
            case.logit0 = None
        for setting, m in scenario.management.items():
            was = before.management.get(setting)
            if was is None:
                continue
            if was.cover != m.cover:
                self._form_pods(setting)
            if was.approach != m.approach or was.segmentation != m.segmentation:
                self._reorganise(setting, old_approach[setting], was.approach != m.approach)
        for g, (old, new) in enumerate(zip(before.staff, scenario.staff, strict=True)):
            if new.count != old.count:
                self._restaff(g, new.count - old.count, now, change.over_days)

    def _reorganise(self, setting: str, old: Approach, approach_changed: bool) -> None:
        """Every case now in a stage of ``setting`` with a holder is taken on again by the setting's approach and
        segmentation (as at a stage entry): a holder the new rule keeps keeps it, and any other move is a
        continuity break with cause ``reorganisation``. With a new approach, the old one lets the case go
        first (a team is dissolved)."""
        approach = self.approach[setting]
        self._break_cause = "reorganisation"
        try:
            for case in sorted(self.cases(), key=lambda c: c.no):
                stage = case.stage
                if stage is None or case.holder is None or self.journey.setting.get(stage) != setting:
                    continue
                if approach_changed:
                    old.let_go(self, case)
                approach.take_on(self, case, stage)
        finally:
            self._break_cause = None

    def _restaff(self, g: int, delta: int, start: float, over_days: float) -> None:
        """Staff group ``g`` gains (``delta`` > 0) or loses posts, one at a time in even steps over ``over_days``
        from ``start`` (the last step at its end), or all at once. A new post is vacant: it is filled after the
        recruitment lag by a new starter, as a vacancy is. A post lost goes when it next falls vacant (its
        holder leaves and is not replaced): nobody is dismissed. A gain first cancels losses still to come."""
        n = abs(delta)
        step = self._add_post if delta > 0 else self._lose_post
        for j in range(1, n + 1):
            at = start + over_days * j / n
            if at <= start:
                step(g)
            else:
                self.env.timeout(at - start).callbacks.append(lambda _ev, g=g: step(g))

    def _add_post(self, g: int) -> None:
        if self._to_lose[g] > 0:
            self._to_lose[g] -= 1
            return
        group = self.current.staff[g]
        ordinal = self._group_posts[g]
        self._group_posts[g] += 1
        post = len(self._post_group)
        self._post_group.append((group, group.patches[ordinal % len(group.patches)] if group.patches else None))
        self._post_of.append(g)
        st = self.current.staffing
        lag = (-st.recruitment_lag_days * math.log(Luck.u(self.luck.post_key(post), VACANT_FOR, 0))
               if st.recruitment_lag_days > 0 else 0.0)
        self.env.process(self._fill_later(post, lag))

    def _lose_post(self, g: int) -> None:
        self._to_lose[g] += 1

    def post_goes(self, post: int) -> bool:
        """Whether vacant ``post`` goes now rather than being filled: its group has posts to lose."""
        g = self._post_of[post]
        if self._to_lose[g] <= 0:
            return False
        self._to_lose[g] -= 1
        return True

    def _arrival_schedule(self) -> list[tuple[float, float]]:
        """(day, arrivals per day from then) for the whole run: the base's rate and periods, and, from each change
        of the arrivals (``arrivals`` of the scenario in force differs), that scenario's rate then and its later
        periods. A change that leaves the arrivals alone adds no boundary, so the arrivals stream is drawn as
        without it."""
        a = self.scenario.arrivals
        rates = [(0.0, a.rate_per_day)] + [(p.start_day, p.rate_per_day) for p in a.periods]
        previous = a
        for change, after in self._plan:
            if after.arrivals == previous:
                continue
            previous, day = after.arrivals, change.at_day
            own = [(0.0, previous.rate_per_day)] + [(p.start_day, p.rate_per_day) for p in previous.periods]
            rate_then = [r for start, r in own if start <= day][-1]
            rates = [x for x in rates if x[0] < day] + [(day, rate_then)] + [x for x in own if x[0] > day]
        return rates

    # --- what Mesa 3.5 manages itself -----------------------------------------------------------------
    # Mesa 3.5 makes ``scenario`` (an experiment's parameters, a ``mesa.experimental.scenarios.Scenario``) and
    # ``time`` (advanced one unit per ``step()``) its own. Here the scenario is casesim's and time is SimPy's,
    # so both stay plain attributes of this class on either Mesa: what Mesa 3.5's constructor and step
    # wrapper write into them is not kept.
    @property
    def scenario(self) -> Scenario:
        """The casesim scenario this run simulates (fixed once the model is built from it)."""
        try:
            return self.__dict__["scenario"]
        except KeyError:
            raise AttributeError("scenario") from None

    @scenario.setter
    def scenario(self, value: Any) -> None:
        if isinstance(value, Scenario):
            if "scenario" in self.__dict__:
                raise AttributeError("a simulation's scenario is fixed: build a new Simulation for another")
            self.__dict__["scenario"] = value
        elif not type(value).__module__.startswith("mesa."):   # (Mesa 3.5's own, from its constructor: not kept)
            raise TypeError(f"a Simulation's scenario is a casesim Scenario, not {type(value).__name__}")

    @property
    def time(self) -> float:
        """The simulated day: SimPy's clock (``env.now``)."""
        return float(self.env.now)

    @time.setter
    def time(self, value: float) -> None:
        pass   # Mesa 3.5 advancing its clock by one a step: the clock here is SimPy's

    # --- staff ----------------------------------------------------------------------------------------
    def _build_staff(self) -> None:
        """Create every post; vacant ones are filled after a recruitment lag; then each setting's cover policy
        puts the staff in pods (or not), given them in teams of one group and patch."""
        st = self.scenario.staffing
        post = 0
        self._post_group: list[Any] = []
        self._post_of: list[int] = []   # post -> index of its group in ``scenario.staff``
        self._group_posts = [group.count for group in self.scenario.staff]   # posts each group ever had
        self._to_lose = [0 for _ in self.scenario.staff]   # posts each group is to lose as they fall vacant
        for g, group in enumerate(self.scenario.staff):
            for i in range(group.count):
                patch = group.patches[i % len(group.patches)] if group.patches else None
                self._post_group.append((group, patch))
                self._post_of.append(g)
                key = self.luck.post_key(post)
                if st.vacancy_rate > 0 and Luck.u(key, VACANCY, 0) < st.vacancy_rate:
                    delay = st.recruitment_lag_days * Luck.u(key, VACANCY, 1)
                    self.env.process(self._fill_later(post, delay))
                else:
                    self.fill_post(post, 0, starter=False)
                post += 1
        for setting in self.cover:
            self._form_pods(setting)

    def _form_pods(self, setting: str) -> None:
        """The setting's cover policy puts its staff in post in pods (or not), given them in teams of one group
        and patch: at the start, and when a change brings a new cover policy (the old pods are broken up)."""
        for m in self.staff[setting]:
            if m.pod is not None:
                self.pods.pop(m.pod, None)
                m.pod = None
        by_team: dict[tuple[str, str | None], list[CaseManager]] = {}
        for m in self.staff[setting]:
            by_team.setdefault((m.group, m.patch), []).append(m)
        for pod in self.cover[setting].pods(list(by_team.values())):
            pod_id = len(self.pods) if not self.pods else max(self.pods) + 1
            self.pods[pod_id] = list(pod)
            for m in pod:
                m.pod = pod_id

    def _fill_later(self, post: int, delay: float):  # noqa: ANN202 - a SimPy generator
        yield self.env.timeout(delay)
        if not self.post_goes(post):
            self.fill_post(post, 1, starter=True)

    def fill_post(self, post: int, generation: int, starter: bool = True,
                  successor_of: CaseManager | None = None) -> CaseManager:
        """A person starts in ``post`` (a new starter has reduced capacity for a while); ``successor_of``, the
        leaver whose post it was, if any: the setting's cover policy places the newcomer (in the leaver's pod)."""
        st = self.current.staffing
        group, patch = self._post_group[post]
        now = self.env.now
        full = self.current.hours_per_week(group)
        m = CaseManager(self, group.setting, patch, full, frozenset(group.modes), frozenset(group.specialisms),
                        group.name, post=post, generation=generation)
        if starter and st.new_starter_days > 0:
            m.capacity = full * st.new_starter_capacity_factor
            m.starter_until = now + st.new_starter_days
        if successor_of is not None:
            self.cover[group.setting].on_successor(self, successor_of, m)
        self.staff[group.setting].append(m)
        self.staff_index[group.setting].add(m)
        self.staff_ever.append(m)
        self.log.capacity_change(now, staff=m.unique_id, cause="join", change=m.capacity)
        if not st.static():
            self.env.process(staff_life(self, m))
        return m

    def finish_induction(self, m: CaseManager) -> None:
        if not m.in_post:
            return
        if m.absent:
            m.saved_capacity = m.base_capacity
            return
        delta = m.base_capacity - m.capacity
        if delta:
            m.capacity = m.base_capacity
            self.staff_index[m.setting].touch(m)
            self.log.capacity_change(self.env.now, staff=m.unique_id, cause="trained", change=delta)

    def absence_start(self, m: CaseManager, cause: str, days: float) -> None:
        m.absent = True
        m.saved_capacity = m.capacity
        self.log.capacity_change(self.env.now, staff=m.unique_id, cause=cause, change=-m.capacity)
        m.capacity = 0.0
        self.staff_index[m.setting].touch(m)
        cover = self._absence_cover[m.unique_id] = self.cover[m.setting]   # (it ends the absence too)
        cover.on_absence(self, m, days)

    def absence_end(self, m: CaseManager) -> None:
        m.absent = False
        m.capacity = m.saved_capacity
        self.staff_index[m.setting].touch(m)
        self.log.capacity_change(self.env.now, staff=m.unique_id, cause="return", change=m.capacity)
        # the cover policy the absence began under ends it (a change of cover applies to absences from its day)
        self._absence_cover.pop(m.unique_id, self.cover[m.setting]).on_return(self, m)
        for no in self._waiting_on.pop(m.unique_id, ()):   # the contacts that waited for ``m`` (or a stand-in)
            self.contact_may_go_ahead(no)

    def staff_leaves(self, m: CaseManager) -> None:
        """``m`` leaves the service: capacity goes, every case and team seat is reallocated for good (the
        approach of the team's setting says who takes a seat: ``Approach.replacement``)."""
        now = self.env.now
        if m.absent:
            self.absence_end(m)
        for team in sorted(m.teams, key=lambda t: t.unique_id):   # the leaver's seats go with it, whoever
            self.seat_change(m, team, -1)                         # takes them after
        m.in_post = False
        self.log.capacity_change(now, staff=m.unique_id, cause="leave", change=-m.capacity)
        m.capacity = 0.0
        self.staff[m.setting].remove(m)
        index = self.staff_index[m.setting]
        index.remove(m)
        for case in sorted(m.held, key=lambda c: c.no):
            if reallocate(self, case, "staff_turnover", exclude=m) is None:
                self.release(case)
        for case in sorted(m.covers, key=lambda c: c.no):
            self.clear_cover(case)
            if case.holder is not None:
                self.set_load(case, case.holder.load_bearer, case.load_weight)
        for team in sorted(m.teams, key=lambda t: t.unique_id):
            case = team.case
            stage = case.stage
            new = self.approach[team.setting].replacement(self, team, m)
            if new is None or case is None or stage is None:
                continue
            team.replace_member(m, new)
            self.set_load(case, team.load_bearer, case.load_weight)
            if case.no in self._waiting:
                self.contact_may_go_ahead(case.no)
        for case in list(m.covering_for):
            case.return_to = None
        m.covering_for.clear()
        m.remove()

    def contact_interval(self, case: Case) -> float:
        """Days from one of ``case``'s contacts to the next: its mode's interval, shortened by the sanction's
        factor while an intermediate sanction runs."""
        s = case.sanction
        if s is None:
            return self.modes[case.mode].contact_interval_days
        return self.modes[case.mode].contact_interval_days * s.interval_factor

    def start_sanction(self, case: Case, days: float, interval_factor: float, deterrent: float) -> None:
        """An intermediate sanction starts now (asked by the enforcement policy): ``case`` reports
        ``1 / interval_factor`` times as often for ``days``, so its holder carries that many times its weekly
        hours (:meth:`case_weight`), and ``deterrent`` joins its compliance logit. A sanction running already
        ends first."""
        if case.sanction is not None:
            self.end_sanction(case)
        now = self.env.now
        s = case.sanction = Sanction(now, now + days, interval_factor, deterrent)
        case.sanction_times = (*case.sanction_times, now)
        case.logit0 = None
        if case.load_staff is not None:
            self.set_load(case, case.load_staff, case.load_weight / interval_factor)
        holder = case.holder.unique_id if case.holder is not None else -1
        self.log.sanction(now, case.no, stage=case.stage or "", holder=holder, change="start", days=days)
        self.env.timeout(days).callbacks.append(lambda _ev: self._sanction_over(case, s))

    def end_sanction(self, case: Case) -> None:
        """``case``'s sanction ends now (its period is over, or breach ends it): reporting and the holder's
        hours go back to the mode's, and the deterrent leaves the compliance logit."""
        s = case.sanction
        if s is None:
            return
        case.sanction = None
        case.logit0 = None
        if case.load_staff is not None:
            self.set_load(case, case.load_staff, case.load_weight * s.interval_factor)
        holder = case.holder.unique_id if case.holder is not None else -1
        self.log.sanction(self.env.now, case.no, stage=case.stage or "", holder=holder, change="end",
                          days=self.env.now - s.start)

    def _sanction_over(self, case: Case, s: Sanction) -> None:
        if case.sanction is s and case.stage is not None:   # (not ended or replaced since; the case still here)
            self.end_sanction(case)

    def did(self, case: Case, activity: str) -> None:
        """The case's holder did ``activity`` (a field of ``costs.workload``, as the metrics count it:
        :data:`casesim.metrics.costs.WORK_KINDS`) now: its hours join the holder's
        recent work, and so its workload pressure, when the holder is a staff member. (A team's work as a team,
        and referrals, which the log files under the provider, count in FTE required, as in the metrics, but in
        no member's pressure.)"""
        holder = case.holder
        if isinstance(holder, CaseManager):
            holder.did(self.env.now, getattr(self.workload, activity))

    def caught_up(self, case: Case, staff: Any) -> None:
        """``staff`` delivers a contact of ``case`` that waited for someone to be at work: its hours
        (``costs.workload.contact`` of the case's mode) join ``staff``'s recent work, on top of the caseload it
        carries now. The caseload hours already stood for that contact while it was due, so FTE required does
        not count it again; but the person who catches up does the waiting work in fewer days, and their
        practice feels it, as pod colleagues feel the cover they give. (A case held by a team: not booked, as
        with :meth:`did`; the team's load stands for its work.)"""
        if isinstance(case.holder, CaseManager) and isinstance(staff, CaseManager):
            staff.did(self.env.now, self.workload.contact.get(case.mode, 0.0))

    def engage(self, case: Case, now: float, pressure: float) -> None:
        """A contact is offered to ``case`` now by a member of staff at workload ``pressure``: its motivation
        closes ``motivation.rate`` of the gap to its target (:class:`casesim.scenario.schema.Motivation`)."""
        mv = self.motivating
        if not mv.rate:
            return
        target = (case.drive + mv.relationship * (min(1.0, (now - case.holder_since) / self.saturation) - 0.5)
                  - mv.pressure * self.lapse(pressure))
        if case.done:
            target += mv.need_met * case.done.bit_count()
        m = case.motivation + mv.rate * (target - case.motivation)
        case.motivation = 0.01 if m < 0.01 else 0.99 if m > 0.99 else m

    def warned(self, case: Case) -> None:
        """``case`` has had a formal warning: its motivation moves by ``motivation.warning``."""
        if self.motivating.warning:
            case.motivation = min(0.99, max(0.01, case.motivation + self.motivating.warning))

    def workload_pressure(self, m: CaseManager) -> float:
        """``m``'s workload pressure now (see :class:`casesim.scenario.schema.Pressure`)."""
        return m.workload_pressure(self.env.now, self.practice.window_days)

    def practice_lapse(self, m: CaseManager | None) -> float:
        """How far ``m`` is over the pressure threshold of practice: 0 when at or under it, or for nobody or a
        member away (whose practice waits for its return or cover); at most :data:`MAX_LAPSE` (a member with
        work and no hours at all is infinitely pressed, and every effect is at its cap long before)."""
        if m is None or not m.available:
            return 0.0
        return self.lapse(self.workload_pressure(m))

    def lapse(self, pressure: float) -> float:
        """How far a workload ``pressure`` is over the threshold of practice (0 at or under it), at most
        :data:`MAX_LAPSE`."""
        return min(MAX_LAPSE, max(0.0, pressure - self.practice.threshold))

    def seat_change(self, m: CaseManager, team: Team, sign: int) -> None:
        """``m`` takes (``sign`` +1) or gives up (-1) a seat on ``team``: the weekly hours of the team's
        meetings (:meth:`Scenario.seat_hours_per_week`) join or leave its load. A member out of post has
        given up every seat already, when it left."""
        if not m.in_post or not self.seat_hours:
            return
        m.load += sign * self.seat_hours
        self.staff_index[m.setting].touch(m)
        case = team.case
        self.log.load_change(self.env.now, team.case_no, stage=case.stage or "" if case is not None else "",
                             staff=m.unique_id, change="seat" if sign > 0 else "unseat",
                             weight=sign * self.seat_hours)

    def set_cover(self, case: Case, mate: CaseManager) -> None:
        """``mate`` does the work of ``case`` while its holder is away (load moves, holder stays)."""
        self.clear_cover(case)
        case.cover = mate
        mate.covers.add(case)
        self.set_load(case, mate, case.load_weight)
        if case.no in self._waiting:
            self.contact_may_go_ahead(case.no)

    def clear_cover(self, case: Case) -> None:
        if case.cover is not None:
            case.cover.covers.discard(case)
            case.cover = None
            if case.no in self._waiting:
                self.contact_may_go_ahead(case.no)

    def deliverer(self, case: Case) -> CaseManager | None:
        """The staff member who would see the case today, or None if nobody is at work."""
        if case.cover is not None:
            return case.cover if case.cover.available else None
        holder = case.holder
        return holder.on_duty() if holder is not None else None

    # --- contacts waiting for someone to see the case -------------------------------------------------
    # A contact due when nobody is at work to see the case (``deliverer`` None) waits, at most
    # ``process.max_contact_slip_days``: the case's process sleeps to that limit, and is nudged at once when
    # someone may be able to see it: a member of staff it waits on comes back (``absence_end``), cover starts
    # or ends, or the case changes holder (``assign_holder``, a team's member replaced). No case wakes to
    # poll: a wait costs a registration per absent person it depends on and one nudge per change.
    def wait_for_deliverer(self, process: CaseProcess) -> None:
        """``process``'s contact waits: register it with the absent staff whose return could let someone
        see the case (its cover, and its holder's people: ``CaseManager.people``, ``Team.people``). A case
        without a holder needs no registration: its allocation nudges it."""
        case = process.case
        self._waiting[case.no] = process
        watched = [] if case.holder is None else list(case.holder.people())
        if case.cover is not None:
            watched.append(case.cover)
        for m in watched:
            if m.in_post and m.absent:
                self._waiting_on.setdefault(m.unique_id, []).append(case.no)

    def stop_waiting(self, process: CaseProcess) -> None:
        """``process``'s contact no longer waits (offered, not delivered, or gone with the stay)."""
        self._waiting.pop(process.case.no, None)

    def contact_may_go_ahead(self, no: int) -> None:
        """Someone may now see case ``no``, whose contact waits: nudge its process by a timeout of 0, so it
        looks once the change under way is complete (and after what else is due now)."""
        process = self._waiting.get(no)
        if process is not None:
            self.env.timeout(0).callbacks.append(process.nudge)

    @property
    def contacts_waiting(self) -> int:
        """How many contacts wait for someone to see their case now."""
        return len(self._waiting)

    def contact_waits(self, no: int) -> bool:
        """Whether case ``no`` has a contact waiting for someone to see it now (counted, not yet settled)."""
        return no in self._waiting

    # --- population -------------------------------------------------------------------------------
    def _new_case(self, stage: str, cause: str, residual: bool = False) -> Case:
        no = self.cases_created
        self.cases_created += 1
        risk, offence, needs, propensity, motivation, patch = self._attr.draw()
        case = Case(self, no, risk, offence, needs, patch)
        # a newcomer's luck is that of its place among the newcomers, not of its case number, which returns
        # (people coming back) move: the same newcomers have the same luck in every scenario
        case.luck = self.luck.case_key(self.newcomers)
        self.newcomers += 1
        now = self.env.now
        case.frailty = sample("lognormal", 1.0, self.frailty_cv, Luck.u(case.luck, FRAILTY))
        self._register.add(no, now, risk, offence, needs, propensity, motivation, patch, frailty=case.frailty)
        case.motivation = case.drive = motivation
        self.log.arrival(now, no, cause=cause)
        CaseProcess(self, case, stage, cause, residual)
        return case

    def receive(self, person: Any, stage: str, days: float) -> Case:
        """Take on a measure transferred from a linked service (:mod:`casesim.engine.transfer`): ``person``
        (the sending service's case, gone from it) begins a stay of ``days`` in ``stage`` here, as a new case
        with the same attributes and motivation, living in a patch of this service drawn from its luck. Its
        first holder here is a continuity break (``jurisdiction_transfer``); assessment, plan and mode are this
        service's own, as for any case beginning the stage."""
        no = self.cases_created
        self.cases_created += 1
        stay = person.stays - 1
        propensity, motivation = person.propensity, person.motivation
        u = Luck.u(person.luck, TRANSFER_PATCH, stay)
        patch = self._attr.patches[min(bisect_right(self._attr.patch_cum, u), len(self._attr.patches) - 1)]
        needs = tuple(n for n in person.needs if n in self.need_index)
        case = Case(self, no, person.risk, person.offence, needs, patch)
        case.luck = Luck.transfer_key(person.luck, stay)
        now = self.env.now
        self._register.add(no, now, person.risk, person.offence, needs, propensity, motivation, patch,
                           frailty=person.frailty)
        case.motivation = motivation
        case.drive = person.drive
        case.frailty = person.frailty
        case.been_in_custody = person.been_in_custody
        self._transferred_in.add(no)
        self.log.arrival(now, no, cause="transfer")
        CaseProcess(self, case, stage, "transfer", length=days)
        return case

    def _arrivals(self):  # noqa: ANN202 - a SimPy generator
        """Poisson arrivals with a piecewise-constant rate (exact: memoryless restart at changes)."""
        changes = self._arrival_rates   # (the base's and those of the scenario's changes: _arrival_schedule)
        rng = self.streams["arrivals"]
        env = self.env
        i = 0
        while True:
            while i + 1 < len(changes) and changes[i + 1][0] <= env.now:
                i += 1
            rate = changes[i][1]
            next_change = changes[i + 1][0] if i + 1 < len(changes) else np.inf
            if rate <= 0:
                if next_change == np.inf:
                    return
                yield env.timeout(next_change - env.now)
                continue
            gap = rng.exponential(1.0 / rate)
            if env.now + gap >= next_change:
                yield env.timeout(next_change - env.now)
                continue
            yield env.timeout(gap)
            self._new_case(self.journey.entry, "arrival")

    # --- after exit: further offences and people who come back ------------------------------------------
    def left(self, case: Case) -> None:
        """``case`` has left the system: at the rate after exit for its risk, times the person's frailty and the
        hazard ratio of what it leaves with (needs met, motivation), it may offend within
        ``after_exit_follow_days`` and the horizon; each offence is logged when it comes and may bring the
        person back, and one that does not leaves them to offend again (:meth:`_offended_after_exit`)."""
        r = self.after_exit
        rate = r.after_exit_rate_per_year[case.risk] * case.frailty
        if rate <= 0 or r.after_exit_follow_days <= 0:
            return
        ratio = self.reoffending.ratio(case, supervised=False)
        self._offend_after_exit(case, ratio, rate * ratio, self.env.now + r.after_exit_follow_days,
                                Luck.u(case.luck, AFTER_EXIT, case.stays), 0)

    def _offend_after_exit(self, case: Case, ratio: float, hazard: float, until: float, u: float, n: int) -> None:
        """Schedule the ``n``-th further offence after exit (0 for the first) from the unit draw ``u``, at
        ``hazard`` a year (the person's rate after exit times ``ratio``, fixed since exit), if it comes before
        ``until`` (the end of the follow-up) and the horizon."""
        days = -DAYS_PER_YEAR * math.log(u) / hazard
        now = self.env.now
        if now + days > until or now + days >= self.horizon:
            return
        self.env.timeout(days).callbacks.append(lambda _: self._offended_after_exit(case, ratio, hazard, until, n))

    def _offended_after_exit(self, case: Case, ratio: float, hazard: float, until: float, n: int) -> None:
        """The ``n``-th further offence after exit, now: it brings the person back with probability
        ``return_share`` (after the delay to the court's request); otherwise they stay out, and may offend again
        before the follow-up ends (a fine or a caution leaves the rate as it was)."""
        r = self.after_exit
        self.log.offence(self.env.now, case.no, stage="", when="after_exit", hazard_ratio=ratio)
        k = case.stays if n == 0 else (case.stays << 16) + n   # (the first keeps the luck it had before repeats)
        if r.return_share > 0 and Luck.u(case.luck, RETURN, k) < r.return_share:
            days = -r.return_delay_days * math.log(Luck.u(case.luck, RETURN_DELAY, k))
            if self.env.now + days < self.horizon:
                self.env.timeout(days).callbacks.append(lambda _: self._comes_back(case))
            return
        again = Luck.u(case.luck, OFFEND_AGAIN_AFTER_EXIT, (case.stays << 16) + n)
        self._offend_after_exit(case, ratio, hazard, until, again, n + 1)

    def _comes_back(self, before: Case) -> Case:
        """The person of ``before`` (a case that left) comes back as a new case at the journey's entry: the same
        person (offence, needs, patch, propensity and motivation at arrival), their assessed risk one level
        higher with probability ``return_risk_step``, and the luck of this return of theirs."""
        no = self.cases_created
        self.cases_created += 1
        returns = 1 + self._returns.get(before.no, 0)
        risk = before.risk
        step_up = Luck.u(before.luck, RETURN_RISK, before.stays) < self.after_exit.return_risk_step
        if step_up and RISKS.index(risk) < len(RISKS) - 1:
            risk = RISKS[RISKS.index(risk) + 1]
        case = Case(self, no, risk, before.offence, before.needs, before.patch)
        case.luck = Luck.return_key(before.luck, returns)
        self._returns[no] = returns
        reg, now = self._register, self.env.now
        reg.add(no, now, risk, before.offence, before.needs, reg.propensity[before.no], reg.motivation[before.no],
                before.patch, previous=before.no, frailty=before.frailty)
        case.motivation = case.drive = reg.motivation[before.no]
        case.frailty = before.frailty
        case.been_in_custody = before.been_in_custody   # (what prison cost them stays with them)
        self.log.arrival(now, no, cause="return")
        CaseProcess(self, case, self.journey.entry, "return")
        return case

    @property
    def register(self) -> dict[str, Any]:
        """Every case created so far, one entry per column (``pd.DataFrame(sim.register)`` is the table):
        case, arrival_time, person (the person's first case), previous (their previous case, -1 if none),
        risk, offence, needs ('+'-joined), n_needs, propensity, motivation, patch, frailty (the person's multiplier of
        every offending rate: ``reoffending.frailty_sd``)."""
        return self._register.columns()

    # --- what policies use ----------------------------------------------------------------------
    def segmentation_for(self, stage: str) -> Segmentation:
        return self.segmentation[self.journey.setting[stage]]

    def provider_for(self, setting: str, need: str) -> Provider | None:
        return self._provider_for.get((setting, need))

    def load_target(self, case: Case, holder: Any) -> CaseManager:
        """Who carries the case's workload under ``holder``: a pod colleague covering, or the holder's bearer."""
        return case.cover if case.cover is not None else holder.load_bearer

    def case_weight(self, case: Case, stage: str) -> float:
        """The hours a week ``case`` asks of its holder in ``stage``: its mode's weekly hours
        (:meth:`Scenario.mode_hours_per_week`) times the stage's workload factor, less
        ``skill.specialist_time_saving`` when the holder is a staff member of the stage's setting matching the
        case (:meth:`CaseManager.matches`; a case team shares the work, and a cover colleague carries the
        holder's weight). Asked whenever the holder or the case's mode changes, at every stage entry, plan and
        review, so the weight follows the match."""
        weight = self.mode_hours[case.mode] * self.journey.stages[stage].workload_factor
        holder = case.holder
        if (self.specialist_hours != 1.0 and isinstance(holder, CaseManager) and holder.specialist
                and holder.setting == self.journey.setting[stage] and holder.matches(case)):
            weight *= self.specialist_hours
        if case.sanction is not None:   # an intermediate sanction: contacts 1/factor times as often
            weight /= case.sanction.interval_factor
        return weight

    def set_mode(self, case: Case, mode: str) -> None:
        case.mode = mode
        case.logit0 = None
        holder = case.holder.unique_id if case.holder is not None else -1
        self.log.mode_change(self.env.now, case.no, stage=case.stage or "", holder=holder, mode=mode,
                             weight=self.mode_hours[mode])

    def assign_holder(self, case: Case, holder: Any, cause: str) -> None:
        """Make ``holder`` responsible; a change from an earlier holder is a continuity break."""
        previous = case.holder if case.holder is not None else case.last_holder
        now = self.env.now
        # A case is on the roster of its holder alone (a release takes it off), so it is appended to the new
        # holder's without a look: only a holder taking back the case it holds already finds it there.
        if holder is previous:
            if isinstance(holder, CaseManager) and case.holder is not holder:
                holder.held.append(case)
            case.holder = holder
            if case.no in self._waiting:
                self.contact_may_go_ahead(case.no)
            return
        if self._break_cause is not None:   # (a reorganisation: whatever the policy's reason, it is the cause)
            cause = self._break_cause
        if case.ever_held and previous is not None:
            self.log.continuity_break(now, case.no, stage=case.stage or "", new_holder=holder.unique_id, cause=cause,
                                      old_holder=float(previous.unique_id))
        elif self._transferred_in and case.no in self._transferred_in:   # (held before, by another service)
            self._transferred_in.discard(case.no)
            self.log.continuity_break(now, case.no, stage=case.stage or "", new_holder=holder.unique_id,
                                      cause="jurisdiction_transfer", old_holder=-1.0)
        else:
            self.log.allocation(now, case.no, stage=case.stage or "", holder=holder.unique_id, cause=cause)
        if isinstance(case.holder, CaseManager):
            case.holder.held.discard(case)
        if isinstance(holder, CaseManager):
            holder.held.append(case)
        self.clear_cover(case)
        case.holder = holder
        case.holder_since = now
        case.ever_held = True
        case.last_setting = holder.setting
        if isinstance(holder, CaseManager):
            case.last_manager = holder
        if case.no in self._waiting:   # (a contact waiting for someone to see the case)
            self.contact_may_go_ahead(case.no)

    def release(self, case: Case) -> None:
        """The holder gives the case up (the case may get a new holder later)."""
        self.set_load(case, None, 0.0)
        self.clear_cover(case)
        if case.holder is not None:
            if isinstance(case.holder, CaseManager):
                case.holder.held.discard(case)
            case.last_holder = case.holder
            case.holder = None

    def set_load(self, case: Case, staff: CaseManager | None, weight: float) -> None:
        """Move ``case``'s workload weight to ``staff`` (or nobody), logging every change."""
        old, old_w = case.load_staff, case.load_weight
        now, stage, log = self.env.now, case.stage or "", self.log
        if staff is old:
            if staff is not None and weight != old_w:
                staff.load += weight - old_w
                self.staff_index[staff.setting].touch(staff)
                log.load_change(now, case.no, stage=stage, staff=staff.unique_id, change="reweigh",
                                weight=weight - old_w)
                case.load_weight = weight
            return
        if old is not None:
            old.load -= old_w
            old.count -= 1
            self.staff_index[old.setting].touch(old)
            log.load_change(now, case.no, stage=stage, staff=old.unique_id, change="unassign", weight=-old_w)
        if staff is not None:
            staff.load += weight
            staff.count += 1
            self.staff_index[staff.setting].touch(staff)
            log.load_change(now, case.no, stage=stage, staff=staff.unique_id, change="assign", weight=weight)
        case.load_staff = staff
        case.load_weight = weight if staff is not None else 0.0

    # --- live views (for DataCollector and the live app; metrics come from the log) ---------------
    def cases(self) -> mesa.agent.AgentSet:
        return self.agents_by_type.get(Case, mesa.agent.AgentSet([], random=self.random))

    def need_set(self, mask: int) -> frozenset[str]:
        """The names of the needs whose bits are set in ``mask`` (bit ``i``: ``self.needs[i]``)."""
        names = self._need_sets.get(mask)
        if names is None:
            names = self._need_sets[mask] = frozenset(n for i, n in enumerate(self.needs) if mask >> i & 1)
        return names

    def all_staff(self) -> list[CaseManager]:
        """Everyone who has held a post in this run, leavers included."""
        return list(self.staff_ever)

    def staff_table(self) -> pd.DataFrame:
        """Everyone who held a post: id, post, generation, setting, patch, group, skills, specialisms."""
        return pd.DataFrame({
            "manager": [m.unique_id for m in self.staff_ever],
            "post": [m.post for m in self.staff_ever],
            "generation": [m.generation for m in self.staff_ever],
            "setting": [m.setting for m in self.staff_ever],
            "patch": [m.patch or "" for m in self.staff_ever],
            "group": [m.group for m in self.staff_ever],
            "modes": ["+".join(sorted(m.modes)) for m in self.staff_ever],
            "specialisms": ["+".join(sorted(m.specialisms)) for m in self.staff_ever],
            "full_capacity": [m.base_capacity for m in self.staff_ever],
            "in_post_at_end": [m.in_post for m in self.staff_ever],
        })

    def mean_pressure(self) -> float:
        staff = [m for group in self.staff.values() for m in group if m.capacity > 0]
        return float(np.mean([m.pressure for m in staff])) if staff else 0.0

    # --- time -----------------------------------------------------------------------------------
    def step(self) -> None:
        """Advance one tick (or to the horizon), then collect live data.

        A run ends at its horizon (``running`` turns False): a step past it is an error, not a silent no-op,
        since Mesa 3.5's step wrapper would otherwise wait for a clock that no longer moves. Mesa 3.5's
        ``run_for`` and ``run_until`` count Mesa's own time units, not casesim's ticks: drive the model with
        ``step()`` while ``running``, or :meth:`run_to_end`."""
        if not self.running:
            raise RuntimeError(f"the run has reached its horizon (day {self.horizon:g}): nothing is left to step")
        until = min(self.env.now + self.tick, self.horizon)
        self.env.run(until=until)
        self.collect()

    def collect(self) -> None:
        """Collect live data now (after the clock reached a tick) and stop at the horizon: :meth:`step` does it
        after advancing the model's own clock; a linked run, which owns a clock several models share, after
        each tick of it."""
        self.datacollector.collect(self)
        if self.env.now >= self.horizon:
            self.running = False

    def run_to_end(self) -> None:
        while self.running:
            self.step()


class _Register:
    """The attributes of every case created, in compact columns. A run keeps every case it ever created to
    the end (a national run creates more than a million), so numbers go in ``array`` buffers and each label
    (risk, offence, needs, patch) is a code into its list of the labels seen (16 bits; 32 for the
    combinations of needs): a few tens of bytes a case (docs/performance.md, step 12). Cases are numbered
    0, 1, 2, ... in order of creation, so the case number is the row and needs no column of its own."""

    _LABELS = {"risk": "H", "offence": "H", "needs": "I", "patch": "H"}   # label -> array typecode

    def __init__(self) -> None:
        self.arrival_time = array("d")
        self.person = array("q")     # the person's first case number
        self.previous = array("q")   # the person's previous case number (-1: none)
        self.propensity = array("d")
        self.motivation = array("d")
        self.frailty = array("d")
        self.codes = {k: array(typecode) for k, typecode in self._LABELS.items()}
        self.labels: dict[str, list[Any]] = {k: [] for k in self._LABELS}   # code -> label (needs: a tuple)
        self._code: dict[str, dict[Any, int]] = {k: {} for k in self._LABELS}

    def add(self, no: int, now: float, risk: str, offence: str, needs: tuple[str, ...], propensity: float,
            motivation: float, patch: str, previous: int = -1, frailty: float = 1.0) -> None:
        if no != len(self.arrival_time):
            raise ValueError(f"case {no} registered out of order (expected {len(self.arrival_time)})")
        self.arrival_time.append(now)
        self.person.append(no if previous < 0 else self.person[previous])
        self.previous.append(previous)
        self.propensity.append(propensity)
        self.motivation.append(motivation)
        self.frailty.append(frailty)
        for k, label in (("risk", risk), ("offence", offence), ("needs", needs), ("patch", patch)):
            code = self._code[k].get(label)
            if code is None:
                code = self._code[k][label] = len(self.labels[k])
                self.labels[k].append(label)
            self.codes[k].append(code)

    def columns(self) -> dict[str, Any]:
        def num(a: array, dtype: Any) -> np.ndarray:
            return np.frombuffer(a, dtype=dtype).copy() if len(a) else np.empty(0, dtype=dtype)

        def strings(k: str, of: Any = str) -> list[Any]:
            table = [of(label) for label in self.labels[k]]   # one object per label, shared by its rows
            return [table[c] for c in self.codes[k]]

        return {"case": np.arange(len(self.arrival_time), dtype=np.int64),
                "arrival_time": num(self.arrival_time, np.float64),
                "person": num(self.person, np.int64), "previous": num(self.previous, np.int64),
                "risk": strings("risk"), "offence": strings("offence"), "needs": strings("needs", "+".join),
                "n_needs": np.array(strings("needs", len), dtype=np.int64).reshape(-1),
                "propensity": num(self.propensity, np.float64),
                "motivation": num(self.motivation, np.float64), "patch": strings("patch"),
                "frailty": num(self.frailty, np.float64)}


class _AttributeSampler:
    """Case attributes from the ``attributes`` stream: a fixed number of draws per case, so the
    same arrival sequence gives the same people in every scenario."""

    def __init__(self, scenario: Scenario, rng: np.random.Generator) -> None:
        a = scenario.arrivals
        self.rng = rng
        # cumulative shares as Python floats: bisect on them finds what numpy's searchsorted finds, without
        # numpy's per-call overhead on arrays of a few elements (this runs once per case)
        self.risk_cum = np.cumsum([a.risk_mix[r] for r in RISKS]).tolist()
        self.offences = list(a.offence_mix)
        self.offence_cum = np.cumsum(list(a.offence_mix.values())).tolist()
        self.needs = list(a.needs_prevalence)
        self.prev = {r: [a.needs_prevalence[n][r] for n in self.needs] for r in RISKS}
        self.patches = list(scenario.patches)
        w = np.array(list(scenario.patches.values()), dtype=float)
        self.patch_cum = np.cumsum(w / w.sum()).tolist()
        self.sd = a.propensity_sd
        self._needs_seen: dict[tuple[str, ...], tuple[str, ...]] = {}
        m, c = a.motivation_mean, a.motivation_concentration
        self.beta = (m * c, (1 - m) * c)

    def draw(self) -> tuple[str, str, tuple[str, ...], float, float, str]:
        u = self.rng.random(3 + len(self.needs)).tolist()
        z = float(self.rng.standard_normal())
        motivation = float(self.rng.beta(*self.beta))
        risk = RISKS[min(bisect_right(self.risk_cum, u[0]), len(RISKS) - 1)]
        offence = self.offences[min(bisect_right(self.offence_cum, u[1]), len(self.offences) - 1)]
        patch = self.patches[min(bisect_right(self.patch_cum, u[2]), len(self.patches) - 1)]
        prev = self.prev[risk]
        needs = tuple(n for n, p, x in zip(self.needs, prev, u[3:], strict=True) if x < p)
        needs = self._needs_seen.setdefault(needs, needs)   # one shared tuple per combination
        return risk, offence, needs, z * self.sd, motivation, patch
