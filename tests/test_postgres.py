"""Many workers on one PostgreSQL study: the storage users run for distributed tuning.

Needs a server: set HPO_TEST_POSTGRES_URL (``.ci/run`` starts one and sets it). Skipped
otherwise, except under CI, where a missing server is a failure.
"""

import os
import uuid
from collections import Counter

import optuna
import pytest
from optuna.trial import TrialState

import hpo

URL = os.environ.get("HPO_TEST_POSTGRES_URL")

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
if not URL:
    if os.environ.get("CI"):
        raise RuntimeError("CI must provide HPO_TEST_POSTGRES_URL (see .ci/run)")
    pytestmark.append(pytest.mark.skip(reason="set HPO_TEST_POSTGRES_URL to run PostgreSQL tests"))

SPACE = {"x": hpo.Float(-5, 5), "y": hpo.Float(-5, 5), "opt": hpo.Categorical(["adam", "sgd"])}


def objective(trial):
    return trial.params["x"] ** 2 + trial.params["y"] ** 2


def test_four_workers_on_one_postgresql_study():
    name = f"pg-{uuid.uuid4().hex[:8]}"
    study = hpo.create_study(space=SPACE, storage=URL, study_name=name, seed=0)
    study.optimize(objective, n_trials=200, n_jobs=4)
    trials = optuna.load_study(study_name=name, storage=URL).trials
    assert len(trials) == 200
    assert sorted(t.number for t in trials) == list(range(200))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 200
    workers = Counter(t.system_attrs["hpo:owner"]["pid"] for t in trials)
    assert len(workers) == 4 and min(workers.values()) >= 10


def test_postgresql_study_resumes_from_another_process():
    name = f"pg-{uuid.uuid4().hex[:8]}"
    hpo.create_study(space=SPACE, storage=URL, study_name=name, seed=1).optimize(objective, n_trials=10)
    loaded = hpo.load_study(study_name=name, storage=URL)
    loaded.optimize(objective, max_trials=25, n_jobs=2)
    assert len(loaded.get_trials([TrialState.COMPLETE])) == 25
