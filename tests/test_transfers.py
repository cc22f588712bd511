"""Linked services and the transfer of measures between them (casesim/scenario/linked.py,
casesim/engine/transfer.py, casesim/studies/linked.py, ``casesim link``): a refused transfer leaves both
services as if unlinked, a transferred person is held by one service at a time and arrives when the documented
delays say, their first holder is a ``jurisdiction_transfer`` break, contacts wait for the handover, an adapted
measure is as long as its rule says, and bad linked files are refused with file and line."""

from __future__ import annotations

import json
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from casesim.cli import main
from casesim.engine.simulation import Simulation
from casesim.engine.transfer import LinkedRun
from casesim.scenario.linked import load_linked, service_seed
from casesim.scenario.yamlio import ScenarioError
from casesim.studies.linked import run_linked
from tests.helpers import ROOT

SMALL = ROOT / "tests" / "data" / "small.yaml"
MEASURES = "{NON_CUSTODIAL: NON_CUSTODIAL, SUPERVISED_RELEASE: SUPERVISED_RELEASE}"


def _files(tmp: Path, rule: str = "", clock: str = "{horizon_days: 400, warmup_days: 100}") -> Path:
    (tmp / "home.yaml").write_text(f"extends: {SMALL}\nname: home\ntime: {clock}\n")
    (tmp / "abroad.yaml").write_text(f"extends: {SMALL}\nname: abroad\ntime: {{horizon_days: 400, warmup_days: 100}}\n"
                                     "management:\n  community: {segmentation: {name: task, by: stage}}\n")
    text = ("services: {home: home.yaml, abroad: abroad.yaml}\nseed: 5\ntransfers:\n"
            f"  - {{from: home, to: abroad, measures: {MEASURES}, share: 0.25{rule}}}\n")
    (tmp / "linked.yaml").write_text(text)
    return tmp / "linked.yaml"


@cache
def linked_run(rule: str = "") -> LinkedRun:
    tmp = Path(tempfile.mkdtemp(prefix="casesim-linked-"))
    run = LinkedRun(load_linked(_files(tmp, rule)))
    run.run_to_end()
    return run


def frames(run: LinkedRun) -> dict[str, pd.DataFrame]:
    return {name: sim.log.to_frame() for name, sim in run.services.items()}


def test_refusing_every_transfer_leaves_both_services_as_if_unlinked() -> None:
    run = linked_run(", refuse_share: 1")
    logs = frames(run)
    asked = logs["home"][logs["home"]["kind"] == "transfer"]
    assert (asked["cause"] == "requested").sum() > 50 and (asked["cause"] == "refused").sum() > 40
    for name, sim in run.services.items():
        alone = Simulation(sim.scenario, seed=service_seed(5, name))
        alone.run_to_end()
        mine = logs[name][logs[name]["kind"] != "transfer"].reset_index(drop=True)
        plain = {"kind": str, "stage": str, "cause": str}
        pd.testing.assert_frame_equal(mine.astype(plain), alone.log.to_frame().astype(plain))


def test_a_transferred_person_is_held_by_one_service_at_a_time_and_arrives_after_the_documented_delays() -> None:
    run = linked_run()
    logs = frames(run)
    home, abroad = logs["home"], logs["abroad"]
    rule = run.spec.rules[0]
    gone = home[(home["kind"] == "exit") & (home["cause"] == "transferred")]
    came = abroad[(abroad["kind"] == "arrival") & (abroad["cause"] == "transfer")]
    steps = home[home["kind"] == "transfer"]["cause"].astype(str).value_counts()
    assert len(gone) == steps.get("recognised", 0) + steps.get("adapted", 0) > 100
    # each departure is followed, exactly handover_days later, by an arrival (unless the measure ran out on the
    # way or the run ended first): the same multiset of times
    ended = home[(home["kind"] == "transfer") & (home["cause"] == "ended_in_transit")]
    due = np.sort(np.setdiff1d(gone["time"].to_numpy(), ended["time"].to_numpy()) + rule.handover_days)
    due = due[due < run.horizon]
    np.testing.assert_allclose(np.sort(came["time"].to_numpy()), due, rtol=0, atol=1e-9)
    # the transferred stays end "transferred" in the sending service, and its case leaves at that instant
    ends = home[(home["kind"] == "stage_exit") & (home["cause"] == "transferred")]
    assert list(ends["time"]) == list(gone["time"]) and set(ends["stage"].astype(str)) <= set(rule.measures)
    # conservation across services: people held = created - left, in each service, at the end
    for name, sim in run.services.items():
        ev = logs[name]
        assert len(sim.cases()) == int((ev["kind"] == "arrival").sum() - (ev["kind"] == "exit").sum())


def test_the_first_holder_abroad_is_a_jurisdiction_transfer_break_and_contacts_wait_for_the_handover() -> None:
    run = linked_run()
    abroad = frames(run)["abroad"]
    came = abroad[(abroad["kind"] == "arrival") & (abroad["cause"] == "transfer")].set_index("case")["time"]
    breaks = abroad[(abroad["kind"] == "manager_change") & (abroad["cause"] == "jurisdiction_transfer")]
    first = abroad[abroad["kind"].isin(["allocation", "manager_change"])].groupby("case").head(1)
    first = first[first["case"].isin(came.index)]
    assert len(first) > 100 and (first["kind"] == "manager_change").all()
    assert (first["cause"] == "jurisdiction_transfer").all() and (first["value"] == -1).all()
    assert set(breaks["case"]) <= set(came.index) and len(breaks) == len(first)
    contacts = abroad[abroad["kind"].isin(["contact_kept", "contact_missed"]) & abroad["case"].isin(came.index)]
    seen = contacts.groupby("case")["time"].min()
    wait = seen - came.loc[seen.index]
    gap = run.services["abroad"].current.process.first_contact_days
    assert (wait >= gap - 1e-9).all() and (wait.median() == pytest.approx(gap))


def test_an_adapted_measure_is_cut_by_its_factor_and_a_recognised_one_keeps_its_length() -> None:
    run = linked_run()
    rule = run.spec.rules[0]
    logs = frames(run)
    home, abroad = logs["home"], logs["abroad"]
    decided = home[(home["kind"] == "transfer") & home["cause"].isin(["recognised", "adapted"])]
    ends = home[(home["kind"] == "stage_exit") & (home["cause"] == "transferred")]
    done = ends.merge(decided, on=["case", "time"], suffixes=("", "_step"))
    # the measure's days left when it went: the stay's planned end less now (its length less the days served)
    proc_end = {}
    for (case, t), left, step in zip(zip(done["case"], done["time"], strict=True), done["value_step"],
                                     done["cause_step"].astype(str), strict=True):
        proc_end[(case, t)] = (left, step)
    assert {s for _, s in proc_end.values()} == {"recognised", "adapted"}
    # abroad: a transferred stay that completed lasted exactly days left - handover
    arrive = abroad[(abroad["kind"] == "stage_enter") & (abroad["cause"] == "transfer")][["case", "time", "stage"]]
    finish = abroad[abroad["kind"] == "stage_exit"].groupby("case").head(1)   # the received stay's end
    finish = finish[finish["cause"] == "completed"][["case", "time", "value"]]
    stays = arrive.merge(finish, on="case", suffixes=("_in", "_out"))
    assert len(stays) > 50
    left = sorted(round(v - rule.handover_days, 6) for v, _ in proc_end.values() if v > rule.handover_days)
    lengths = sorted(round(v, 6) for v in stays["value"])
    assert set(lengths) <= set(left)


def test_transfers_are_summarised_and_the_same_seed_gives_the_same_summary(tmp_path: Path) -> None:
    path = _files(tmp_path)
    one, two = run_linked(path), run_linked(path)
    assert one.transfers == two.transfers
    row = one.transfers[0]
    assert row["requested"] >= row["refused"] + row["lapsed"] + row["recognised"] + row["adapted"]
    assert row["taken_on"] <= row["recognised"] + row["adapted"] - row["ended_in_transit"]
    # taken on = decided + the handover, so the mean from request to taken on exceeds the handover
    assert row["mean_days_request_to_taken_on"] > one.spec.rules[0].handover_days
    assert set(row["outcomes"]) == {"transferred", "stayed_in_sending_service", "receiving_service_own"}
    json.dumps(one.transfers, allow_nan=False)


@pytest.mark.parametrize(("rule", "clock", "where", "says"), [
    (", refuse_share: 2", "{horizon_days: 400, warmup_days: 100}", "linked.yaml:4", "transfers.0.refuse_share"),
    ("", "{horizon_days: 300, warmup_days: 100}", "linked.yaml:1", "share one clock"),
])
def test_a_bad_linked_file_is_refused_with_its_line_and_nothing_is_written(tmp_path: Path, capsys, rule: str,
                                                                           clock: str, where: str, says: str) -> None:
    path = _files(tmp_path, rule, clock)
    with pytest.raises(ScenarioError) as err:
        load_linked(path)
    assert where in str(err.value) and says in str(err.value)
    out = tmp_path / "out"
    assert main(["link", str(path), "--out", str(out), "--quiet"]) == 2
    assert not out.exists()
    assert where in capsys.readouterr().err


def test_custody_cannot_be_transferred_and_services_must_exist(tmp_path: Path) -> None:
    _files(tmp_path)
    (tmp_path / "bad.yaml").write_text(
        "services: {home: home.yaml, abroad: abroad.yaml}\ntransfers:\n"
        "  - {from: home, to: nowhere, measures: {CUSTODY: CUSTODY}}\n")
    with pytest.raises(ScenarioError) as err:
        load_linked(tmp_path / "bad.yaml")
    text = str(err.value)
    assert "bad.yaml:3: transfers.0.to: unknown service 'nowhere'" in text


def test_every_decision_is_matched_to_its_request() -> None:
    from casesim.outputs.results import Result
    from casesim.studies.linked import transfer_summary

    run = linked_run()
    logs = frames(run)
    fake = {n: Result.__new__(Result) for n in logs}
    for n, r in fake.items():
        r.events = logs[n]
    row = transfer_summary(run.spec, fake)[0]
    home = logs["home"]
    decided = home[(home["kind"] == "transfer") & home["cause"].isin(["refused", "lapsed", "recognised", "adapted"])]
    asked = home[(home["kind"] == "transfer") & (home["cause"] == "requested")]
    # every decision row has its request; the mean delay is that of the matched pairs, below the horizon
    pairs = asked.assign(due=asked["time"] + asked["value"]).merge(decided, left_on=["case", "due"],
                                                                  right_on=["case", "time"])
    assert len(pairs) == len(decided)
    assert row["mean_days_request_to_decision"] == pytest.approx(float((pairs["due"] - pairs["time_x"]).mean()))


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios" / "linked").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_linked_file_loads(path: Path) -> None:
    spec = load_linked(path)
    assert len(spec.services) >= 2 and spec.rules
    assert len({s.seed for s in spec.services.values()}) == len(spec.services)   # each service its own seed
