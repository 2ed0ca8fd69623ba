"""Helpers shared by the online-method benchmarks (``online_stn``, ``online_hypergrad``).

Data splits, seeded minibatches, a process pool whose workers run torch on one thread, CPU time,
the machine description every results file records, and the ``--seeds`` parser.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

__all__ = ["RESULTS", "digits", "Batches", "init_worker", "cpu", "run_jobs", "machine", "seed_list"]

RESULTS = Path(__file__).resolve().parent / "results"


def digits():
    """Digits split 60/20/20 (stratified, fixed), standardised on the training part."""
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    Xtr, Xrest, ytr, yrest = train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)
    Xva, Xte, yva, yte = train_test_split(Xrest, yrest, test_size=0.5, random_state=0, stratify=yrest)
    scaler = StandardScaler().fit(Xtr)
    t = lambda a: torch.tensor(scaler.transform(a), dtype=torch.float32)  # noqa: E731
    return {"train": (t(Xtr), torch.tensor(ytr)), "val": (t(Xva), torch.tensor(yva)),
            "test": (t(Xte), torch.tensor(yte))}


class Batches:
    """Re-iterable minibatches, reshuffled on every pass by a seeded generator."""

    def __init__(self, X, y, batch: int, seed: int):
        import torch
        self.X, self.y, self.batch = X, y, batch
        self.gen = torch.Generator().manual_seed(seed)

    def __iter__(self):
        import torch
        idx = torch.randperm(len(self.X), generator=self.gen)
        for i in range(0, len(idx), self.batch):
            b = idx[i:i + self.batch]
            yield self.X[b], self.y[b]

    def __len__(self):
        return math.ceil(len(self.X) / self.batch)


def init_worker():
    import torch
    torch.set_num_threads(1)


def cpu() -> float:
    return time.process_time()


def run_jobs(jobs, n_jobs: int, on_result=None) -> list:
    """Run ``(fn, *args)`` jobs on ``n_jobs`` processes; results in job order.

    ``on_result(i, result)`` is called as each job finishes (in completion order), so a caller can
    write results incrementally.
    """
    from concurrent.futures import as_completed

    with ProcessPoolExecutor(max_workers=n_jobs, initializer=init_worker) as pool:
        futures = {pool.submit(fn, *args): i for i, (fn, *args) in enumerate(jobs)}
        out = [None] * len(futures)
        for f in as_completed(futures):
            out[futures[f]] = f.result()
            if on_result is not None:
                on_result(futures[f], out[futures[f]])
        return out


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus (shared)"


def seed_list(text: str) -> list[int]:
    """``"5"`` -> 0..4, ``"0-9"`` -> 0..9, ``"1,5,7"`` -> [1, 5, 7]."""
    try:
        if "," in text:
            return [int(t) for t in text.split(",")]
        if "-" in text:
            lo, hi = (int(t) for t in text.split("-"))
            if hi >= lo:
                return list(range(lo, hi + 1))
        elif int(text) > 0:
            return list(range(int(text)))
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"--seeds takes N, A-B or a comma list, got {text!r}")
