"""Fit and predict timings of the surrogates at 50 / 200 / 500 rows, 6 features.

Run: ``nice -n 10 hpo bench surrogate-timing`` (writes
``benchmarks/results/surrogate_timing.md`` and ``.json``). Each figure is the median CPU time
(``time.process_time``: this process only, so other jobs on shared cores do not
inflate it; BLAS runs single-threaded inside the surrogates) of ``--repeats`` runs; the target is a smooth 6-d function on [0, 1]^6 with a little
noise, and held-out R^2 on 1000 points is reported so the timings belong to
models that actually fit. "predict x1" is the mean time of one call on a single
point (what Nelder-Mead or a local acquisition search does); "predict x1000" is
one call on 1000 points. "homotopy step" is what HomOpt does per homotopy trial:
fit a GAM on the newest half of the rows and one on all rows, then 1000
single-point predictions.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from benchmarks.resultfiles import describe, machine, write_outputs
from surrogates import ForestSurrogate, GAMSurrogate, GPSurrogate

__all__ = ["ROWS", "DIM", "OUT", "run", "write"]

ROWS = (50, 200, 500)
DIM = 6
OUT = Path(__file__).resolve().parent / "results" / "surrogate_timing"


def _target(X: np.ndarray) -> np.ndarray:
    return np.sin(3 * X[:, 0]) + (X[:, 1] - 0.4) ** 2 + 0.5 * X[:, 2] * X[:, 3] + np.cos(2 * X[:, 4]) + 0.1 * X[:, 5]


def _data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.random((n, DIM))
    return X, _target(X) + 0.01 * rng.standard_normal(n)


def _clock(fn, repeats: int) -> tuple[float, object]:
    """Median CPU time of this process (robust to other jobs on shared cores) and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t = time.process_time()
        out = fn()
        times.append(time.process_time() - t)
    return statistics.median(times), out


def _warm_refit(X: np.ndarray, y: np.ndarray) -> float:
    """CPU seconds to re-optimise the kernel from the last optimum after 5 new rows."""
    gp = GPSurrogate(n_restarts=0, seed=0, warm_start=True).fit(X[:-5], y[:-5])
    t = time.process_time()
    gp.fit(X, y)
    return time.process_time() - t


def _models():
    return {
        "GP (3 starts)": lambda: GPSurrogate(n_restarts=2, seed=0),
        "GP (1 start)": lambda: GPSurrogate(n_restarts=0, seed=0),
        "GP (3 starts, kernel fit on <= 100 rows)": lambda: GPSurrogate(n_restarts=2, seed=0, max_fit_rows=100),
        "RF (100 trees)": lambda: ForestSurrogate(n_estimators=100, kind="rf", seed=0),
        "ExtraTrees (100 trees)": lambda: ForestSurrogate(n_estimators=100, kind="extra", seed=0),
        "GAM (adaptive splines)": lambda: GAMSurrogate(),
    }


def run(repeats: int = 3, progress=print) -> list[dict]:
    """Every model at every row count: fit, refit, predict timings and held-out R^2 (see the module doc)."""
    rows = []
    Xt, yt = _data(1000, seed=99)
    single = Xt[:200]
    for n in ROWS:
        X, y = _data(n, seed=n)
        for name, make in _models().items():
            fit_s, model = _clock(lambda: make().fit(X, y), repeats)
            row = {"model": name, "rows": n, "fit_ms": 1e3 * fit_s}
            if name.startswith("GP (3"):
                row["refit_ms"] = 1e3 * _clock(lambda: model.fit(X, y, optimize=False), repeats)[0]
                if name == "GP (3 starts)":
                    row["warm_ms"] = 1e3 * statistics.median(_warm_refit(X, y) for _ in range(repeats))
            pred_s, (mean, _) = _clock(lambda: model.predict(Xt), repeats)
            row["predict_1000_ms"] = 1e3 * pred_s
            one_s, _ = _clock(lambda: [model.predict(single[i:i + 1]) for i in range(len(single))], repeats)
            row["predict_1_us"] = 1e6 * one_s / len(single)
            row["r2"] = 1 - np.mean((mean - yt) ** 2) / np.var(yt)
            if name.startswith("GAM"):
                row["n_splines"] = sorted(set(model.n_splines_.values()))

                def step():
                    g1 = GAMSurrogate().fit(X[n // 2:], y[n // 2:])
                    g2 = GAMSurrogate().fit(X, y)
                    for i in range(1000):
                        x = Xt[i:i + 1]
                        g1.predict(x)
                        g2.predict(x)

                row["homotopy_ms"] = 1e3 * _clock(step, repeats)[0]
            rows.append(row)
            if progress:
                progress({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()})
    return rows


def write(rows: list[dict], out: str | Path, repeats: int, wall: float) -> Path:
    """``<out>.md`` (the table) and ``<out>.json`` (the rows, the machine); returns the markdown path."""
    meta = machine()
    lines = [
        "# Surrogate fit / predict timings",
        "",
        f"Command: `nice -n 10 hpo bench surrogate-timing --repeats {repeats}` "
        f"(median CPU time of this process over {repeats} runs, `time.process_time`; {DIM} numeric features; targets: a smooth function plus N(0, 0.01^2) noise).",
        "",
        f"Machine: {describe(meta, ('scikit-learn', 'pygam', 'numpy'))}, measured {meta['date']} (the load average is "
        f"at the end; the cores are shared with other jobs, so wall-clock times were higher than these CPU times). "
        f"Total wall time {wall:.0f} s.",
        "",
        "| model | rows | fit (ms) | refit, kernel kept (ms) | warm re-optimisation (ms) | predict x1000 (ms) "
        "| predict x1 (µs/call) | held-out R² | homotopy step (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        refit = f"{r['refit_ms']:.1f}" if "refit_ms" in r else ""
        warm = f"{r['warm_ms']:.0f}" if "warm_ms" in r else ""
        homo = f"{r['homotopy_ms']:.0f}" if "homotopy_ms" in r else ""
        model = r["model"] + (f", {r['n_splines'][0]} splines" if "n_splines" in r else "")
        lines.append(
            f"| {model} | {r['rows']} | {r['fit_ms']:.1f} | {refit} | {warm} | {r['predict_1000_ms']:.1f} | "
            f"{r['predict_1_us']:.0f} | {r['r2']:.3f} | {homo} |"
        )
    lines += [
        "",
        "Columns: *refit, kernel kept* is `GPSurrogate.fit(X, y, optimize=False)` (no hyperparameter "
        "search, one Cholesky factorisation). *warm re-optimisation* is `GPSurrogate(n_restarts=0, "
        "warm_start=True)` re-fitting its kernel after 5 new rows, starting from the previous optimum. "
        "*homotopy step* is two GAM fits (newest half of the rows, "
        "all rows) and 1000 single-point predictions of each, as HomOpt's Nelder-Mead path would make.",
        "",
    ]
    data = {"repeats": repeats, "wall_s": wall, "machine": meta,
            "rows": [{k: (float(v) if isinstance(v, np.floating) else v) for k, v in r.items()} for r in rows]}
    return write_outputs(Path(out), data, "\n".join(lines))


if __name__ == "__main__":  # the former entry point, kept for the committed results' command: `hpo bench surrogate-timing`
    import sys

    from benchmarks.cli import app

    app(["surrogate-timing", *sys.argv[1:]])
