"""RayExecutor on a two-node Ray cluster on this machine (ray.cluster_utils.Cluster, real raylets).

The head node and a second node have one CPU each (the second one also a GPU resource, so
Ray hands GPU trials to it and sets their CUDA_VISIBLE_DEVICES); the driver (this process)
writes the study's SQLite file, the nodes only run trials.
"""

import os

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # before ray is imported (ENVIRONMENT.md)
# A Ray temp dir of our own (removed at exit): no other Ray on this machine finds our clusters
# or is found by them (ray.init() joins whatever cluster /tmp/ray/ray_current_cluster names).
if "RAY_TMPDIR" not in os.environ:
    import atexit, shutil, tempfile  # noqa: E401
    os.environ["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="hr", dir="/tmp")  # short: Ray puts sockets there
    atexit.register(shutil.rmtree, os.environ["RAY_TMPDIR"], True)

import time

import pytest

ray = pytest.importorskip("ray")
from optuna.trial import TrialState
from ray.cluster_utils import Cluster

import hpo

pytestmark = pytest.mark.slow

SPACE = {"x": hpo.Float(-3.0, 3.0)}


@pytest.fixture(scope="module")
def two_nodes():
    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1, num_gpus=1)
    ray.init(address=cluster.address)
    cluster.wait_for_nodes()
    try:
        yield {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}
    finally:
        ray.shutdown()
        cluster.shutdown()


def make_objective(folder):
    def objective(trial):
        node = ray.get_runtime_context().get_node_id()
        open(os.path.join(folder, node), "w").close()
        deadline = time.time() + 120
        while len(os.listdir(folder)) < 2 and time.time() < deadline:  # hold this node's CPU until
            time.sleep(0.1)  # a trial runs on the other node (Ray must place it there)
        trial.set_user_attr("node_seen_by_objective", node)
        trial.set_user_attr("cuda_visible_devices", os.environ.get("CUDA_VISIBLE_DEVICES"))
        return (trial.params["x"] - 1.0) ** 2

    return objective


def test_trials_run_on_both_nodes_and_land_in_one_storage(two_nodes, tmp_path):
    assert len(two_nodes) == 2
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = hpo.create_study(space=SPACE, strategy="tpe", storage=url, study_name="cluster", seed=0)
    (tmp_path / "nodes").mkdir()
    study.optimize(make_objective(str(tmp_path / "nodes")), n_trials=8,
                   executor=hpo.RayExecutor(address="auto", storage_path=str(tmp_path / "ray")))
    trials = hpo.load_study(study_name="cluster", storage=url).trials
    assert [t.number for t in trials] == list(range(8)) and {t.state for t in trials} == {TrialState.COMPLETE}
    nodes = {t.user_attrs["ray_node_id"] for t in trials}
    assert nodes == set(two_nodes)
    assert all(t.user_attrs["ray_node_id"] == t.user_attrs["node_seen_by_objective"] for t in trials)


def test_a_gpu_trial_gets_a_gpu_node_and_its_cuda_visible_devices(two_nodes, tmp_path):
    (gpu_node,) = [node for node, res in two_nodes.items() if res.get("GPU")]
    study = hpo.create_study(space=SPACE, strategy="random", seed=1)
    (tmp_path / "nodes").mkdir()
    (tmp_path / "nodes" / "placeholder").touch()  # nothing to wait for here
    (tmp_path / "nodes" / "placeholder2").touch()
    study.optimize(make_objective(str(tmp_path / "nodes")), n_trials=2, executor=hpo.RayExecutor(
        resources_per_trial={"cpu": 0, "gpu": 1}, storage_path=str(tmp_path / "ray")))
    for t in study.trials:
        assert t.state == TrialState.COMPLETE
        assert t.user_attrs["ray_node_id"] == gpu_node and t.user_attrs["cuda_visible_devices"] == "0"
