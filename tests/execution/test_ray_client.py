"""RayExecutor through Ray Client (``ray://``): Tune's driver runs on the head node.

A head node started with ``ray start --head --block`` (its own process group, stopped by
signal at the end: ``ray stop`` would stop every Ray on the machine). The searcher travels
to the head inside the Tuner and reopens the study there from its storage, so the trials
are written on the head and read back here; an in-memory study is refused up front.
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
import shutil
import signal
import socket
import subprocess
import time

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("grpc")  # Ray Client (ray[client])
from optuna.trial import TrialState

import hpo

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Ray Client connection timed out")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def client_address(tmp_path_factory):
    if ray.is_initialized():
        ray.shutdown()
    port = _free_port()
    log = tmp_path_factory.mktemp("head") / "head.log"
    ray_bin = shutil.which("ray") or "ray"
    head = subprocess.Popen([ray_bin, "start", "--head", "--block", "--port=0", "--num-cpus=2",
                             "--include-dashboard=false", f"--ray-client-server-port={port}"],
                            start_new_session=True, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    address = f"ray://127.0.0.1:{port}"
    try:
        deadline = time.time() + 240
        while True:
            assert head.poll() is None, log.read_text()[-2000:]
            try:
                ray.init(address)
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(2)
        yield address
    finally:
        ray.shutdown()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()


def test_a_study_runs_through_ray_client_and_lands_in_its_storage(client_address, tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = hpo.create_study(space={"x": hpo.Float(-2.0, 2.0)}, strategy="tpe", storage=url, study_name="c", seed=0)
    study.optimize(lambda trial: (trial.params["x"] - 1.0) ** 2, n_trials=6,
                   executor=hpo.RayExecutor(address=client_address, storage_path=str(tmp_path / "ray")))
    trials = hpo.load_study(study_name="c", storage=url).trials
    assert [t.number for t in trials] == list(range(6)) and {t.state for t in trials} == {TrialState.COMPLETE}
    assert all(t.value == pytest.approx((t.params["x"] - 1.0) ** 2) and t.user_attrs["ray_trial_id"] for t in trials)

    memory = hpo.create_study(space={"x": hpo.Float(-2.0, 2.0)}, seed=0)
    with pytest.raises(ValueError, match="head node, which cannot write this process's in-memory study"):
        memory.optimize(lambda trial: 0.0, n_trials=1, executor=hpo.RayExecutor(address=client_address))
