"""optuna's own sampler kit (optuna.testing.pytest_samplers: the basic and relative cases) over every
registered strategy as an optuna sampler (hpo.sampler.StrategySampler).

``random`` (the bridge's path for every strategy that proposes through ``ask``) and ``tpe``
(the path through a strategy's own optuna sampler) run in the fast suite, the others in the
slow one. ``tpe`` runs as optuna runs these cases on its own TPE,
``TPESampler(multivariate=True, n_startup_trials=0)``: during its startup trials TPE samples
each parameter independently, which the relative cases do not reach, and with ``group=True``
(hpo's default, for conditional spaces) optuna's TPESampler itself returns no relative
params when ``sample_relative`` is called without ``infer_relative_search_space`` first
(where it computes the groups), as these cases call it; a study always calls both.
"""

from __future__ import annotations

from functools import partial

import pytest

from hpo.strategies import available, make_strategy
from hpo.testing import SamplerTests

FAST = ("random", "tpe")
OPTIONS = {"tpe": {"n_startup_trials": 0, "group": False}}
STRATEGIES = [
    pytest.param(partial(make_strategy, name, **OPTIONS.get(name, {})), id=name,
                 marks=() if name in FAST else pytest.mark.slow)
    for name in [n for n in available() if n != "homopt"] + ["homopt:random"]
]


class TestEveryStrategyAsAnOptunaSampler(SamplerTests):
    @pytest.fixture(params=STRATEGIES)
    def strategy_spec(self, request):
        return request.param
