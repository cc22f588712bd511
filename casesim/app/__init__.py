"""``casesim app``: the trainers' live view (a Solara page, :mod:`casesim.app.page`).

This module stays light (no Solara, no engine imports) because the command line imports it to
build its parser; the page and the server are imported only when ``casesim app`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import warnings
from pathlib import Path

#: Environment variables through which ``casesim app`` passes its arguments to the page.
ENV_SCENARIO, ENV_OVERRIDES, ENV_SEED = "CASESIM_APP_SCENARIO", "CASESIM_APP_OVERRIDES", "CASESIM_APP_SEED"
DEFAULT_HOST = "127.0.0.1"  # only this machine can reach the page unless --host says otherwise
DEFAULT_PORT = 8765
#: Start of the warning Solara gives for every page it serves over plain http to a host name other than
#: ``localhost`` (127.0.0.1, or the machine's address with ``--host``): it cannot mark its session cookie
#: ``SameSite=None`` and uses ``Lax``. That matters only for a page embedded in another site's iframe, which
#: this page never is, and Solara has no setting to turn it off.
COOKIE_WARNING = "Cookies with samesite=none require https"
EXIT_INPUT = 2


def default_scenario() -> Path:
    """``scenarios/baseline.yaml`` of the working directory, else of the source tree."""
    here = Path("scenarios") / "baseline.yaml"
    return here if here.exists() else Path(__file__).resolve().parents[2] / "scenarios" / "baseline.yaml"


def _port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port`` (None if it can)."""
    if not 0 < port < 65536:
        return f"must be between 1 and 65535 (got {port})"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot resolve host {host!r}: {exc.strerror or exc}"
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def serve(scenario: str | Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          overrides: tuple[str, ...] = (), seed: int | None = None) -> None:
    """Serve the page with Solara's Starlette app on ``host:port`` until interrupted."""
    os.environ[ENV_SCENARIO] = str(Path(scenario).resolve())
    os.environ[ENV_OVERRIDES] = json.dumps(list(overrides))
    if seed is not None:
        os.environ[ENV_SEED] = str(seed)
    os.environ["SOLARA_APP"] = "casesim.app.page"
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")
    os.environ["SERVER_NAME"], os.environ["SERVER_PORT"] = host, str(port)
    import uvicorn

    # Ignored at its source only (this message, from solara.server.starlette). Python shows a warning once per
    # place, but forgets that whenever any code changes the warning filters (pandas does, while the page
    # computes), so the warning would come back at page loads all through a session.
    warnings.filterwarnings("ignore", message=COOKIE_WARNING, category=UserWarning,
                            module=r"solara\.server\.starlette")
    print(f"casesim live view of {scenario}: http://{host}:{port}/ (Ctrl+C to stop)", flush=True)
    uvicorn.run("solara.server.starlette:app", host=host, port=port, log_level="warning")


def cmd_app(args: argparse.Namespace) -> int:
    from casesim.scenario.schema import load_scenario

    if args.seed is not None and args.seed < 0:
        print(f"--seed: must be a non-negative integer (got {args.seed})", file=sys.stderr)
        return EXIT_INPUT
    scenario = args.scenario or str(default_scenario())
    load_scenario(scenario, args.set)  # a ScenarioError is reported by the CLI (file:line, exit 2)
    problem = _port_problem(args.host, args.port)
    if problem:
        print(f"--port: {problem}", file=sys.stderr)
        return EXIT_INPUT
    serve(scenario, args.host, args.port, tuple(args.set), args.seed)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``app`` subcommand."""
    p = sub.add_parser("app", help="serve the trainers' live view: two configurations side by side")
    p.add_argument("scenario", nargs="?", help="scenario YAML file (default scenarios/baseline.yaml)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST}: this "
                   "machine only; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--seed", type=int, help="seed shared by both configurations (default: the scenario's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value for both configurations (repeatable)")
    p.set_defaults(func=cmd_app)
