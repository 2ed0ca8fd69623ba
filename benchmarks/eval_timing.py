"""Time one evaluation of every built-in benchmark, per problem and per family.

What a benchmark run costs is evaluations plus strategy overhead; this script measures the first
part. For each problem it samples ``--configs`` configurations from the problem's own space
(seeded) and, after one untimed evaluation that loads the data, evaluates each at the maximum fidelity, and multi-fidelity problems also at the
lowest one. It reports the CPU time of this process (the machine is shared, so elapsed time
would measure the load) and elapsed time beside it. Evaluations run on one thread, as the
runner's workers do.

Run: ``OMP_NUM_THREADS=1 nice -n 10 hpo bench eval-timing`` (writes
``benchmarks/results/eval_timing.json`` and ``.md``); ``--benchmarks ml,synthetic`` for a part,
``--report-only`` to rewrite the markdown from the JSON.

Example:
    >>> rows = time_benchmark("branin", n_configs=2)
    >>> [r["fidelity"] for r in rows]
    ['max']
    >>> rows[0]["n"], rows[0]["cpu_ms_median"] > 0
    (2, True)
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from benchmarks.registry import available, expand, make_benchmark
from benchmarks.resultfiles import describe, machine, write_outputs

__all__ = ["time_benchmark", "family_table", "measure", "write", "rewrite", "OUT"]

OUT = Path(__file__).resolve().parent / "results" / "eval_timing"


def _lowest(space) -> dict:
    return {hp.name: hp.lower for hp in space.values()}


def _time(bench, configs, fidelity) -> tuple[list[float], list[float]]:
    cpu, wall = [], []
    for config in configs:
        c0, t0 = time.process_time(), time.perf_counter()
        bench.objective_function(config, fidelity=fidelity, rng=0)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    return cpu, wall


def time_benchmark(name: str, n_configs: int = 5, seed: int = 0) -> list[dict]:
    """One row per fidelity measured (``max``; ``min`` too where the problem has a fidelity space)."""
    bench = make_benchmark(name)
    cs = bench.get_configuration_space(seed=seed)
    configs = [dict(c) for c in cs.sample_configuration(n_configs)] if n_configs > 1 else [dict(cs.sample_configuration())]
    fid_space = bench.get_fidelity_space(seed=seed)
    family = bench.get_meta_information().get("family", "unknown")
    bench.objective_function(configs[0], rng=0)  # untimed: loads the data and warms the caches once
    rows = []
    for label, fidelity in [("max", None)] + ([("min", _lowest(fid_space))] if len(fid_space) else []):
        cpu, wall = _time(bench, configs, fidelity)
        rows.append({
            "benchmark": name,
            "family": family,
            "fidelity": label,
            "n": len(cpu),
            "cpu_ms_median": 1e3 * float(np.median(cpu)),
            "cpu_ms_mean": 1e3 * float(np.mean(cpu)),
            "cpu_ms_max": 1e3 * float(np.max(cpu)),
            "wall_ms_median": 1e3 * float(np.median(wall)),
        })
    return rows


def family_table(rows: list[dict]) -> list[dict]:
    """Per (family, fidelity): problems, the median over problems of their median CPU time, the mean and the slowest."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["family"], r["fidelity"])].append(r)
    out = []
    for (family, fid), rs in sorted(groups.items()):
        slowest = max(rs, key=lambda r: r["cpu_ms_mean"])
        out.append({
            "family": family,
            "fidelity": fid,
            "problems": len(rs),
            "cpu_ms_median": float(np.median([r["cpu_ms_median"] for r in rs])),
            "cpu_ms_mean": float(np.mean([r["cpu_ms_mean"] for r in rs])),
            "slowest": f"{slowest['benchmark']} ({slowest['cpu_ms_mean']:.0f})",
        })
    return out


def _markdown(families: list[dict], rows: list[dict], command: str, n_configs: int, meta: dict) -> str:
    lines = [
        "# Time per evaluation, per family",
        "",
        f"Command: `{command}`; {n_configs} configurations sampled per problem (seed 0), each evaluated once (after one untimed warm-up evaluation) at the "
        "maximum fidelity and, for multi-fidelity problems, once at the lowest; CPU time of one process on one thread. "
        f"Machine: {describe(meta, ())}; measured {meta['date']}.",
        "",
        "| family | fidelity | problems | median ms / evaluation | mean ms / evaluation | slowest problem (mean ms) |",
        "|---|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {f['family']} | {f['fidelity']} | {f['problems']} | {f['cpu_ms_median']:.1f} | {f['cpu_ms_mean']:.1f} | {f['slowest']} |"
        for f in families
    ]
    full = [r for r in rows if r["fidelity"] == "max"]
    per_strategy_h = sum(r["cpu_ms_mean"] for r in full) * 500 / 3.6e6
    lines += ["", f"Evaluating each of these {len(full)} problems 500 times (10 seeds x budget 50) costs "
              f"{per_strategy_h:.1f} h of CPU per strategy, before any strategy overhead."]
    lines += ["", "## Per problem", "", "| benchmark | family | fidelity | median CPU ms | mean CPU ms | max CPU ms | median wall ms |",
              "|---|---|---|---:|---:|---:|---:|"]
    lines += [
        f"| {r['benchmark']} | {r['family']} | {r['fidelity']} | {r['cpu_ms_median']:.1f} | {r['cpu_ms_mean']:.1f} "
        f"| {r['cpu_ms_max']:.1f} | {r['wall_ms_median']:.1f} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def measure(names: Sequence[str] | str = "all", n_configs: int = 5,
            progress: Callable[[str], None] | None = None) -> list[dict]:
    """Rows of :func:`time_benchmark` for ``names`` (names or suites; ``"all"``: every built-in)."""
    if n_configs < 1:
        raise ValueError(f"--configs must be >= 1 (got {n_configs})")
    names = available() if names == "all" else expand(list(names))
    rows: list[dict] = []
    for i, name in enumerate(names, 1):
        rows += time_benchmark(name, n_configs)
        if progress:
            done = ", ".join(f"{r['fidelity']} {r['cpu_ms_median']:.1f} ms" for r in rows if r["benchmark"] == name)
            progress(f"[{i}/{len(names)}] {name}: {done}")
    return rows


def write(rows: list[dict], out: str | Path, command: str, n_configs: int, meta: dict | None = None) -> Path:
    """``<out>.json`` (every row, the machine) and ``<out>.md``; returns the markdown path."""
    meta = meta or machine()
    families = family_table(rows)
    data = {"command": command, "date": meta["date"], "configs": n_configs, "machine": meta, "families": families,
            "problems": rows}
    return write_outputs(Path(out), data, _markdown(families, rows, command, n_configs, meta))


def rewrite(out: str | Path) -> Path:
    """The markdown again from ``<out>.json`` (as measured, with its command and machine)."""
    path = Path(f"{out}.json")
    if not path.is_file():
        raise FileNotFoundError(f"--report-only needs {path}; run without --report-only first")
    saved = json.loads(path.read_text())
    return write(saved["problems"], out, saved["command"], saved["configs"], saved["machine"])


if __name__ == "__main__":  # the former entry point, kept for the committed results' command: `hpo bench eval-timing`
    import sys

    from benchmarks.cli import app

    app(["eval-timing", *sys.argv[1:]])
