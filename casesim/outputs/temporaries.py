"""Names of temporary folders that say which process made them, and the removal of dead processes' ones.

A process killed outright (SIGKILL, a power cut) cannot remove its temporary folders: a result's
``results/.NAME.tmp-HOST-PID`` or a split run's ``casesim-parts-HOST-PID-XXXXXXXX``. Each such name holds
the host name and the process id of its maker, so that the next process making one beside it can tell
which of its siblings are leftovers: those of this host whose process is gone. A folder of another host
(results on a shared file system) or of a process still alive is never touched, nor is one whose name
does not say (made by an older casesim).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path


def host_tag() -> str:
    """This machine's host name, reduced to letters, digits, ``.`` and ``_`` (``-`` separates the fields of
    a temporary name and is replaced too), so that it fits in a file name and parses back."""
    return re.sub(r"[^A-Za-z0-9._]", "_", socket.gethostname()) or "host"


def owner_tag() -> str:
    """``HOST-PID`` of this process, as it appears in the temporary names it makes."""
    return f"{host_tag()}-{os.getpid()}"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host. Only a definite "no such process" counts as dead: a
    process of another user (no permission to signal it) is alive."""
    if pid <= 0:
        return True   # 0 and negative ids name process groups, not a process: never taken for dead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def owner_of(name: str, prefix: str) -> tuple[str, int] | None:
    """``(host, pid)`` from a temporary name ``PREFIX HOST-PID[-suffix]``; None when it does not have that form."""
    if not name.startswith(prefix):
        return None
    m = re.fullmatch(r"([A-Za-z0-9._]+)-([0-9]+)(?:-[A-Za-z0-9_]+)?", name[len(prefix):])
    return (m.group(1), int(m.group(2))) if m else None


def dead_siblings(parent: Path, prefix: str) -> Iterator[Path]:
    """Entries of ``parent`` named ``PREFIX HOST-PID...`` that provably belong to a dead process: this host's
    name and a process id that no longer exists (and is not this process's)."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    host = host_tag()
    for path in entries:
        owner = owner_of(path.name, prefix)
        if owner is not None and owner[0] == host and owner[1] != os.getpid() and not pid_alive(owner[1]):
            yield path


def remove_dead_siblings(parent: Path, prefix: str) -> list[Path]:
    """Remove what :func:`dead_siblings` finds (folders or files; errors ignored); returns what it removed."""
    removed = []
    for path in dead_siblings(parent, prefix):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                path.unlink()
            except OSError:
                continue
        removed.append(path)
    return removed


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a unique temporary name beside ``path``, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
