"""Random numbers: named streams from one SeedSequence, and per-case luck.

Two mechanisms give common random numbers across scenarios that share a seed:

* Population-level streams (arrival times, case attributes, ...) are numpy Generators spawned
  from the run's ``SeedSequence`` under a fixed key per *name*, so adding a stream never shifts
  another. Arrivals and case attributes are drawn in arrival order, a fixed number of draws
  per case, so they are identical whenever the arrival process is.
* Everything that happens to one case is decided by *luck*: a uniform number that is a pure
  function of (run key, case number, purpose, counter), computed with the SplitMix64
  finaliser. The k-th contact of case 17 gets the same uniform in every scenario, whatever
  else differs, so a policy change alters outcomes only through its effect on the case.
"""

from __future__ import annotations

import math
import zlib
from statistics import NormalDist

import numpy as np

_M64 = 0xFFFFFFFFFFFFFFFF
_GOLDEN = 0x9E3779B97F4A7C15
_PURPOSE_MUL = 0xD1B54A32D192ED03
_COUNTER_MUL = 0x8CB92BA72F3D8DD7
_TO_UNIT = 2.0 ** -53
_inv_cdf = NormalDist().inv_cdf

# Purposes of per-case luck (fixed numbers: changing one changes every result).
DURATION = 1
NEXT_STAGE = 2
CONTACT = 3
ACCEPTABLE = 4
DETECT = 5
MANDATORY = 6
UPTAKE = 7
ACCEPTANCE = 8
INTERVENTION_LENGTH = 9
COMPLETION = 10
DROPOUT_TIME = 11
REOFFEND = 12
RISK_REVIEW = 13
RESIDUAL = 14
ASSESSMENT_TIME = 15
# (16 was CONTACT_THIN, the thinning draw of contacts decided in aggregate: retired with them)
PRESSURE_DROP = 17
JUDGEMENT = 19   # whether a pressed holder decides a missed contact at random rather than by the rule
CARRY_OVER = 21   # whether an open referral is re-made in the new setting when a case moves across
AFTER_EXIT = 22   # the time of a further offence after the case has left (counter: the case's stays)
RETURN = 23       # whether that offence brings the person back as a new case
RETURN_DELAY = 24  # the days from that offence to the return
RETURN_RISK = 25  # whether the returning person's assessed risk is one level higher
OFFENCE_ENDS = 26  # whether a further offence during a stay ends it (counter: stay x 2^16 + offence)
REOFFEND_AGAIN = 27  # the draw of the next further offence after one that did not end the stay (same)
TRANSFER = 28    # whether a measure begun is one to transfer to a linked service (counter: the stay)
TRANSFER_AFTER = 29  # the days from the measure's start to the transfer request (counter: the stay)
TRANSFER_DECIDE = 30  # the days the receiving service takes to decide (counter: the stay)
TRANSFER_REFUSE = 31  # whether it refuses (counter: the stay)
TRANSFER_ADAPT = 32  # whether it adapts the measure (counter: the stay)
TRANSFER_PATCH = 33  # the patch of the receiving service the person lives in (counter: the stay)
WAITING_LOSS = 34  # how long a referral waits on a provider's list before the person drops off it (counter: referral)
FRAILTY = 35     # the person's own multiplier of every offending rate (drawn once, at the first arrival)
OFFEND_AGAIN_AFTER_EXIT = 36  # the next further offence after exit (counter: stays x 2^16 + offences so far)


def _mix(x: int) -> int:
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


class Streams:
    """Named numpy Generators spawned from one ``SeedSequence``."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._cache: dict[str, np.random.Generator] = {}

    def seed_sequence(self, name: str) -> np.random.SeedSequence:
        """The SeedSequence of stream ``name`` (a child of the run's keyed by the name's CRC32)."""
        return np.random.SeedSequence(self.seed, spawn_key=(zlib.crc32(name.encode()),))

    def __getitem__(self, name: str) -> np.random.Generator:
        gen = self._cache.get(name)
        if gen is None:
            gen = self._cache[name] = np.random.Generator(np.random.PCG64(self.seed_sequence(name)))
        return gen


class Luck:
    """Per-case uniform numbers as a pure function of (run key, case, purpose, counter)."""

    def __init__(self, streams: Streams) -> None:
        state = streams.seed_sequence("case_luck").generate_state(2, dtype=np.uint64)
        self.key = int(state[0])

    def case_key(self, case_no: int) -> int:
        """A 64-bit key for one case, computed once at arrival."""
        return _mix((self.key ^ ((case_no + 1) * _GOLDEN)) & _M64)

    @staticmethod
    def return_key(person_key: int, returns: int) -> int:
        """The key of a person's ``returns``-th return as a new case (1 for the first), from the key of their
        previous case: a pure function of that case's luck, so a person's returns have the same luck in every
        scenario that brings them back, whatever else returns."""
        return _mix((person_key ^ (returns * _PURPOSE_MUL + 0xA5A5)) & _M64)

    @staticmethod
    def transfer_key(person_key: int, stay: int) -> int:
        """The key of a case received from a linked service, from the key of its case in the sending service and
        the stay transferred: the same person's luck whatever else the receiving service does."""
        return _mix((person_key ^ ((stay + 1) * _COUNTER_MUL + 0x7E57)) & _M64)

    def post_key(self, post: int) -> int:
        """A 64-bit key for one staff post (a different domain from cases)."""
        return _mix((self.key ^ (((post + 1) << 40) * _GOLDEN + 0x5555)) & _M64)

    @staticmethod
    def u(case_key: int, purpose: int, k: int = 0) -> float:
        """Uniform on (0, 1) for ``purpose`` and counter ``k`` of the case with ``case_key``."""
        x = (case_key + purpose * _PURPOSE_MUL + (k + 1) * _COUNTER_MUL) & _M64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64    # _mix, inlined: this is the hottest call
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
        return (((x ^ (x >> 31)) >> 11) + 0.5) * _TO_UNIT


def sample(dist: str, mean: float, cv: float, u: float) -> float:
    """Draw from a named distribution by inversion of the uniform ``u``.

    ``fixed``: the mean; ``exponential``: mean ``mean``; ``lognormal``: mean ``mean`` and
    coefficient of variation ``cv``; ``uniform``: mean ± ``cv``·mean·√3 (so ``cv`` is the cv).
    """
    if dist == "exponential":
        return -mean * math.log(u)
    if dist == "lognormal":
        if cv <= 0:
            return mean
        s2 = math.log1p(cv * cv)
        return math.exp(math.log(mean) - 0.5 * s2 + math.sqrt(s2) * _inv_cdf(u))
    if dist == "uniform":
        half = min(cv * math.sqrt(3.0), 1.0) * mean
        return mean - half + 2.0 * half * u
    return mean
