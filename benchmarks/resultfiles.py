"""Writing and reading results files: machine metadata, JSON + markdown pairs, packed run records.

Every experiment writes its figures the same way: a JSON file with every number and a
markdown file with the tables, side by side (:func:`write_outputs`), both stamped with
:func:`machine` (date, platform, cores, Python, library versions, load average, thread
settings: the machine is shared, so the load belongs with every timing). Run records (one
JSON object per run, as :mod:`benchmarks.runner` writes them) are committed packed into one
gzipped JSON-lines file (:func:`pack_records`), which :func:`read_records` reads back, as it
reads a folder of run files.

Example:
    >>> import tempfile, pathlib
    >>> from benchmarks.resultfiles import machine, pack_records, read_records
    >>> "cpus" in machine() and "load_average" in machine()
    True
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "runs.jsonl.gz"
    >>> rec = {"benchmark": "b", "strategy": "s", "seed": 0, "budget": 1, "losses": [1.0]}
    >>> pack_records([rec], path)
    1
    >>> read_records(path)[0]["losses"]
    [1.0]
"""

from __future__ import annotations

import gzip
import json
import math
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterable, Sequence

__all__ = ["machine", "describe", "git_state", "write_json", "write_outputs", "read_records", "pack_records",
           "run_key", "trajectory_difference", "PACKAGES", "THREAD_VARS"]

#: Libraries whose versions every results file records (those installed).
PACKAGES = ("optuna", "hyperopt", "smac", "ConfigSpace", "scikit-learn", "numpy", "scipy", "pygam", "torch",
            "hebo", "ax-platform", "botorch")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_ROOT = Path(__file__).resolve().parents[1]


def versions(packages: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``packages`` (missing ones left out)."""
    out = {}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def machine(packages: Iterable[str] = PACKAGES) -> dict[str, Any]:
    """Where and when a measurement ran: UTC date, platform, cores, Python, versions, load, threads."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions(packages),
        "load_average": None if load is None else [round(x, 2) for x in load],
        "threads": {v: os.environ.get(v) for v in THREAD_VARS},
    }


def describe(meta: dict, packages: Sequence[str] = ("optuna", "hyperopt", "smac")) -> str:
    """One line for a markdown header: machine, cores, Python, the named versions, the load average."""
    vers = ", ".join(f"{p} {meta['versions'][p]}" for p in packages if p in meta.get("versions", {}))
    load = meta.get("load_average")
    text = f"{meta['machine']}, {meta['cpus']} cores, Python {meta['python']}"
    text += f"; {vers}" if vers else ""
    text += f"; load average {' / '.join(f'{x:.1f}' for x in load)}" if load else ""
    return text


def git_state(paths: Sequence[str] = ()) -> dict[str, Any]:
    """The git commit of the checkout and whether ``paths`` have local changes (empty if git fails)."""
    info: dict[str, Any] = {}
    try:
        git = ["git", "-C", str(_ROOT)]
        info["git_commit"] = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True,
                                            timeout=10).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--", *paths], capture_output=True, text=True,
                               timeout=10).stdout
        info["code_dirty"] = bool(dirty.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def _replace(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_json(path: str | Path, data: Any, indent: int | None = 1) -> Path:
    """Write ``data`` as JSON, atomically (a reader never sees half a file)."""
    path = Path(path)
    _replace(path, json.dumps(data, indent=indent, default=str).encode())
    return path


def write_outputs(stem: str | Path, data: Any, markdown: str) -> Path:
    """``<stem>.json`` (every number) and ``<stem>.md`` (the tables); returns the markdown path."""
    stem = Path(stem)
    write_json(stem.with_name(stem.name + ".json"), data)
    md = stem.with_name(stem.name + ".md")
    _replace(md, markdown.encode())
    return md


def run_key(record: dict) -> tuple:
    """What identifies a run: (benchmark, strategy, seed, budget)."""
    return (record["benchmark"], record["strategy"], record["seed"], record["budget"])


def read_records(path: str | Path) -> list[dict]:
    """Run records from a results folder (``seed*-budget*.json`` files) or a packed ``.jsonl.gz``."""
    path = Path(path)
    if path.name.endswith(".jsonl.gz"):
        if not path.is_file():
            raise FileNotFoundError(f"archive {str(path)!r} does not exist")
        with gzip.open(path, "rt") as fh:
            records = [json.loads(line) for line in fh if line.strip()]
    elif path.is_dir():
        records = [json.loads(p.read_text()) for p in path.rglob("seed*-budget*.json")]
    else:
        raise FileNotFoundError(f"results folder {str(path)!r} does not exist; run `hpo bench run --out {path}` first")
    return sorted(records, key=run_key)


def pack_records(records: Iterable[dict], path: str | Path) -> int:
    """Write run records as one gzipped JSON-lines file, sorted, one copy per run (the last one wins).

    The gzip header carries no name or time, so the same records give the same bytes. Keys
    starting with ``_`` (caches) are left out. Returns the number of records written.
    """
    unique = {run_key(r): {k: v for k, v in r.items() if not k.startswith("_")} for r in records}
    lines = b"".join((json.dumps(unique[k], sort_keys=True, default=str) + "\n").encode() for k in sorted(unique))
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as fh:
        fh.write(lines)
    os.replace(tmp, path)
    return len(unique)


def _same(a: Any, b: Any, rtol: float) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], rtol) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=rtol, abs_tol=rtol)
    return a == b


def trajectory_difference(again: dict, committed: dict, rtol: float = 1e-9) -> str | None:
    """Where a rerun's configurations or losses first leave a committed run's, or ``None``.

    Numbers are compared to ``rtol`` (relative and absolute): a rerun on other hardware or
    BLAS build can differ in the last bits, which is reproduction; a different proposal is not.
    """
    for field in ("configs", "losses"):
        a, b = again.get(field, []), committed.get(field, [])
        for i, (x, y) in enumerate(zip(a, b)):
            if not _same(x, y, rtol):
                return f"{field}[{i}]: {x!r} != committed {y!r}"
        if len(a) != len(b):
            return f"{field}: {len(a)} entries != committed {len(b)}"
    return None
