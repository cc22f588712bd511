"""The page of ``casesim app``: two configurations of one scenario, side by side, stepping together.

``casesim app [SCENARIO]`` serves a Solara page (see :func:`serve`). Each configuration (A and B)
has its own controls: approach and segmentation per setting, mode rule, staff per group, review
interval and enforcement. Both run on the same seed (common random numbers: the same people
arrive at the same times with the same luck) and advance together, so any difference between the
two lines of a chart is the effect of the controls, not noise.

The engine knows nothing of this page. :class:`Session` holds the two simulations and turns
controls into ``--set`` overrides of the scenario file (so every choice is validated exactly as on
the command line); charts and KPIs are computed from each simulation's event log with
:func:`casesim.metrics.summary.timeseries` and :func:`casesim.metrics.summary.summarize`.
"""

from __future__ import annotations

import html
import json
import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import ValidationError

from casesim import models
from casesim.app import ENV_OVERRIDES, ENV_SCENARIO, ENV_SEED, default_scenario
from casesim.engine.simulation import Simulation
from casesim.metrics import kpis
from casesim.metrics.summary import metrics_context, summarize, timeseries
from casesim.scenario.params import DAYS_PER_YEAR, SETTINGS
from casesim.scenario.schema import Scenario, load_scenario
from casesim.scenario.yamlio import ScenarioError

#: Display settings (they change what is drawn, never what is simulated).
SMOOTH_TICKS = 4          # flows (breaks, contacts, enforcement) are shown as a rolling mean over 4 ticks
MIN_REFRESH_SECONDS = 1.0  # while running, charts are redrawn at most about once a second...
REFRESH_COST_FACTOR = 2.0  # ...and no more often than twice the time the last redraw's metrics took
MIN_WINDOW_TICKS = 4      # KPIs use the scenario's warm-up once 4 ticks have passed after it (from day 0 before)
CHART_WIDTH_PX = 1400     # the charts' width in pixels (the page is at most 1500 wide)
STEP_CHOICES = (1, 4, 13, 26)  # ticks per "Step" press (a week, about a month, a quarter, half a year)

LABELS = ("A", "B")
COLOURS = {"A": "#1f5fa8", "B": "#d1495b"}

#: KPIs shown for each configuration (summary keys; their short labels and compact formats are in casesim.metrics.kpis).
LIVE_KPIS: tuple[str, ...] = (
    "mean_caseload", "mean_caseload_pressure", "share_manager_time_over_capacity", "continuity_breaks_per_case_year",
    "compliance_rate_of_offered", "compliance_rate_of_due", "warnings_per_case_year", "breaches_per_case_year",
    "completion_rate", "proven_reoffending_1y_all", "cost_per_case_year",
)


# --- configurations -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    """What a trainer can change in one configuration."""

    approach: tuple[tuple[str, str], ...]       # (setting, approach name)
    segmentation: tuple[tuple[str, str], ...]   # (setting, segmentation name)
    mode_rule: str                              # a key of Session.mode_presets
    staff: tuple[int, ...]                      # count per staff group, in scenario order
    review_interval_days: int
    enforcement: str

    def with_(self, **changes: Any) -> Config:
        return replace(self, **changes)

    def set_policy(self, kind: str, setting: str, name: str) -> Config:
        pairs = tuple((s, name if s == setting else n) for s, n in getattr(self, kind))
        return replace(self, **{kind: pairs})


def _mode_presets(base: Scenario, scenario_dir: Path) -> dict[str, dict[str, Any]]:
    """Mode rules to offer: the scenario's own, then each distinct one written in a shipped scenario."""
    own = base.mode_assignment.model_dump(mode="json")
    presets = {f"{own['name']} (this scenario)": own}
    seen = [own]
    for path in sorted(scenario_dir.glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            continue
        section = raw.get("mode_assignment") if isinstance(raw, dict) else None
        if not isinstance(section, dict) or section.get("name") not in models.names("mode_assignment"):
            continue
        try:
            params = _validate_section(base, section)
        except ValidationError:
            continue
        if params not in seen:
            seen.append(params)
            presets[f"{section['name']} ({path.stem})"] = params
    return presets


def _validate_section(base: Scenario, section: dict[str, Any]) -> dict[str, Any]:
    """A mode_assignment section with every default filled in (raises ValidationError if invalid here)."""
    data = base.model_dump(mode="json")
    data["mode_assignment"] = section
    return Scenario.model_validate(data).mode_assignment.model_dump(mode="json")


def _flow(value: Any) -> str:
    """A value in YAML flow style, for one ``--set key=value`` override."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**9).strip()


# --- one trainer's session ----------------------------------------------------------------------
@dataclass
class Snapshot:
    """What the page shows: per configuration, the time series so far and the KPIs."""

    day: float
    horizon: float
    window: tuple[float, float]
    series: dict[str, pd.DataFrame] = field(default_factory=dict)
    kpis: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0


class Session:
    """Two simulations of one scenario file, A and B, on one seed, advanced together.

    Thread-safe: the page's handlers and the background runner share it under one lock.
    """

    def __init__(self, path: str | Path, overrides: tuple[str, ...] = (), seed: int | None = None) -> None:
        self.path = Path(path)
        self.overrides = tuple(overrides)
        self.base, _ = load_scenario(self.path, self.overrides)
        self.seed = self.base.seed if seed is None else int(seed)
        self.groups = [(g.name, g.setting, g.count) for g in self.base.staff]
        self.mode_presets = _mode_presets(self.base, default_scenario().parent)
        self.lock = threading.RLock()
        start = self.initial_config()
        self.configs: dict[str, Config] = {k: start for k in LABELS}
        self.scenarios: dict[str, Scenario] = {k: self.base for k in LABELS}
        self.sims: dict[str, Simulation] = {}
        self.reset()

    # configurations
    def initial_config(self) -> Config:
        b = self.base
        return Config(
            approach=tuple((s, b.management[s].approach.name) for s in SETTINGS if s in b.management),
            segmentation=tuple((s, b.management[s].segmentation.name) for s in SETTINGS if s in b.management),
            mode_rule=next(iter(self.mode_presets)),
            staff=tuple(g.count for g in b.staff),
            review_interval_days=int(round(b.process.review_interval_days)),
            enforcement=b.enforcement.name)

    def group_label(self, i: int) -> str:
        """Label of staff group ``i``'s control: by setting when it is the setting's only group."""
        name, setting, _ = self.groups[i]
        alone = sum(1 for _, s, _ in self.groups if s == setting) == 1
        return f"{setting.capitalize()} case managers" if alone else f"Staff: {name.replace('_', ' ')}"

    @staticmethod
    def choices(kind: str) -> list[str]:
        """Registered policy names of ``kind`` (approach, segmentation, enforcement, ...)."""
        return models.names(kind)

    def config_overrides(self, cfg: Config) -> list[str]:
        """``--set`` overrides turning the scenario into ``cfg`` (only what differs from the scenario)."""
        b, out = self.base, list(self.overrides)
        for kind, pairs in (("approach", cfg.approach), ("segmentation", cfg.segmentation)):
            for setting, name in pairs:
                if getattr(b.management[setting], kind).name != name:
                    out.append(f"management.{setting}.{kind}={_flow({'name': name})}")
        preset = self.mode_presets[cfg.mode_rule]
        if preset != b.mode_assignment.model_dump(mode="json"):
            out.append(f"mode_assignment={_flow(preset)}")
        for i, (count, group) in enumerate(zip(cfg.staff, b.staff, strict=True)):
            if count != group.count:
                out.append(f"staff.{i}.count={int(count)}")
        if cfg.review_interval_days != b.process.review_interval_days:
            out.append(f"process.review_interval_days={cfg.review_interval_days}")
        if cfg.enforcement != b.enforcement.name:
            out.append(f"enforcement={_flow({'name': cfg.enforcement})}")
        return out

    def configure(self, label: str, cfg: Config) -> str | None:
        """Give configuration ``label`` new controls and restart both at day 0; an error message if invalid."""
        try:
            scenario, _ = load_scenario(self.path, self.config_overrides(cfg))
        except ScenarioError as err:
            return "; ".join(p.format() for p in err.problems) or "invalid configuration"
        with self.lock:
            self.configs[label] = cfg
            self.scenarios[label] = scenario
            self.reset()
        return None

    # simulation
    def reset(self) -> None:
        """Both simulations back to day 0 with their current configurations and the shared seed."""
        with self.lock:
            self.sims = {k: Simulation(self.scenarios[k], self.seed) for k in LABELS}

    @property
    def day(self) -> float:
        return float(self.sims["A"].time)

    @property
    def horizon(self) -> float:
        return float(min(s.horizon for s in self.sims.values()))

    @property
    def done(self) -> bool:
        return not all(s.running for s in self.sims.values())

    def step(self, ticks: int = 1) -> None:
        """Advance A and B together by ``ticks`` ticks (or to the horizon)."""
        with self.lock:
            for _ in range(ticks):
                if self.done:
                    return
                for sim in self.sims.values():
                    sim.step()

    def snapshot(self) -> Snapshot:
        """Time series and KPIs of both configurations up to the current day."""
        started = time.perf_counter()
        with self.lock:
            frames = {k: (s.log.to_frame(), pd.DataFrame(s.register), s) for k, s in self.sims.items()}
            day = self.day
        snap = Snapshot(day=day, horizon=self.horizon, window=(0.0, day))
        if day <= 0:
            return snap
        for label, (events, register, sim) in frames.items():
            warmup = sim.scenario.time.warmup_days
            window = (warmup if day >= warmup + MIN_WINDOW_TICKS * sim.tick else 0.0, day)
            ctx = replace(metrics_context(sim), warmup=window[0], horizon=day)
            snap.window = window
            snap.series[label] = chart_series(timeseries(events, register, ctx), ctx.tick)
            snap.kpis[label] = summarize(events, register, ctx)
        snap.seconds = time.perf_counter() - started
        return snap


def chart_series(ts: pd.DataFrame, tick_days: float) -> pd.DataFrame:
    """The four charts' series from a :func:`casesim.metrics.summary.timeseries` table.

    Pressure is a state (mean over available staff at each tick's end, in %). Flows are rates per
    case-year over a rolling window of ``SMOOTH_TICKS`` ticks: events in the window divided by the
    case-years lived in it (active cases x tick length).
    """
    roll = lambda col: ts[col].rolling(SMOOTH_TICKS, min_periods=1).sum()  # noqa: E731
    case_years = roll("active") * tick_days / DAYS_PER_YEAR
    contacts = roll("contacts_kept") + roll("contacts_missed")
    safe = case_years.where(case_years > 0)
    return pd.DataFrame({
        "day": ts["time"],
        "pressure_pct": 100 * ts["mean_pressure"],
        "over_capacity_pct": 100 * ts["share_over_capacity"],
        "breaks_per_case_year": roll("continuity_breaks") / safe,
        "compliance_pct": 100 * roll("contacts_kept") / contacts.where(contacts > 0),
        "warnings_per_case_year": roll("warnings") / safe,
        "breaches_per_case_year": roll("breaches") / safe,
    })


def kpi_table_html(snap: Snapshot, currency: str) -> str:
    """The KPI table (A | B | B - A) as HTML; each cell carries its raw value in ``data-value``."""
    head = "".join(f'<th style="color:{COLOURS[k]}">Configuration {k}</th>' for k in LABELS)
    rows = []
    for key in LIVE_KPIS:
        kpi = kpis.BY_KEY[key]
        cells = []
        values = [snap.kpis.get(k, {}).get(key) for k in LABELS]
        for k, v in zip(LABELS, values, strict=True):
            raw = "" if v is None else repr(float(v))
            cells.append(f'<td class="kpi" id="kpi-{k}-{key}" data-value="{raw}">{kpi.shown(v, compact=True)}</td>')
        diff = values[1] - values[0] if None not in values else None
        shown = "n/a" if diff is None else ("+" if diff > 0 else "") + kpi.shown(diff, compact=True)
        cells.append(f'<td class="kpi diff" id="kpi-diff-{key}">{shown}</td>')
        unit = f" ({currency})" if kpi.kind == "money" else ""
        rows.append(f"<tr><th>{html.escape(str(kpi.short) + unit)}</th>{''.join(cells)}</tr>")
    a, b = snap.window
    caption = (f"Measured over days {a:,.0f} to {b:,.0f}" + (" (warm-up not yet over: from day 0)" if a == 0 else
                                                               " (after the warm-up)")) if b > 0 else \
        "Press Step or Run to start"
    return (f'<table class="kpi-table"><caption>{caption}</caption><tr><th>Measure</th>{head}<th>B &minus; A</th></tr>'
            + "".join(rows) + "</table>")


CSS = """
.kpi-table {border-collapse: collapse; font-size: 14px; width: 100%;}
.kpi-table caption {caption-side: top; text-align: left; color: #555; padding-bottom: 4px;}
.kpi-table th, .kpi-table td {padding: 3px 10px; border-bottom: 1px solid #e3e3e3; text-align: right;}
.kpi-table th:first-child {text-align: left; font-weight: normal;}
.kpi-table td.kpi {font-variant-numeric: tabular-nums; font-weight: 600;}
.kpi-table td.diff {font-weight: normal; color: #444;}
.cfg-title {font-size: 20px; font-weight: 700; margin: 0 0 4px 0;}
.status-line {font-size: 15px; color: #333;}
.error-line {color: #b00020; font-size: 14px;}
"""


# --- the page -----------------------------------------------------------------------------------
def _session_from_env() -> Session:
    path = os.environ.get(ENV_SCENARIO) or str(default_scenario())
    overrides = tuple(json.loads(os.environ.get(ENV_OVERRIDES, "[]")))
    seed = os.environ.get(ENV_SEED)
    return Session(path, overrides, int(seed) if seed else None)


#: The four charts: title, y-axis title, series (column, name suffix, line dash).
CHARTS: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...] = (
    ("Caseload pressure", "weighted caseload / capacity (%)", (("pressure_pct", "", "solid"),)),
    ("Continuity breaks", "breaks per case-year", (("breaks_per_case_year", "", "solid"),)),
    ("Compliance", "contacts kept (%)", (("compliance_pct", "", "solid"),)),
    ("Enforcement (solid: breaches, dotted: warnings)", "per case-year",
     (("breaches_per_case_year", "breaches", "solid"), ("warnings_per_case_year", "warnings", "dot"))),
)


def chart_figure(snap: Snapshot) -> Any:
    """One figure with the four charts (one widget, so the browser loads plotly.js once).

    Every trace's ``meta`` is ``"<configuration>:<column>"`` so a test (or a curious trainer) can
    find a series in the page's plot data.
    """
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=2, subplot_titles=[c[0] for c in CHARTS], horizontal_spacing=0.09,
                        vertical_spacing=0.16)
    for n, (_, ytitle, series) in enumerate(CHARTS):
        row, col = divmod(n, 2)
        for label in LABELS:
            df = snap.series.get(label)
            for column, what, dash in series:
                x = [] if df is None else [float(v) for v in df["day"]]
                y = [] if df is None else [None if pd.isna(v) else float(v) for v in df[column]]
                fig.add_scatter(x=x, y=y, mode="lines", meta=f"{label}:{column}",
                                name=f"Configuration {label}" + (f" {what}" if what else ""),
                                legendgroup=label, showlegend=n == 0,
                                line={"color": COLOURS[label], "dash": dash, "width": 2}, row=row + 1, col=col + 1)
        fig.update_yaxes(title_text=ytitle, row=row + 1, col=col + 1)
        fig.update_xaxes(title_text="simulated day", range=[0, snap.horizon or None], row=row + 1, col=col + 1)
        if snap.window[0] > 0:
            fig.add_vline(x=snap.window[0], line={"color": "#999", "dash": "dash", "width": 1}, row=row + 1,
                          col=col + 1)
    fig.update_layout(height=640, width=CHART_WIDTH_PX, margin={"l": 70, "r": 20, "t": 60, "b": 50},
                      template="plotly_white", legend={"orientation": "h", "y": 1.1, "x": 0}, uirevision="charts")
    return fig


def _build_page() -> Any:
    import solara

    @solara.component
    def Controls(label: str, session: Session, cfg: Config, on_config: Any, disabled: bool) -> None:
        def choose(kind: str, setting: str) -> Any:
            return lambda name: on_config(label, cfg.set_policy(kind, setting, name))

        with solara.Card(classes=[f"config-{label}"], style={"border-top": f"5px solid {COLOURS[label]}"}):
            solara.HTML(tag="div", unsafe_innerHTML=f"Configuration {label}", classes=["cfg-title"],
                        style=f"color:{COLOURS[label]}")
            for setting, _ in cfg.approach:
                with solara.Columns([1, 1]):
                    for kind in ("approach", "segmentation"):
                        solara.Select(label=f"{setting.capitalize()} {kind}", value=dict(getattr(cfg, kind))[setting],
                                      values=session.choices(kind), on_value=choose(kind, setting), dense=True,
                                      disabled=disabled, classes=[f"ctl-{label}-{kind}-{setting}"])
            with solara.Columns([2, 1, 1]):
                solara.Select(label="Mode rule", value=cfg.mode_rule, values=list(session.mode_presets),
                              on_value=lambda v: on_config(label, cfg.with_(mode_rule=v)), disabled=disabled,
                              dense=True, classes=[f"ctl-{label}-mode"])
                solara.Select(label="Enforcement", value=cfg.enforcement, values=session.choices("enforcement"),
                              on_value=lambda v: on_config(label, cfg.with_(enforcement=v)), disabled=disabled,
                              dense=True, classes=[f"ctl-{label}-enforcement"])
                solara.InputInt(label="Review interval (days)", value=cfg.review_interval_days,
                                on_value=lambda v: on_config(label, cfg.with_(review_interval_days=int(v or 0))),
                                disabled=disabled, dense=True, classes=[f"ctl-{label}-review"])
            with solara.Columns([1] * len(session.groups)):
                for i in range(len(session.groups)):
                    def set_count(v: int | None, i: int = i) -> None:
                        staff = list(cfg.staff)
                        staff[i] = int(v or 0)
                        on_config(label, cfg.with_(staff=tuple(staff)))

                    solara.InputInt(label=session.group_label(i), value=cfg.staff[i], on_value=set_count,
                                    disabled=disabled, dense=True, classes=[f"ctl-{label}-staff-{i}"])

    @solara.component
    def Page() -> None:
        session = solara.use_memo(_session_from_env, [])
        configs, set_configs = solara.use_state(dict(session.configs))
        snap, set_snap = solara.use_state(Snapshot(day=0.0, horizon=session.horizon, window=(0.0, 0.0)))
        running, set_running = solara.use_state(False)
        message, set_message = solara.use_state("")
        step_ticks, set_step_ticks = solara.use_state(STEP_CHOICES[0])
        stop = solara.use_memo(threading.Event, [])
        runner: dict[str, Any] = solara.use_memo(dict, [])

        def refresh() -> None:
            set_snap(session.snapshot())

        def on_config(label: str, cfg: Config) -> None:
            error = session.configure(label, cfg)
            if error:
                set_message(f"Configuration {label} not changed: {error}")
                return
            set_configs(dict(session.configs))
            set_message(f"Configuration {label} changed: both configurations restarted at day 0 (seed {session.seed}).")
            refresh()

        def do_step() -> None:
            session.step(step_ticks)
            refresh()

        def do_reset() -> None:
            session.reset()
            set_message(f"Both configurations restarted at day 0 (seed {session.seed}).")
            refresh()

        def run_loop(context: Any) -> None:
            last, cost = 0.0, 0.0
            while not stop.is_set() and not session.done:
                session.step(1)
                now = time.monotonic()
                if now - last >= max(MIN_REFRESH_SECONDS, REFRESH_COST_FACTOR * cost) or session.done:
                    new = session.snapshot()
                    cost, last = new.seconds, time.monotonic()
                    with context:
                        set_snap(new)
            with context:
                set_snap(session.snapshot())
                set_running(False)

        def start() -> None:
            from solara.server import kernel_context

            if runner.get("thread") is not None and runner["thread"].is_alive():
                return
            stop.clear()
            set_running(True)
            thread = threading.Thread(target=run_loop, args=(kernel_context.get_current_context(),),
                                      name="casesim-app-runner", daemon=True)
            runner["thread"] = thread
            thread.start()

        def pause() -> None:
            stop.set()

        def cleanup() -> Any:
            return stop.set

        solara.use_effect(cleanup, [])

        solara.Title("casesim: live view for trainers")
        solara.Style(CSS)
        with solara.Column(style={"padding": "12px 20px", "max-width": "1500px"}):
            solara.HTML(tag="h2", unsafe_innerHTML=f"casesim live view: {html.escape(session.base.name)}",
                        style="margin:0")
            solara.HTML(tag="div", classes=["status-line"], unsafe_innerHTML=(
                f'Day <b id="sim-day">{snap.day:,.0f}</b> of {snap.horizon:,.0f} '
                f"(one tick = {session.base.time.tick_days:g} days; seed {session.seed}; "
                "A and B see the same people with the same luck)"))
            with solara.Row(style={"align-items": "center"}):
                solara.Button("Run", on_click=start, disabled=running or session.done, color="primary",
                              classes=["btn-run"])
                solara.Button("Pause", on_click=pause, disabled=not running, classes=["btn-pause"])
                solara.Button("Step", on_click=do_step, disabled=running or session.done, classes=["btn-step"])
                solara.Select(label="Ticks per step", value=step_ticks, values=list(STEP_CHOICES),
                              on_value=set_step_ticks, disabled=running, style={"max-width": "150px"})
                solara.Button("Reset", on_click=do_reset, disabled=running, classes=["btn-reset"])
            if message:
                cls = "error-line" if "not changed" in message else "status-line"
                solara.HTML(tag="div", unsafe_innerHTML=html.escape(message), classes=[cls, "app-message"])
            with solara.Columns([1, 1]):
                for label in LABELS:
                    Controls(label, session, configs[label], on_config, running)
            with solara.Card(title="Key figures", classes=["kpis"]):
                solara.HTML(tag="div", unsafe_innerHTML=kpi_table_html(snap, session.base.costs.currency))
            with solara.Card(title="Charts (dashed grey line: end of the warm-up)", classes=["charts"]):
                solara.FigurePlotly(chart_figure(snap))

    return Page


def __getattr__(name: str) -> Any:
    """``Page`` is built on first use, so importing this module does not need Solara."""
    if name == "Page":
        page = _build_page()
        globals()["Page"] = page
        return page
    raise AttributeError(name)
