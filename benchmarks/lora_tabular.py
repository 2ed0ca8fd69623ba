"""``lora-minilm-tabular``: real LoRA fine-tuning results of MiniLM, looked up at no cost.

The table ``benchmarks/data/lora_minilm_tabular.jsonl`` holds one line per configuration of
:meth:`hpo.finetune.LoRAObjective.default_space` (without ``epochs``, which is the fidelity): the
peft defaults first, then configurations drawn by ConfigSpace with seed 0. Each was fine-tuned for
real (``LoRAObjective`` on ``newsgroups4``, all-MiniLM-L6-v2 on the CPU, one thread; the settings
are in ``lora_minilm_tabular.meta.json`` beside it) for 3 epochs with a linear schedule over the 3
epochs, and the validation error after every epoch is kept, so the table is multi-fidelity
(``epoch`` 1..3, as in LCBench: epoch k is epoch k of the 3-epoch run, not a k-epoch run). The
test error is measured once, after the last epoch.

A configuration off the table is answered by its **nearest neighbour**: distance over the space's
unit-cube encoding (numeric and log-scaled parameters as ConfigSpace scales them to [0, 1]; each
differing categorical counts 1), ties to the lowest row id. ``info`` names the row used
(``row``), its ``distance`` (0 for a configuration on the table) and the row's configuration.
The cost is the row's measured CPU seconds up to that epoch.

Build or extend the table (resumable, appends a line per finished run)::

    nice -n 15 python -m benchmarks.lora_tabular build --n 200 --workers 2

Example:
    >>> from benchmarks.lora_tabular import LoRATabular
    >>> b = LoRATabular()
    >>> row = b.rows[0]
    >>> r = b.objective_function(row["config"], fidelity={"epoch": 3})
    >>> r["info"]["distance"], r["function_value"] == row["curve"][-1]["error"]
    (0.0, True)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from ConfigSpace import ConfigurationSpace, UniformIntegerHyperparameter

from benchmarks.base import AbstractBenchmark

__all__ = ["LoRATabular", "TABLE_PATH", "META_PATH", "SETTINGS", "table_space", "load_rows", "build"]

TABLE_PATH = Path(__file__).parent / "data" / "lora_minilm_tabular.jsonl"
META_PATH = Path(__file__).parent / "data" / "lora_minilm_tabular.meta.json"
# How every row is trained (LoRAObjective keyword arguments).
SETTINGS = {"model": "all-minilm-l6-v2", "data": "newsgroups4", "epochs": 3, "train_size": 256,
            "max_length": 32, "device": "cpu", "threads": 1, "seed": 0, "metric": "error",
            "optimizer": "adamw", "restore_best": False, "artifact_dir": None}
SAMPLE_SEED = 0


def table_space():
    """The table's search space (an ``hpo.Space``): the objective's default space without epochs."""
    import hpo
    from hpo.finetune.lora import LoRAObjective

    return hpo.Space(LoRAObjective.default_space(epochs=False))


def _configs(n: int) -> list[dict]:
    from hpo.finetune.lora import LoRAObjective

    space = table_space()
    default = {k: v for k, v in LoRAObjective.DEFAULTS.items() if k in space}
    return [space.validate(default)] + space.sample(max(0, n - 1), seed=SAMPLE_SEED)


@lru_cache(maxsize=4)
def load_rows(path: str = str(TABLE_PATH)) -> tuple[dict, ...]:
    """The table's rows, ordered by id (a missing or empty table raises with the build command)."""
    p = Path(path)
    rows = [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []
    if not rows:
        raise FileNotFoundError(f"LoRA table {p} is missing or empty; build it with "
                                "`nice -n 15 python -m benchmarks.lora_tabular build --n 200 --workers 2`")
    return tuple(sorted(rows, key=lambda r: r["id"]))


class LoRATabular(AbstractBenchmark):
    """LoRA on all-MiniLM-L6-v2 / newsgroups4 from the committed table (nearest-neighbour lookup)."""

    name = "lora-minilm-tabular"
    family = "tabular"

    def __init__(self, rng: int | None = None, path: str | Path = TABLE_PATH):
        super().__init__(rng)
        self.rows = load_rows(str(path))
        self._space = table_space()
        self._cat = np.array([self._space.is_categorical(n) for n in self._space.names])
        self._vectors = np.array([self._space.to_vector(r["config"]) for r in self.rows])
        self.max_epoch = max(len(r["curve"]) for r in self.rows)
        self.optimum = float(min(r["curve"][-1]["error"] for r in self.rows))

    def get_configuration_space(self, seed: int | None = None) -> ConfigurationSpace:
        cs = table_space().cs
        if seed is not None:
            cs.seed(seed)
        return cs

    def get_fidelity_space(self, seed: int | None = None) -> ConfigurationSpace:
        cs = ConfigurationSpace(seed=seed)
        cs.add(UniformIntegerHyperparameter("epoch", 1, self.max_epoch, default_value=self.max_epoch))
        return cs

    def nearest(self, config: dict) -> tuple[int, float]:
        """(row index, distance) of the table row nearest to ``config``."""
        v = self._space.to_vector(config)
        diff = np.abs(self._vectors - v)
        diff[:, self._cat] = (diff[:, self._cat] > 0).astype(float)
        dist = np.sqrt((diff ** 2).sum(axis=1))
        i = int(np.argmin(dist))
        return i, float(dist[i])

    def _evaluate(self, config, fidelity, rng):
        i, dist = self.nearest(config)
        row = self.rows[i]
        point = row["curve"][int(fidelity["epoch"]) - 1]
        info = {"row": row["id"], "distance": round(dist, 9), "table_config": row["config"],
                "val_loss": point["loss"]}
        return point["error"], point["cpu_s"], info

    def objective_function_test(self, configuration, fidelity=None, rng=None, **kwargs):
        """The test error after the last epoch of the nearest row (only the full run has one)."""
        res = self.objective_function(configuration, fidelity=None, rng=rng)
        row = next(r for r in self.rows if r["id"] == res["info"]["row"])
        return {**res, "function_value": float(row["test_error"])}

    def get_meta_information(self) -> dict:
        return {**super().get_meta_information(), "rows": len(self.rows), "settings": SETTINGS,
                "off_table": "nearest neighbour in the unit-cube encoding (categorical mismatch = 1)",
                "optimum": "the best validation error on the table at the last epoch",
                "best_table_error": self.optimum}


# --- building the table ---------------------------------------------------------------------------
_OBJECTIVE = None


def _worker_init() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    global _OBJECTIVE
    from hpo.finetune.lora import LoRAObjective

    _OBJECTIVE = LoRAObjective(**SETTINGS)


def _train(task: tuple[int, dict]) -> dict:
    i, config = task
    assert _OBJECTIVE is not None
    wall, cpu = time.perf_counter(), time.process_time()
    row: dict[str, Any] = {"id": i, "config": config}
    try:
        res = _OBJECTIVE.run(config)
        row["curve"] = [{"epoch": k + 1, "error": round(1 - h["accuracy"], 6), "accuracy": round(h["accuracy"], 6),
                         "loss": round(h["loss"], 6), "train_loss": round(h["train_loss"], 6),
                         "cpu_s": round(h["cpu_s"], 3)} for k, h in enumerate(res["history"])]
        row["test_error"] = round(1 - res["test"]["accuracy"], 6)
        row["trainable_params"] = res["trainable_params"]
    except FloatingPointError as e:  # a diverged run keeps its evaluations; the rest count as chance or worse
        row["diverged"] = str(e)
        row["curve"] = [{"epoch": k + 1, "error": 1.0, "accuracy": 0.0, "loss": float("nan"), "train_loss": float("nan"),
                         "cpu_s": round(time.process_time() - cpu, 3)} for k in range(SETTINGS["epochs"])]
        row["test_error"] = 1.0
    row["cpu_s"] = round(time.process_time() - cpu, 3)
    row["wall_s"] = round(time.perf_counter() - wall, 3)
    row["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    return row


def build(n: int, out: Path = TABLE_PATH, workers: int = 2, limit: int | None = None) -> None:
    """Train the first ``n`` configurations that are not yet in ``out`` (append one line per run)."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import hpo

    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"settings": SETTINGS, "sample_seed": SAMPLE_SEED, "space": table_space().to_dict(),
            "hpo": hpo.__version__, "command": f"python -m benchmarks.lora_tabular build --n {n} --workers {workers}"}
    if META_PATH.exists() and json.loads(META_PATH.read_text())["settings"] != SETTINGS:
        raise SystemExit(f"{META_PATH} was built with other settings; move the table away to rebuild it")
    META_PATH.write_text(json.dumps(meta, indent=1, default=str) + "\n")
    done = {json.loads(line)["id"] for line in out.read_text().splitlines() if line.strip()} if out.exists() else set()
    todo = [(i, c) for i, c in enumerate(_configs(n)) if i not in done][:limit]
    print(f"{len(done)} rows present, {len(todo)} to train with {workers} workers", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=_worker_init) as pool, out.open("a") as f:
        futures = [pool.submit(_train, t) for t in todo]
        for k, fut in enumerate(as_completed(futures), 1):
            row = fut.result()
            f.write(json.dumps(row) + "\n")
            f.flush()
            print(f"{k}/{len(todo)} row {row['id']}: error {row['curve'][-1]['error']:.3f} cpu {row['cpu_s']:.0f}s "
                  f"({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Build the lora-minilm-tabular table (resumable).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--n", type=int, default=200, help="configurations in the table (the first is peft's defaults)")
    b.add_argument("--workers", type=int, default=2)
    b.add_argument("--limit", type=int, default=None, help="train at most this many now")
    b.add_argument("--out", type=Path, default=TABLE_PATH)
    a = ap.parse_args(argv)
    build(a.n, a.out, a.workers, a.limit)


if __name__ == "__main__":
    main()
