"""A linked run: services on one clock with measures transferred between them (``casesim link``).

:func:`run_linked` reads a linked file (:mod:`casesim.scenario.linked`), runs its services together
(:class:`casesim.engine.transfer.LinkedRun`), and returns every service's ordinary result (the same summary,
tables and report as ``casesim run`` gives) with the transfers between them (:func:`transfer_summary`):
how many were asked for, refused, lapsed, recognised (as they were or adapted), ended in transit and taken
on, the delays, and how the people transferred fared against those who stayed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from casesim.engine.transfer import LinkedRun
from casesim.metrics.summary import metrics_context
from casesim.outputs.results import Result, assemble
from casesim.scenario.linked import LinkedSpec, load_linked

#: The steps of a transfer the sending service logs (``transfer`` rows), in order.
STEPS = ("requested", "refused", "lapsed", "recognised", "adapted", "ended_in_transit")


@dataclass
class LinkedResult:
    """Every service's result and the transfers between them."""

    spec: LinkedSpec
    results: dict[str, Result]
    transfers: list[dict[str, Any]] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)

    def write(self, out: Path) -> None:
        """Write into ``out`` (an empty folder being filled): one folder of ordinary results a service,
        ``transfers.json`` and the manifest."""
        for name, result in self.results.items():
            result.write(out / name)
        (out / "transfers.json").write_text(json.dumps(self.transfers, indent=2, allow_nan=False) + "\n",
                                            encoding="utf-8")
        (out / "manifest.json").write_text(json.dumps(self.manifest, indent=2) + "\n", encoding="utf-8")


def run_linked(path: str | Path, seed: int | None = None) -> LinkedResult:
    """Run the linked file at ``path`` (``seed`` overrides its seed) and measure it."""
    spec = load_linked(path, seed)
    started = time.perf_counter()
    linked = LinkedRun(spec)
    linked.run_to_end()
    seconds = time.perf_counter() - started
    results: dict[str, Result] = {}
    for name, sim in linked.services.items():
        events, register, staff, ctx = sim.log.to_frame(), pd.DataFrame(sim.register), sim.staff_table(), \
            metrics_context(sim)
        results[name] = assemble(sim.scenario, sim.seed, events, register, staff, ctx, sim_seconds=seconds,
                                 cases_created=sim.cases_created, extra={"linked_service": name})
    from casesim.version import __version__
    manifest = {"kind": "linked", "casesim_version": __version__, "linked_file": str(path), "seed": spec.seed,
                "services": [{"name": n, "scenario": r.scenario.name, "scenario_sha256": r.scenario.digest(),
                              "seed": r.seed} for n, r in results.items()],
                "simulation_seconds": round(seconds, 3),
                "outputs": [*results, "transfers.json"]}
    return LinkedResult(spec, results, transfer_summary(spec, results), manifest)


def _stays(events: pd.DataFrame) -> pd.DataFrame:
    """Every ended stay: its case, stage, how it began (the stage_enter cause) and how it ended."""
    enter = events[events["kind"] == "stage_enter"][["case", "stage", "cause"]]
    leave = events[events["kind"] == "stage_exit"][["case", "stage", "cause"]]
    enter = enter.assign(n=enter.groupby("case").cumcount()).rename(columns={"cause": "began"})
    leave = leave.assign(n=leave.groupby("case").cumcount()).rename(columns={"cause": "ended"})
    out = enter.merge(leave, on=["case", "n", "stage"], how="inner")
    return out.astype({"stage": str, "began": str, "ended": str})


def _outcomes(stays: pd.DataFrame) -> dict[str, Any]:
    """How stays ended: their number and the share completed (stays ended by a transfer are not counted)."""
    ended = stays[stays["ended"] != "transferred"]
    n = len(ended)
    return {"stays_ended": n, "completed_share": float((ended["ended"] == "completed").mean()) if n else None,
            "breach_share": float(ended["ended"].isin(["breach", "further_offence"]).mean()) if n else None}


def transfer_summary(spec: LinkedSpec, results: dict[str, Result]) -> list[dict[str, Any]]:
    """One row a rule: the transfer counts by step, those taken on, the mean days from request to decision
    and from request to the receiving service taking the case on, and the outcomes of the stays of the
    measures concerned: transferred people's stays in the receiving service, the stays of the people who
    stayed (in the sending service: never transferred), and the receiving service's own people's stays."""
    rows: list[dict[str, Any]] = []
    for rule in spec.rules:
        sent, received = results[rule.sender].events, results[rule.to].events
        measures, equivalents = set(rule.measures), set(rule.measures.values())
        tr = sent[(sent["kind"] == "transfer") & sent["stage"].astype(str).isin(measures)]
        step = tr["cause"].astype(str)
        counts = {s: int((step == s).sum()) for s in STEPS}
        # a request's row holds the days its decision takes, so its decision is the row of the same case at
        # that time (the clock adds the same two numbers)
        requested = tr[step == "requested"][["case", "time", "value"]]
        requested = requested.assign(due=requested["time"] + requested["value"])[["case", "time", "due"]]
        decided = tr[step.isin(["refused", "lapsed", "recognised", "adapted"])][["case", "time", "cause"]]
        both = requested.merge(decided.rename(columns={"time": "due"}), on=["case", "due"], how="inner")
        both = both.rename(columns={"time": "time_req", "due": "time_dec", "cause": "cause_dec"})
        decision_days = (both["time_dec"] - both["time_req"]).to_numpy(dtype=float)
        taken = received[(received["kind"] == "arrival") & (received["cause"].astype(str) == "transfer")]
        gone = both[both["cause_dec"].astype(str).isin(["recognised", "adapted"])]
        to_taken = decision_days[both["cause_dec"].astype(str).isin(["recognised", "adapted"]).to_numpy()]
        s_stays, r_stays = _stays(sent), _stays(received)
        moved = set(tr[step.isin(["recognised", "adapted"])]["case"])
        rows.append({
            "from": rule.sender, "to": rule.to, "measures": dict(rule.measures), **counts,
            "taken_on": int(len(taken)),
            "mean_days_request_to_decision": float(np.mean(decision_days)) if len(decision_days) else None,
            "mean_days_request_to_taken_on": (float(np.mean(to_taken)) + rule.handover_days
                                              if len(gone) else None),
            "outcomes": {
                "transferred": _outcomes(r_stays[(r_stays["began"] == "transfer")
                                                 & r_stays["stage"].isin(equivalents)]),
                "stayed_in_sending_service": _outcomes(s_stays[s_stays["stage"].isin(measures)
                                                               & ~s_stays["case"].isin(moved)]),
                "receiving_service_own": _outcomes(r_stays[(r_stays["began"] != "transfer")
                                                           & r_stays["stage"].isin(equivalents)]),
            },
        })
    return rows


__all__ = ["LinkedResult", "STEPS", "run_linked", "transfer_summary"]
