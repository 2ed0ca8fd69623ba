"""Tuner.restore after the Tune driver was killed (SIGKILL): HpoSearch continues with its whole history.

A driver process runs a Tuner with HpoSearch (TPE, in-memory study) one trial at a time and
is killed half-way, once Ray's experiment checkpoint holds the run so far (Ray copies it to
the storage path in a background thread, file by file: a driver killed before the first
complete copy leaves a checkpoint Ray itself cannot resume from). A second process restores
it with ``Tuner.restore(path, trainable, resume_errored=True)`` and finishes. The
configurations Ray ran, interrupted run and restore together, equal those of an
uninterrupted run with the same seed: the restored strategy saw exactly the history it would
have seen (ray-project/ray#30861 is the fault where a restored searcher forgets it).
"""

import os

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # before ray is imported (ENVIRONMENT.md)
# A Ray temp dir of our own (removed at exit): no other Ray on this machine finds our clusters
# or is found by them (ray.init() joins whatever cluster /tmp/ray/ray_current_cluster names).
if "RAY_TMPDIR" not in os.environ:
    import atexit, shutil, tempfile  # noqa: E401
    os.environ["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="hr", dir="/tmp")  # short: Ray puts sockets there
    atexit.register(shutil.rmtree, os.environ["RAY_TMPDIR"], True)

import contextlib
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("ray.tune")

import hpo
from hpo.execution.ray import HpoSearch

pytestmark = pytest.mark.slow

N_TRIALS, KILL_AFTER = 10, 5
SPACE = {"x": hpo.Float(-2.0, 2.0), "y": hpo.Float(-2.0, 2.0)}

DRIVER = textwrap.dedent('''
    import json, os, sys, time
    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ["TUNE_GLOBAL_CHECKPOINT_S"] = "0"  # checkpoint the experiment at every step
    import ray
    from ray import tune
    import hpo
    from hpo.execution.ray import HpoSearch

    mode, root = sys.argv[1], sys.argv[2]
    marks = os.path.join(root, "marks")

    def checkpointed(n):
        """Ray's checkpoint on the storage path lists n trials and the search state n suggestions."""
        from ray import cloudpickle
        exp = os.path.join(root, "ray", "exp")
        try:
            names = os.listdir(exp)
            state = max(f for f in names if f.startswith("experiment_state-"))
            gen = max(f for f in names if f.startswith("search_gen_state-"))
            if not any(f.startswith("searcher-state-") for f in names):
                return False
            with open(os.path.join(exp, state)) as f:
                trials = len(json.load(f)["trial_data"])
            with open(os.path.join(exp, gen), "rb") as f:
                counter = cloudpickle.load(f)["counter"]
        except (OSError, ValueError, KeyError, EOFError):  # not written yet, or half-copied
            return False
        return trials >= n and counter >= n

    def train(config):
        if len(os.listdir(marks)) == %(kill_after)d:  # the trial the test kills the driver in
            deadline = time.time() + 300
            while not checkpointed(%(kill_after)d + 1):
                if time.time() > deadline:
                    open(os.path.join(root, "no-checkpoint"), "w").close()
                    break
                time.sleep(0.2)
        open(os.path.join(marks, repr(config["x"])), "w").close()
        time.sleep(0.5)
        tune.report({"loss": (config["x"] - 0.7) ** 2 + (config["y"] + 0.3) ** 2})

    ray.init(address="local", num_cpus=1, include_dashboard=False)  # never a cluster someone else started
    if mode == "fit":
        search = HpoSearch(strategy="tpe", space={"x": hpo.Float(-2.0, 2.0), "y": hpo.Float(-2.0, 2.0)},
                           metric="loss", mode="min", seed=7, strategy_kwargs={"n_startup_trials": 3})
        tuner = tune.Tuner(train, tune_config=tune.TuneConfig(search_alg=search, num_samples=%(n_trials)d,
                                                              max_concurrent_trials=1),
                           run_config=tune.RunConfig(name="exp", storage_path=os.path.join(root, "ray"), verbose=0,
                                                     failure_config=tune.FailureConfig(max_failures=3)))
    else:
        tuner = tune.Tuner.restore(os.path.join(root, "ray", "exp"), trainable=train, resume_errored=True)
    results = tuner.fit()
    with open(os.path.join(root, mode + ".json"), "w") as f:
        json.dump([dict(r.config) for r in results], f)
''' % {"n_trials": N_TRIALS, "kill_after": KILL_AFTER})


def uninterrupted():
    """The same search driven by hand (the calls Tune makes with one trial at a time)."""
    search = HpoSearch(strategy="tpe", space=SPACE, metric="loss", mode="min", seed=7,
                       strategy_kwargs={"n_startup_trials": 3})
    configs = []
    for i in range(N_TRIALS):
        config = search.suggest(f"t{i}")
        result = {"loss": (config["x"] - 0.7) ** 2 + (config["y"] + 0.3) ** 2, "training_iteration": 1}
        search.on_trial_result(f"t{i}", result)
        search.on_trial_complete(f"t{i}", result)
        configs.append(config)
    return configs


def _run(root: Path, mode: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(hpo.__file__).resolve().parents[1])}
    return subprocess.Popen([sys.executable, str(root / "driver.py"), mode, str(root)], env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=open(root / f"{mode}.err", "w"),
                            **kwargs)


def test_a_restored_tuner_continues_with_the_strategys_full_history(tmp_path):
    (tmp_path / "marks").mkdir()
    (tmp_path / "driver.py").write_text(DRIVER)
    driver = _run(tmp_path, "fit")
    try:
        deadline = time.time() + 400
        while len(list((tmp_path / "marks").iterdir())) < KILL_AFTER + 1:  # trial KILL_AFTER is running
            assert driver.poll() is None, (tmp_path / "fit.err").read_text()[-3000:]
            assert not (tmp_path / "no-checkpoint").exists(), "Ray did not write its experiment checkpoint in 300 s"
            assert time.time() < deadline, "the driver did not reach the kill point"
            time.sleep(0.2)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray it started
        driver.wait()
    assert not (tmp_path / "fit.json").exists()
    ran_before = len(list((tmp_path / "marks").iterdir()))
    assert KILL_AFTER < ran_before < N_TRIALS

    restore = _run(tmp_path, "restore")
    try:
        assert restore.wait(timeout=400) == 0, (tmp_path / "restore.err").read_text()[-3000:]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(restore.pid, signal.SIGKILL)
    configs = json.loads((tmp_path / "restore.json").read_text())
    expected = uninterrupted()
    assert len(configs) == N_TRIALS
    key = lambda c: (c["x"], c["y"])
    assert sorted(configs, key=key) == sorted(expected, key=key)
