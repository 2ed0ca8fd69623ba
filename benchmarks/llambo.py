"""LLAMBO with real local LLMs against random search, TPE and GP-BO on cheap ML problems.

Every arm runs in the same invocation, on the same problems, seeds and benchmark splits:
``random``, ``tpe``, ``gp`` (hpo's strategies) and ``llambo[<model>]`` for each model, each
model served by ``llama_cpp.server`` on 127.0.0.1 (:class:`hpo.llm.serve.LocalServer`).
One run of budget 25 gives the best-so-far at 5, 10 and 25 evaluations. Each finished run is
appended to ``<out>_runs.jsonl`` (a rerun skips the runs already there), and ``report``
writes ``<out>.md`` / ``<out>.json``: Bayesmark-normalised scores (0 = the median first
random evaluation, 100 = the best loss seen on the problem), the share of LLM proposals that
parse and validate, calls and tokens per trial, seconds per iteration (the strategy's ask,
wall and the server's CPU), and where the proposals came from.

LLAMBO settings (cut from the paper's 20 candidates x 10 samples over 2 templates to fit a
shared 2-core machine): 5 warm-start configurations from one call, then per iteration 3
candidate calls + 3 x 2 surrogate calls = 9 calls, all on one template (observations in trial
order, so llama.cpp's prompt cache reuses each prompt's prefix); temperature 0.8; at most 25
observations per prompt; replies constrained to the space's JSON schema by llama.cpp's grammar
(``response_format="llama_cpp_schema"``); base strategy ``tpe`` for fallbacks. The servers
run one thread each (``n_threads=1``). No setting was tuned on these problems.

Usage::

    nice -n 19 python -m benchmarks.llambo run          # both local models, 3 problems x 5 seeds
    python -m benchmarks.llambo report
    # or in parts, all appending to the same runs file (a smaller scope: fewer problems, a shorter budget):
    nice -n 19 python -m benchmarks.llambo run --models ""            # random, tpe, gp
    nice -n 19 python -m benchmarks.llambo run --models smollm2-135m --problems ml-svm-breast_cancer
    nice -n 19 python -m benchmarks.llambo run --models gemma3-270m --no-peers --budget 10

A run whose server died or could not be reached is recorded with ``status: endpoint_failed``,
left out of the report and run again by the next invocation. ``report`` compares the arms on
the problems every arm has runs on (``--report-problems`` to choose).
    # the same against any OpenAI-compatible endpoint (a stronger model):
    # (replies constrained by OpenAI-style structured outputs, --response-format json_schema):
    HPO_LLM_BASE_URL=https://api.openai.com/v1 HPO_LLM_MODEL=gpt-4o-mini OPENAI_API_KEY=... \\
        python -m benchmarks.llambo run --models env --out benchmarks/results/llambo_gpt4omini
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

import hpo
from benchmarks.registry import make_benchmark
from benchmarks.scoring import best_so_far, normalise

PROBLEMS = ("ml-svm-breast_cancer", "ml-knn-digits", "ml-dt-diabetes")
MODELS = ("smollm2-135m", "gemma3-270m")
PEERS = ("random", "tpe", "gp")
BUDGETS = (5, 10, 25)
SETTINGS = {"n_initial": 5, "n_candidates": 3, "n_templates": 1, "n_samples": 2, "temperature": 0.8,
            "max_examples": 25, "surrogate": "llm", "candidates": "llm", "warm_start": True,
            "response_format": "llama_cpp_schema"}
DEFAULT_OUT = "benchmarks/results/llambo"


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


_ENDPOINT_FAILURES = ("unreachable",)  # the server died or never answered; a timeout is a measured fallback


def _rss_gb(pid: int) -> float:
    try:
        line = next(l for l in Path(f"/proc/{pid}/status").read_text().splitlines() if l.startswith("VmRSS:"))
        return int(line.split()[1]) / 2**20
    except (OSError, StopIteration, ValueError):
        return 0.0


def _load_done(path: Path, budget: int) -> set:
    """Runs already recorded with at least ``budget`` trials (a run whose endpoint failed is run again)."""
    done = set()
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if r.get("status", "ok") == "ok" and len(r["losses"]) >= budget:
                    done.add((r["arm"], r["problem"], r["seed"]))
    return done


def _seeds(text: str) -> list[int]:
    """``"5"`` is seeds 0-4; ``"3,4"`` is seeds 3 and 4."""
    return [int(x) for x in text.split(",")] if "," in text else list(range(int(text)))


def _append(path: Path, record: dict) -> None:
    """One JSON line, in one write() on an O_APPEND file: workers sharing the file never interleave."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    finally:
        os.close(fd)


def run_one(arm: str, problem: str, seed: int, budget: int, strategy: Any, server_pid: int | None) -> dict:
    """One study of ``budget`` trials; the record the report reads."""
    bench = make_benchmark(problem, rng=seed)
    cs = bench.get_configuration_space(seed)
    study = hpo.create_study(space=cs, strategy=strategy, seed=seed)
    if not isinstance(strategy, str):
        from hpo.strategies.llambo import context_from_benchmark

        ctx = context_from_benchmark(bench)
        study.optuna_study.set_user_attr("llambo:description", ctx["description"])
        study.optuna_study.set_user_attr("llambo:data_card", ctx["data_card"])
        study.optuna_study.set_user_attr("llambo:metric", ctx["metric"])
    load0, t0, cpu0 = os.getloadavg(), time.perf_counter(), time.process_time()
    server0 = _cpu_of(server_pid) if server_pid else 0.0
    study.optimize(lambda t: bench.objective_function(t.params)["function_value"], n_trials=budget)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    server_cpu = (_cpu_of(server_pid) - server0) if server_pid else 0.0
    trials = sorted(study.trials, key=lambda t: t.number)
    record = {
        "arm": arm, "problem": problem, "seed": seed, "budget": budget,
        "losses": [t.value for t in trials], "params": [t.params for t in trials],
        "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "server_cpu_s": round(server_cpu, 3),
        "loadavg": [round(load0[0], 2), round(os.getloadavg()[0], 2)],
    }
    if not isinstance(strategy, str):
        from hpo.strategies.llambo import study_stats

        record["llambo"] = study_stats(study)
        record["per_trial"] = [t.user_attrs.get("llambo") for t in trials]
    return record


def _llambo(client, response_format: str | None) -> Any:
    from hpo.strategies.llambo import LLAMBOStrategy

    return LLAMBOStrategy(base="tpe", client=client, **{**SETTINGS, "response_format": response_format})


def run(args: argparse.Namespace) -> None:
    import logging
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("hpo.llambo").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="The balance properties of Sobol")
    out = Path(args.out)
    runs_path = out.with_name(out.name + "_runs.jsonl")
    runs_path.parent.mkdir(parents=True, exist_ok=True)
    done = _load_done(runs_path, args.budget)
    problems, seeds = args.problems.split(","), _seeds(args.seeds)
    models = [m for m in args.models.split(",") if m]
    servers, arms = {}, {}
    from hpo.strategies.llambo import LLMClient

    try:
        for model in models:
            if model == "env":
                client = LLMClient(timeout=args.timeout, max_retries=1, max_concurrency=2, cache=args.cache or True)
                fmt = None if args.response_format == "none" else (args.response_format or "json_schema")
                arms[f"llambo[{client.model or os.environ.get('HPO_LLM_MODEL', 'env')}]"] = (client, None, fmt)
                continue
            from hpo.llm.serve import LocalServer

            # one thread: on a shared, oversubscribed machine a second llama.cpp thread mostly spin-waits
            server = LocalServer(model, n_threads=1, n_ctx=4096, log=f"/tmp/llambo-bench-{model}.log").start()
            servers[model] = server
            client = LLMClient(base_url=server.base_url, model=server.alias, timeout=args.timeout, max_retries=1,
                               max_concurrency=1, cache=args.cache or True)
            fmt = None if args.response_format == "none" else (args.response_format or SETTINGS["response_format"])
            arms[f"llambo[{model}]"] = (client, server, fmt)
        for seed in seeds:
            for problem in problems:
                for arm in list(PEERS if not args.no_peers else ()) + list(arms):
                    if (arm, problem, seed) in done:
                        continue
                    if arm in arms:
                        client, server, fmt = arms[arm]
                        if server is not None and server.running and _rss_gb(server._proc.pid) > args.max_rss_gb:
                            print(f"{arm}: server memory {_rss_gb(server._proc.pid):.1f} GB; restarting it", flush=True)
                            server.stop()
                        if server is not None and not server.running:  # died (e.g. killed for memory): restart it
                            print(f"{arm}: the server is not running; restarting it", flush=True)
                            server.start()
                            client = LLMClient(base_url=server.base_url, model=server.alias, timeout=args.timeout,
                                               max_retries=1, max_concurrency=1, cache=args.cache or True)
                            arms[arm] = (client, server, fmt)
                        strategy, pid = _llambo(client, fmt), (server._proc.pid if server is not None else None)
                    else:
                        strategy, pid = arm, None
                    record = run_one(arm, problem, seed, args.budget, strategy, pid)
                    failed = {k: v for k, v in record.get("llambo", {}).get("failures", {}).items()
                              if k in _ENDPOINT_FAILURES}
                    if arm in arms and server is not None and not server.running:
                        failed["server_died"] = 1
                    # a run the endpoint failed is not a measurement of the model: recorded, not scored,
                    # run again by the next invocation
                    record["status"] = "endpoint_failed" if failed else "ok"
                    if failed:
                        print(f"{arm} {problem} seed {seed}: endpoint failed {failed}; not scored, "
                              "rerun the command to run it again", flush=True)
                    record["host"] = {"machine": platform.machine(), "cpus": os.cpu_count()}
                    _append(runs_path, record)
                    extra = ""
                    if "llambo" in record:
                        s = record["llambo"]
                        extra = (f" valid {s['valid_rate']} calls {s['calls']} hits {s['cache_hits']} "
                                 f"sources {s['sources']} fallbacks {s['fallbacks']}")
                    print(f"{arm:24s} {problem:22s} seed {seed} best {min(record['losses']):.4f} "
                          f"wall {record['wall_s']:.0f}s server cpu {record['server_cpu_s']:.0f}s{extra}", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    report(args)


# --- report ----------------------------------------------------------------------------
def _records(out: Path) -> list[dict]:
    """The scored runs: status ok, the last record of each (arm, problem, seed)."""
    path = out.with_name(out.name + "_runs.jsonl")
    latest = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            if r.get("status", "ok") == "ok":
                latest[(r["arm"], r["problem"], r["seed"])] = r
    return list(latest.values())


def report_budgets(records: list[dict]) -> list[int]:
    """The budgets of :data:`BUDGETS` the longest run reaches, plus its budget (shorter runs show '-')."""
    longest = max(len(r["losses"]) for r in records)
    return sorted({b for b in BUDGETS if b <= longest} | {longest})


def summarise(records: list[dict], budgets=None) -> dict:
    """Scores per arm and budget, and LLAMBO's costs, from run records."""
    budgets = budgets or report_budgets(records)
    problems = sorted({r["problem"] for r in records})
    arms = sorted({r["arm"] for r in records}, key=lambda a: (a.startswith("llambo"), a))
    anchors = {}
    for p in problems:
        rs = [r for r in records if r["problem"] == p]
        firsts = [r["losses"][0] for r in rs if r["arm"] == "random"] or [r["losses"][0] for r in rs]
        anchors[p] = (float(np.median(firsts)), float(min(min(r["losses"]) for r in rs)))
    table: dict[str, Any] = {"problems": problems, "anchors": anchors, "budgets": budgets, "arms": {}}
    seeds_all = sorted({r["seed"] for r in records})
    for arm in arms:
        rs = [r for r in records if r["arm"] == arm]
        entry: dict[str, Any] = {"runs": len(rs), "seeds": sorted({r["seed"] for r in rs})}
        for b in budgets:
            per_seed = []
            for s in seeds_all:
                vals = [100 * (1 - float(normalise(best_so_far(r["losses"])[b - 1:b], *anchors[r["problem"]])[0]))
                        for r in rs if r["seed"] == s and len(r["losses"]) >= b]
                if len(vals) == len(problems):
                    per_seed.append(float(np.mean(vals)))
            entry[f"score@{b}"] = {"mean": round(float(np.mean(per_seed)), 2) if per_seed else None,
                                   "std_seeds": round(float(np.std(per_seed, ddof=1)), 2) if len(per_seed) > 1 else None,
                                   "n_seeds": len(per_seed)}
            entry[f"best@{b}"] = {p: round(float(np.mean([best_so_far(r["losses"])[b - 1] for r in rs
                                                           if r["problem"] == p and len(r["losses"]) >= b])), 5)
                                  for p in problems if any(r["problem"] == p and len(r["losses"]) >= b for r in rs)}
        entry["per_problem"] = {}
        for p in problems:
            entry["per_problem"][p] = {}
            for b in budgets:
                vals = [100 * (1 - float(normalise(best_so_far(r["losses"])[b - 1:b], *anchors[p])[0]))
                        for r in rs if r["problem"] == p and len(r["losses"]) >= b]
                entry["per_problem"][p][f"score@{b}"] = {
                    "mean": round(float(np.mean(vals)), 2) if vals else None,
                    "std_seeds": round(float(np.std(vals, ddof=1)), 2) if len(vals) > 1 else None, "n_seeds": len(vals)}
        entry["cpu_s_per_run"] = round(float(np.mean([r["cpu_s"] + r["server_cpu_s"] for r in rs])), 1)
        if rs and "llambo" in rs[0]:
            tot = {k: sum(r["llambo"][k] for r in rs) for k in
                   ("trials", "calls", "cache_hits", "prompt_tokens", "completion_tokens", "proposals", "valid",
                    "repaired", "repeats", "scores", "scores_valid")}
            sources, fallbacks, rejected = {}, {}, {}
            for r in rs:
                for src, n in r["llambo"]["sources"].items():
                    sources[src] = sources.get(src, 0) + n
                for src, n in r["llambo"]["fallbacks"].items():
                    fallbacks[src] = fallbacks.get(src, 0) + n
                for src, n in r["llambo"]["rejected"].items():
                    rejected[src] = rejected.get(src, 0) + n
            iters = [t for r in rs for t in r["per_trial"] if t and t["source"] and "warm_start" not in t["source"]
                     and t.get("fallback") != "not_configured"]
            llm_iters = [t for t in iters if t["calls"] > 0 and t["cache_hits"] == 0]  # replayed ones cost nothing
            requests = tot["calls"] + tot["cache_hits"]
            entry["llambo"] = {
                **tot,
                "valid_rate": round(tot["valid"] / tot["proposals"], 3) if tot["proposals"] else None,
                "score_valid_rate": round(tot["scores_valid"] / tot["scores"], 3) if tot["scores"] else None,
                "requests_per_trial": round(requests / tot["trials"], 2),
                # per call sent to the server, times requests per trial: what a trial costs uncached
                "tokens_per_trial": round((tot["prompt_tokens"] + tot["completion_tokens"]) / tot["calls"]
                                          * requests / tot["trials"], 1) if tot["calls"] else None,
                "completion_tokens_per_trial": round(tot["completion_tokens"] / tot["calls"] * requests / tot["trials"], 1)
                if tot["calls"] else None,
                "seconds_per_iteration": round(float(np.mean([t["seconds"] for t in llm_iters])), 2) if llm_iters else None,
                "server_cpu_s_per_trial": round(sum(r["server_cpu_s"] for r in rs) / tot["trials"], 2),
                "server_cpu_s_per_call": round(sum(r["server_cpu_s"] for r in rs) / tot["calls"], 2) if tot["calls"] else None,
                "sources": sources, "fallbacks": fallbacks, "rejected": rejected,
                "llm_share": round((sources.get("llm", 0) + sources.get("warm_start", 0)) / tot["trials"], 3),
            }
        table["arms"][arm] = entry
    loads = [x for r in records for x in r["loadavg"]]
    table["loadavg"] = {"min": min(loads), "median": float(np.median(loads)), "max": max(loads)} if loads else None
    return table


def _fmt(x: Any) -> str:
    return "-" if x is None else (f"{x:.2f}" if isinstance(x, float) else str(x))


def markdown(table: dict) -> str:
    budgets = table["budgets"]
    lines = ["# LLAMBO with local LLMs vs random, TPE and GP (ML problems)", "",
             f"Problems: {', '.join(table['problems'])}. Command: `python -m benchmarks.llambo run` "
             "(options, and the scope of each run, in README's LLAMBO section; then `report`). Machine: 2 shared CPU cores, no GPU; load average during the runs "
             f"{table['loadavg']} (8 engineers share the machine: read seconds as upper bounds).", "",
             "LLAMBO settings: " + ", ".join(f"{k}={v}" for k, v in SETTINGS.items())
             + "; base tpe; 1 warm-start call for the first 5 trials, then 9 calls per iteration "
               "(3 candidates + 3 x 2 surrogate predictions); llama.cpp servers with 1 thread each.", "",
             "## Normalised score (mean over seeds of the mean over problems; 100 = best loss seen, 0 = median first random evaluation)", "",
             "| arm | runs | seeds | " + " | ".join(f"score@{b}" for b in budgets) + " | CPU s/run (incl. server) |",
             "|---|---|---|" + "---|" * len(budgets) + "---|"]
    for arm, e in table["arms"].items():
        cells = [f"{_fmt(e[f'score@{b}']['mean'])} ± {_fmt(e[f'score@{b}']['std_seeds'])}" for b in budgets]
        lines.append(f"| {arm} | {e['runs']} | {max(e[f'score@{b}']['n_seeds'] for b in budgets)} | " + " | ".join(cells)
                     + f" | {e['cpu_s_per_run']} |")
    if table.get("left_out"):
        lines += ["", "Runs on problems not every arm ran, left out of this table: "
                  + ", ".join(sorted({f"{a} on {p}" for a, p in table["left_out"]})) + "."]
    lines += ["", "## Normalised score per problem (mean ± std over seeds, seeds in brackets)", "",
              "| arm | problem | " + " | ".join(f"score@{b}" for b in budgets) + " |",
              "|---|---|" + "---|" * len(budgets)]
    for arm, e in table["arms"].items():
        for p, cells in e["per_problem"].items():
            if not any(cells[f"score@{b}"]["n_seeds"] for b in budgets):
                continue
            lines.append(f"| {arm} | {p} | " + " | ".join(
                f"{_fmt(cells[f'score@{b}']['mean'])} ± {_fmt(cells[f'score@{b}']['std_seeds'])} "
                f"({cells[f'score@{b}']['n_seeds']})" for b in budgets) + " |")
    lines += ["", f"## Mean best loss per problem at {budgets[-1]} evaluations", "",
              "| arm | " + " | ".join(table["problems"]) + " |", "|---|" + "---|" * len(table["problems"])]
    for arm, e in table["arms"].items():
        last = e[f"best@{budgets[-1]}"]
        lines.append(f"| {arm} | " + " | ".join("-" if last.get(p) is None else f"{last[p]:.4g}"
                                                for p in table["problems"]) + " |")
    lines += ["", "## What the LLM did", "",
              "Valid proposals: configurations that parse and validate against the space (repeats: valid but "
              "already tried, so not used). Valid scores: surrogate replies that parse as a number. LLM-sourced "
              "trials: the share of trials the LLM's proposal (warm start or candidate) decided. requests/trial: "
              "chat requests per trial, cache hits included; tokens/trial: prompt + completion tokens per request "
              "the server answered, times requests/trial. s/iteration: wall "
              "seconds of one ask that called the LLM (replayed asks left out), on the shared machine. "
              "Fallbacks: trials the base strategy proposed, by reason.", "",
              "| arm | valid proposals | of which repeats | valid scores | LLM-sourced trials | requests/trial | "
              "tokens/trial | s/iteration | server CPU s/call | fallbacks | rejected |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for arm, e in table["arms"].items():
        s = e.get("llambo")
        if not s:
            continue
        lines.append(f"| {arm} | {_fmt(s['valid_rate'])} ({s['valid']}/{s['proposals']}) | {s['repeats']} "
                     f"| {_fmt(s['score_valid_rate'])} "
                     f"| {_fmt(s['llm_share'])} | {s['requests_per_trial']} | {_fmt(s['tokens_per_trial'])} | "
                     f"{_fmt(s['seconds_per_iteration'])} | {_fmt(s['server_cpu_s_per_call'])} | {s['fallbacks']} | {s['rejected']} |")
    return "\n".join(lines) + "\n"


def common_problems(records: list[dict]) -> list[str]:
    """The problems every arm has at least one scored run on (the report compares arms there)."""
    arms = {r["arm"] for r in records}
    return sorted(p for p in {r["problem"] for r in records}
                  if arms <= {r["arm"] for r in records if r["problem"] == p})


def report(args: argparse.Namespace) -> None:
    out = Path(args.out)
    records = _records(out)
    wanted = getattr(args, "report_problems", None)
    problems = wanted.split(",") if wanted else common_problems(records)
    table = summarise([r for r in records if r["problem"] in problems])
    table["left_out"] = sorted({(r["arm"], r["problem"]) for r in records if r["problem"] not in problems})
    out.with_suffix(".json").write_text(json.dumps(table, indent=1, default=float))
    text = markdown(table)
    out.with_suffix(".md").write_text(text)
    print(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.llambo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run every arm (skips runs already in <out>_runs.jsonl), then report")
    r.add_argument("--models", default=",".join(MODELS), help="local model names, or 'env' for HPO_LLM_BASE_URL")
    r.add_argument("--problems", default=",".join(PROBLEMS))
    r.add_argument("--seeds", default="5", help="a count (5: seeds 0-4) or a list (3,4)")
    r.add_argument("--budget", type=int, default=max(BUDGETS))
    r.add_argument("--timeout", type=float, default=600.0, help="seconds per LLM call (the machine is shared)")
    r.add_argument("--cache", default=None, help="response cache folder (default HPO_LLM_CACHE or ~/.cache/hpo/llm)")
    r.add_argument("--response-format", default=None,
                   help="llama_cpp_schema (default for local models), json_schema (default for --models env), "
                        "json_object, or none (free text)")
    r.add_argument("--no-peers", action="store_true", help="only the LLAMBO arms")
    r.add_argument("--max-rss-gb", type=float, default=3.0, help="restart a local server above this memory")
    r.add_argument("--out", default=DEFAULT_OUT)
    rep = sub.add_parser("report", help="write <out>.md and <out>.json from the runs")
    rep.add_argument("--out", default=DEFAULT_OUT)
    for p in (r, rep):
        p.add_argument("--report-problems", default=None,
                       help="problems to report (default: those every arm has runs on)")
    args = parser.parse_args(argv)
    (run if args.command == "run" else report)(args)


if __name__ == "__main__":
    main()
