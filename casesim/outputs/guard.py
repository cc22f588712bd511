"""What a command may write over, decided before it simulates anything.

Every result folder casesim writes holds a ``manifest.json`` naming its ``kind`` (``run``, ``compare``,
``staffing`` or ``sweep``) beside ``casesim_version``: that is how a folder is known to be casesim's. The
commands that write a folder replace it whole, so they ask :func:`check_directory` first:

* a folder that does not exist, or an empty one, is used;
* a folder that is not a casesim result (no such manifest) is refused and left as it is, always: it may
  be anyone's, and ``--overwrite`` is not a licence to delete it;
* a result of another kind, or of the same kind made from other inputs, is refused unless ``--overwrite``;
* a result of the same kind made from the same inputs is replaced (it would be the same again).

"The same inputs" are those that decide the numbers (:data:`IDENTITY`): for a run, the SHA-256 of the
scenario as run (file, ``--set`` values and seed together), the seed and the number of parts; for a
comparison, each scenario's SHA-256, the master seed and the replications; for a staffing search, the
scenario's SHA-256, the target, the replications and the group searched. File names are not inputs: the
same scenario read from another path gives the same numbers.

Single files (the cost workbook, the schema) are replaced only when casesim made them
(:func:`check_file`), or with ``--overwrite``.

Manifests written before the ``kind`` field existed are recognised by their fields (a run's has
``scenario_sha256``, a comparison's ``master_seed``, a sweep's ``experiment_sha256``); a staffing folder
from before manifests holds nothing but the two staffing-curve files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
#: What a staffing search wrote before it had a manifest.
STAFFING_FILES = frozenset({"staffing_curve.csv", "staffing_curve.html"})
#: What each kind of result holds, for manifests that do not list their ``outputs`` (a run's always has);
#: None: not known (a run from before ``outputs``), so nothing beside the files is looked for.
KIND_FILES: dict[str, frozenset[str] | None] = {
    "run": None,
    "compare": frozenset({"compare.csv", "compare.html", MANIFEST}),
    "staffing": STAFFING_FILES | {MANIFEST},
    "sweep": frozenset({"parts", "summary.parquet", "summary.csv", "sweep.html", MANIFEST}),
}

#: Per kind: the manifest's fields that decide the numbers, each with how a message names it. A field
#: holding a list of scenarios is compared by their SHA-256 values only.
IDENTITY: dict[str, tuple[tuple[str, str], ...]] = {
    "run": (("scenario_sha256", "scenario (file and --set values)"), ("seed", "seed"), ("parts", "--parts")),
    "compare": (("scenarios", "scenarios (files and --set values)"), ("master_seed", "master seed"),
                ("replications", "--replications")),
    "linked": (("services_sha256", "services (scenario files)"), ("seed", "seed")),
    "staffing": (("scenario_sha256", "scenario (file and --set values)"), ("target", "--target"),
                 ("replications", "--replications"), ("group", "--group"), ("setting", "--setting")),
}
#: Values a field has when an older manifest leaves it out.
DEFAULTS: dict[tuple[str, str], Any] = {("run", "parts"): 1}


class OutputChanged(Exception):
    """What an output folder holds changed between the command's check and the moment its result would be put
    in place (:func:`fingerprint`); the result is given up and what is there is left as it is."""


@dataclass(frozen=True)
class Found:
    """What is at an output path: ``state`` is ``missing``, ``empty``, ``foreign`` (something that is not
    a casesim result) or ``result`` (then ``kind`` and its ``manifest``, None for a staffing folder from
    before manifests)."""

    state: str
    kind: str | None = None
    manifest: dict[str, Any] | None = None
    #: Files beside the result's own (a ``result`` whose folder also holds things casesim did not write).
    strangers: tuple[str, ...] = ()


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The ``manifest.json`` in ``directory`` if casesim wrote it (a JSON object with ``casesim_version``)."""
    try:
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("casesim_version"), str) else None


def kind_of(manifest: dict[str, Any]) -> str:
    """The kind of result a casesim manifest describes (inferred for manifests without ``kind``)."""
    kind = manifest.get("kind")
    if isinstance(kind, str):
        return kind
    for field, legacy in (("experiment_sha256", "sweep"), ("master_seed", "compare"), ("scenario_sha256", "run")):
        if field in manifest:
            return legacy
    return "unknown"


def survey(out: Path) -> Found:
    """What is at ``out`` (a directory path)."""
    if not out.is_dir():
        return Found("missing" if not out.exists() else "foreign")
    try:
        names = {p.name for p in out.iterdir()}
    except OSError:
        return Found("foreign")
    if not names:
        return Found("empty")
    manifest = read_manifest(out)
    if manifest is not None:
        kind = kind_of(manifest)
        return Found("result", kind, manifest, _strangers(names, kind, manifest))
    if names <= STAFFING_FILES:
        return Found("result", "staffing", None)
    return Found("foreign")


def _strangers(names: set[str], kind: str, manifest: dict[str, Any]) -> tuple[str, ...]:
    """The names in a ``kind`` result's folder that its manifest does not account for (temporary files of a
    writer excepted): a user's notebook or figures put beside the results, which replacing the folder would
    delete."""
    listed = manifest.get("outputs")
    own = ({str(n) for n in listed} | {MANIFEST} if isinstance(listed, list) else KIND_FILES.get(kind))
    if own is None:
        return ()
    return tuple(sorted(n for n in names if n not in own and not (n.startswith(".") and ".tmp-" in n)))


def fingerprint(out: Path) -> tuple[str, ...]:
    """What is at ``out``, in a form to compare later: its state and, for a result, its manifest's text. A
    command takes it when it checks ``out`` and compares it again just before putting its own result in place
    (:class:`casesim.outputs.results.OutputDirectory`), so a result another process wrote there meanwhile is not
    replaced unasked."""
    found = survey(out)
    if found.state != "result":
        return (found.state,)
    try:
        return ("result", (out / MANIFEST).read_text(encoding="utf-8"))
    except OSError:
        return ("result",)


def identity(kind: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``manifest`` that decide a ``kind`` result's numbers."""
    out = {}
    for field, _ in IDENTITY[kind]:
        value = manifest.get(field, DEFAULTS.get((kind, field)))
        if field == "scenarios" and isinstance(value, list):
            value = [s.get("scenario_sha256") if isinstance(s, dict) else s for s in value]
        out[field] = value
    return out


def _described(manifest: dict[str, Any]) -> str:
    """The scenario files and ``--set`` values a manifest records, as a command line would give them."""
    scenarios = manifest.get("scenarios")
    files = ([str(s.get("file")) for s in scenarios if isinstance(s, dict)] if isinstance(scenarios, list)
             else [str(manifest.get("scenario_file"))])
    sets = manifest.get("overrides") if isinstance(manifest.get("overrides"), list) else []
    return " ".join([*files, *(f"--set {s}" for s in sets)])


def differences(kind: str, old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """What differs between an existing result's manifest (``old``) and the one about to be written, in words."""
    if old is None:
        return ["its inputs were not recorded (an earlier casesim made it)"]
    before, now = identity(kind, old), identity(kind, new)
    said = []
    for field, label in IDENTITY[kind]:
        if before[field] == now[field]:
            continue
        if field in ("scenario_sha256", "scenarios"):
            there, here = _described(old), _described(new)
            if there == here and kind == "run" and before["seed"] != now["seed"]:
                continue   # a run's scenario holds its seed: the seed, said below, is the difference
            said.append(f"the {label} {'differ' if field == 'scenarios' else 'differs'}: {there} there, {here} now"
                        if there != here else f"the {label} {'differ' if field == 'scenarios' else 'differs'}")
        else:
            said.append(f"{label} {before[field]} there, {now[field]} now")
    return said


def check_directory(out: Path, kind: str, planned: dict[str, Any], overwrite: bool,
                    option: str = "--out") -> str | None:
    """Whether a ``kind`` result whose manifest will hold ``planned`` (its :data:`IDENTITY` fields at least)
    may replace what is at ``out``: None if so, else the one-line message saying why not and what to do."""
    found = survey(out)
    if found.state in ("missing", "empty"):
        return None
    if found.state == "foreign":
        return (f"{out}: {option}: exists and is not a casesim result (no {MANIFEST} written by casesim); "
                f"it was left as it is: give another {option}, a new or an empty folder")
    if found.strangers:
        shown = ", ".join(found.strangers[:5]) + (f" and {len(found.strangers) - 5} more"
                                                  if len(found.strangers) > 5 else "")
        return (f"{out}: {option}: holds a casesim {found.kind} result and files casesim did not write there "
                f"({shown}); replacing the folder would delete them, so it was left as it is: move them out, "
                f"or give another {option}")
    if found.kind != kind:
        if overwrite:
            return None
        return (f"{out}: {option}: holds a casesim {found.kind} result, not a {kind} result; give --overwrite to "
                f"replace it, or another {option} to keep it")
    said = differences(kind, found.manifest, planned)
    if not said or overwrite:
        return None
    return (f"{out}: {option}: holds a {kind} result made from other inputs ({'; '.join(said)}); give "
            f"--overwrite to replace it, or another {option} to keep both")


def check_file(path: Path, made_by_casesim: Callable[[Path], bool], what: str, overwrite: bool,
               option: str) -> str | None:
    """Whether file ``path`` may be written: None if it does not exist, casesim made it (``made_by_casesim``)
    or ``overwrite``; else the one-line message saying why not. A directory there is never replaced."""
    if path.is_dir():
        return f"{path}: {option}: is a directory; give a file name"
    if not path.exists() or overwrite or made_by_casesim(path):
        return None
    return (f"{path}: {option}: exists and is not {what} written by casesim; it was left as it is: give "
            f"--overwrite to replace it, or another {option}")


def is_casesim_schema(path: Path) -> bool:
    """Whether ``path`` is a JSON Schema written by ``casesim schema`` (its title says so)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("title") == "casesim scenario"
