"""The case: a person bound to correctional services by a correctional measure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import mesa

if TYPE_CHECKING:
    import pandas as pd

    from casesim.engine.simulation import Simulation


class Sanction(NamedTuple):
    """An intermediate sanction of graduated enforcement: closer reporting from ``start`` to ``until`` (the
    contact interval times ``interval_factor``) and, while it runs, ``deterrent`` on the compliance logit."""

    start: float
    until: float
    interval_factor: float
    deterrent: float


class Case(mesa.Agent):
    """A person on a correctional journey.

    Attributes drawn at arrival are fixed (offence, true needs, propensity, patch); risk changes at reviews, and
    motivation moves with supervision (``motivation``, from ``drive``, the draw at arrival). Propensity is read
    from the model's register of cases, which keeps every case's draws in columns of doubles (the same numbers,
    without a float object and a slot a case). Everything that happens to the case is in the model's event log;
    :meth:`history` returns that part of it. The remaining attributes are the live state the
    engine needs to decide what happens next.

    A national run holds hundreds of thousands of cases at once, so the attributes live in
    ``__slots__`` (no per-case dictionary); the needs identified and met are bit masks over the
    model's list of needs (bit ``i``: ``model.needs[i]``), small integers that Python shares, where a
    set of names would take hundreds of bytes; and the warning and sanction lists start as shared empty tuples that
    are replaced, not mutated, when they change. :attr:`identified`, :attr:`met` and :attr:`open_needs` give
    the names.
    """

    __slots__ = ("model", "unique_id", "pos",   # (Mesa's own three, set by mesa.Agent.__init__)
                 "no", "risk", "offence", "needs", "patch", "luck", "stage",
                 "stays", "holder", "holder_since", "last_holder", "last_setting", "ever_held", "last_manager",
                 "cover", "return_to", "phase", "load_staff", "load_weight", "mode", "found", "done",
                 "pending", "contacts", "kept_since_review", "missed_since_review", "warning_times", "reviews",
                 "referrals", "assessments", "unmet", "logit0", "sanction", "sanction_times", "motivation",
                 "drive", "frailty", "been_in_custody")

    def __init__(self, model: Simulation, no: int, risk: str, offence: str, needs: tuple[str, ...],
                 patch: str) -> None:
        super().__init__(model)
        self.no = no                      # arrival number: stable across scenarios sharing a seed
        self.risk = risk
        self.offence = offence
        self.needs = needs                # true needs
        self.patch = patch
        self.luck = model.luck.case_key(no)
        # live state
        self.stage: str | None = None
        self.stays = 0                    # stage entries so far (indexes per-stay luck)
        self.holder: Any = None           # CaseManager or Team responsible now
        self.holder_since = 0.0
        self.last_holder: Any = None      # holder before the current one was released
        self.last_setting: str | None = None  # setting of the most recent holder
        self.ever_held = False
        self.last_manager: Any = None     # the most recent individual case manager (for preference)
        self.cover: Any = None            # pod colleague doing the work while the holder is away
        self.return_to: Any = None        # manager to hand back to after temporary cover
        self.phase = "assess"             # "assess" until the plan is made, then "implement"
        self.load_staff: Any = None       # staff member carrying this case's workload weight
        self.load_weight = 0.0
        self.mode: str | None = None
        self.found = 0                    # bit mask: needs identified by assessment
        self.done = 0                     # bit mask: needs addressed by a completed intervention
        self.pending: tuple[Any, ...] = ()  # open referrals / interventions (provider tickets)
        self.contacts = 0                 # contacts so far (indexes per-contact luck)
        self.kept_since_review = 0
        self.missed_since_review = 0
        self.warning_times: tuple[float, ...] = ()
        self.reviews = 0
        self.referrals = 0                # referrals so far (indexes per-referral luck)
        self.assessments = 0
        self.unmet = 0                    # needs found and not done, kept by identify() and need_met()
        self.logit0: float | None = None  # compliance logit's fixed part for (risk, mode); None = stale
        self.sanction: Sanction | None = None   # the intermediate sanction running now, if any
        self.sanction_times: tuple[float, ...] = ()   # when sanctions started (shared empty tuple, replaced)
        self.motivation = 0.5             # motivation now (0..1): set to the draw at arrival by the model
        self.drive = 0.5                  # motivation at arrival, the level it returns to (``Motivation``)
        self.frailty = 1.0                # the person's multiplier of every offending rate (``reoffending.frailty_sd``)
        self.been_in_custody = False      # has left a stay in custody (``reoffending.after_custody``)

    @property
    def propensity(self) -> float:
        """Latent compliance propensity (logit scale), drawn at arrival and kept in the model's register."""
        return self.model._register.propensity[self.no]


    @property
    def unmet_needs(self) -> int:
        """Identified needs not yet met by a completed intervention."""
        return self.unmet

    @property
    def identified(self) -> frozenset[str]:
        """The needs an assessment has found."""
        return self.model.need_set(self.found)

    @property
    def met(self) -> frozenset[str]:
        """The needs a completed intervention has addressed."""
        return self.model.need_set(self.done)

    @property
    def open_mask(self) -> int:
        """Bit mask of the needs found and not yet met."""
        return self.found & ~self.done

    @property
    def open_needs(self) -> frozenset[str]:
        """The needs found and not yet met."""
        return self.model.need_set(self.open_mask)

    def identify(self, need_index: int) -> None:
        """An assessment finds the need ``model.needs[need_index]``."""
        self.found |= 1 << need_index
        self.unmet = self.open_mask.bit_count()

    def need_met(self, need_index: int) -> None:
        """A completed intervention meets the need ``model.needs[need_index]``."""
        self.done |= 1 << need_index
        self.unmet = self.open_mask.bit_count()

    def history(self) -> pd.DataFrame:
        """Every logged happening of this case so far, in time order."""
        ev = self.model.log.to_frame()
        return ev[ev["case"] == self.no].reset_index(drop=True)
