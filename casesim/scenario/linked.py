"""Linked services: two or more scenarios run on one clock, with measures transferred between them.

A *linked file* names the services (each an ordinary scenario file) and the transfer rules between them.
It models the transfer of supervision of non-custodial measures between jurisdictions, as Council Framework
Decision 2008/947/JHA organises it between EU member states: the service that imposed the measure (the
*sending* service) asks the service of the country where the person lives (the *receiving* service) to
recognise the judgment and supervise the measure; the receiving service decides within a deadline, may adapt
the measure to its own nearest equivalent (never more severe), or may refuse; the sending service stays
responsible until it decides. Custody is out of scope (transfers of prisoners follow another instrument,
Framework Decision 2008/909/JHA).

Everything here is checked when the file is read, with its file and line: the services' scenario files, the
rules' service and stage names, and that the services share one clock (horizon, warm-up and tick). Reading a
linked file loads no simulation library.

Example::

    services:
      home: ../jurisdictions/named_officer.yaml
      abroad: ../jurisdictions/stage_specialised.yaml
    seed: 7
    transfers:
      - from: home
        to: abroad
        measures: {NON_CUSTODIAL: NON_CUSTODIAL, SUPERVISED_RELEASE: SUPERVISED_RELEASE}
        share: 0.03
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, ValidationError

from casesim.scenario.params import (
    DECADE,
    DECADE_DAYS,
    PROBABILITY,
    SEED_LIMIT,
    SEED_MAX,
    SHARE,
    P,
    Strict,
)
from casesim.scenario.schema import Scenario, load_scenario
from casesim.scenario.yamlio import Problem, ScenarioError, load_yaml, problems_from_validation


class TransferRule(Strict):
    """Which measures of one service are transferred to another, and how the transfer goes."""

    sender: str = Field(alias="from", description="the service whose measures are transferred")
    to: str = Field(description="the service asked to supervise them")
    measures: dict[str, str] = Field(
        description="each measure (a community stage of the sending service with a breach route: a court "
                    "order or a licence) and the receiving service's nearest equivalent stage")
    share: float = P(0.03, "share of the stays of those measures", "assumption: the people sentenced in one "
                     "country who live in, or have close ties to, the other, and for whom a transfer is asked for "
                     "(no EU-wide count of FD 2008/947 transfers was found; the instrument is known to be little "
                     "used)", ge=0, le=1, limit=SHARE)
    request_after_days: float = P(30, "days (mean, exponential) from the start of the measure",
                                  "assumption: the certificate is sent after sentence or release, once the person's "
                                  "residence is established", gt=0, le=DECADE_DAYS, limit=DECADE)
    recognition_days: float = P(60, "days (mean, exponential) from the request to the receiving service's "
                                "decision", "FD 2008/947 art. 12: the executing state decides within 60 days of "
                                "receiving the judgment and certificate (extendable); the sending service stays "
                                "responsible until then", gt=0, le=DECADE_DAYS, limit=DECADE)
    handover_days: float = P(14, "days (fixed) from the decision to the receiving service taking the case on",
                             "assumption: the file is passed on and the person registers with the receiving "
                             "service; nobody holds the case in between", ge=0, le=DECADE_DAYS, limit=DECADE)
    refuse_share: float = P(0.1, "probability", "assumption: grounds for refusal (FD 2008/947 art. 11: e.g. an "
                            "incomplete certificate, the measure too short to supervise, no double criminality)",
                            ge=0, le=1, limit=PROBABILITY)
    adapt_share: float = P(0.25, "probability", "assumption: the measure's nature or length is incompatible with "
                           "the receiving law, which adapts it to its nearest equivalent (FD 2008/947 art. 9)",
                           ge=0, le=1, limit=PROBABILITY)
    adapted_length_factor: float = P(0.75, "share of the measure's remaining length kept when adapted",
                                     "assumption: an adapted measure may not be more severe or longer than the "
                                     "original (art. 9(3)), so adaptation shortens it", gt=0, le=1, limit=SHARE)


class Linked(Strict):
    """A linked run: its services (name -> scenario file, relative to the linked file) and transfer rules."""

    services: dict[str, str] = Field(min_length=2, description="service name -> scenario file")
    seed: int = P(1, "integer", "the linked run's seed: each service's is derived from it and its name",
                  ge=0, le=SEED_MAX, limit=SEED_LIMIT)
    transfers: list[TransferRule] = P(list, "rules", "the transfers between the services (none: as unlinked)")


@dataclass(frozen=True)
class LinkedSpec:
    """A linked file, read and checked: its services' scenarios (seeded for the linked run) and its rules."""

    path: str
    services: dict[str, Scenario]
    rules: tuple[TransferRule, ...]
    seed: int

    def service_seed(self, name: str) -> int:
        """The seed of service ``name`` in this linked run (a pure function of the run's seed and the name)."""
        return service_seed(self.seed, name)


def service_seed(seed: int, name: str) -> int:
    """The seed of service ``name`` in a linked run seeded ``seed``."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(zlib.crc32(name.encode()),))
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def load_linked(path: str | Path, seed: int | None = None) -> LinkedSpec:
    """Read and check a linked file; raise :class:`ScenarioError` with every problem, each with file and line."""
    data, lines = load_yaml(path)
    display = str(path)
    try:
        linked = Linked.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(problems_from_validation(exc, lines)) from None
    problems: list[Problem] = []

    def problem(loc: tuple[Any, ...], message: str) -> None:
        file, line = lines.locate(loc)
        problems.append(Problem(file or display, line, ".".join(str(p) for p in loc), message))

    base = Path(path).resolve().parent
    services: dict[str, Scenario] = {}
    for name, file in linked.services.items():
        target = (base / file) if not Path(file).is_absolute() else Path(file)
        try:
            services[name] = load_scenario(target)[0]
        except ScenarioError as exc:
            for p in exc.problems:
                problem(("services", name), f"{p.format()}")
        except OSError as exc:
            problem(("services", name), f"cannot read {file}: {exc.strerror or exc}")
    if problems:
        raise ScenarioError(problems)
    clocks = {name: (s.time.horizon_days, s.time.warmup_days, s.time.tick_days) for name, s in services.items()}
    if len(set(clocks.values())) > 1:
        shown = "; ".join(f"{n}: horizon {h:g}, warm-up {w:g}, tick {t:g}" for n, (h, w, t) in clocks.items())
        problem(("services",), f"linked services must share one clock (time.horizon_days, warmup_days, "
                               f"tick_days): {shown}")
    for i, rule in enumerate(linked.transfers):
        where = ("transfers", i)
        for side, name in (("from", rule.sender), ("to", rule.to)):
            if name not in services:
                problem((*where, side), f"unknown service '{name}'; valid: {', '.join(services)}")
        if rule.sender == rule.to:
            problem((*where, "to"), "a service cannot transfer measures to itself")
        if rule.sender not in services or rule.to not in services:
            continue
        sending, receiving = services[rule.sender].journey, services[rule.to].journey
        if not rule.measures:
            problem((*where, "measures"), "name at least one measure")
        for stage, equivalent in rule.measures.items():
            st = sending.stages.get(stage)
            if st is None:
                problem((*where, "measures", stage), f"unknown stage of '{rule.sender}'; valid: "
                                                     f"{', '.join(sending.stages)}")
            elif st.setting != "community" or st.on_breach is None:
                problem((*where, "measures", stage), "only supervised community measures (a community stage with "
                                                     "a breach route) can be transferred: custody is another "
                                                     "instrument (FD 2008/909/JHA)")
            eq = receiving.stages.get(equivalent)
            if eq is None:
                problem((*where, "measures", stage), f"unknown stage '{equivalent}' of '{rule.to}'; valid: "
                                                     f"{', '.join(receiving.stages)}")
            elif eq.setting != "community" or eq.on_breach is None:
                problem((*where, "measures", stage), f"'{equivalent}' of '{rule.to}' is not a supervised "
                                                     "community measure (a community stage with a breach route)")
    senders = [(r.sender, s) for r in linked.transfers for s in r.measures]
    for key in {k for k in senders if senders.count(k) > 1}:
        problem(("transfers",), f"measure {key[1]} of '{key[0]}' is in more than one rule")
    if problems:
        raise ScenarioError(sorted(problems, key=lambda p: p.line or 0))
    run_seed = linked.seed if seed is None else int(seed)
    seeded = {name: s.with_seed(service_seed(run_seed, name)) for name, s in services.items()}
    return LinkedSpec(display, seeded, tuple(linked.transfers), run_seed)


__all__ = ["Linked", "LinkedSpec", "TransferRule", "load_linked", "service_seed"]
