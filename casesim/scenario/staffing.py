"""How available staff are (the ``staffing`` section): leave, sickness, turnover, vacancies and new starters.

Declared here, in the scenario layer, so that reading a scenario loads no engine; the engine's staff
dynamics (``casesim/models/staffing.py``) run each post's life from these parameters.
"""

from __future__ import annotations

from casesim.scenario.params import DECADE, DECADE_DAYS, SHARE, P, Strict


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
