"""SMAC3 (``HyperparameterOptimizationFacade`` and ``BlackBoxFacade``) behind the hpo Strategy protocol.

Finished trials are told to a cached SMAC facade through ``facade.tell`` in trial-number
order; new configurations come from SMAC's own config selector (initial design first,
then surrogate + acquisition maximiser), the component ``facade.ask`` draws from: for a
deterministic single-instance problem SMAC's intensifier only forwards those
configurations, after a scan of its queue that grows quadratically with the history.

SMAC retrains its model and re-maximises the acquisition only every ``retrain_after``
configurations (8 for the HPO facade, 1 for the black-box one) after its initial design,
and yields the others from the same ranked list. We keep that rhythm and stay pure: with
``n`` finished trials and an initial design of ``k``, SMAC is told the first ``m`` of them
(``m = n`` while ``n <= k``, then ``k`` plus the last whole multiple of ``retrain_after``),
its random state is reseeded from (seed, those trials), and the
resulting candidate list is cached; a proposal is the first candidate that is neither a
later finished trial, nor a running one, nor an earlier proposal of the same call (and
one more is skipped per running trial whose params are not chosen yet: another worker's). So a
fresh instance replaying the same history proposes the same configurations, a resumed
study continues exactly, and parallel workers never receive a running configuration.
When the history is not an extension of what was told (a trial finished out of order),
the facade is rebuilt from the history.

SMAC's output directory is a temporary folder removed with the strategy, or the folder
given as ``output_directory``; never the working directory.
"""

from __future__ import annotations

import copy
import logging
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from ConfigSpace import Configuration
from hpo.extras import require
from hpo.strategies._history import config_key
from hpo.strategies.base import BaseStrategy, History, Observation
from hpo.strategies.params import Integer, Jobs, PathOrNone
from surrogates.base import single_threaded_blas

__all__ = ["SMACStrategy", "SMACBlackBoxStrategy"]

_log = logging.getLogger(__name__)


def _reseed(obj: Any, seq: np.random.SeedSequence, depth: int = 0, seen: set | None = None) -> None:
    """Give every ``_rng`` found in SMAC's component graph a fresh generator from ``seq``."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 4:
        return
    seen.add(id(obj))
    for attr, value in sorted(vars(obj).items()):
        if attr == "_rng":
            seed = int(seq.spawn(1)[0].generate_state(1)[0] & 0x7FFFFFFF)
            if isinstance(value, np.random.RandomState):
                setattr(obj, attr, np.random.RandomState(seed))
            elif isinstance(value, np.random.Generator):
                setattr(obj, attr, np.random.default_rng(seed))
        elif type(value).__module__.startswith("smac.") and hasattr(value, "__dict__"):
            _reseed(value, seq, depth + 1, seen)
        elif isinstance(value, (list, tuple)):
            for item in value:
                if type(item).__module__.startswith("smac.") and hasattr(item, "__dict__"):
                    _reseed(item, seq, depth + 1, seen)


def _order_start_points(maximizer: Any) -> None:
    """Make the order of SMAC's local-search start points independent of ``PYTHONHASHSEED``.

    SMAC dedupes them through a ``set`` of Configurations, which hash their ``repr`` (a str),
    so the order the searches ran in, and the proposals, changed with the interpreter's
    string-hash seed. Sorting the deduped points by their vector keeps every point and makes
    the order a function of the seed and history alone.
    """
    local_search = getattr(maximizer, "_local_search", None)
    original = getattr(local_search, "_get_init_points_from_previous_configs", None)
    if original is None:
        return

    def ordered(*args, **kwargs):
        return sorted(original(*args, **kwargs), key=lambda config: config.get_array().tobytes())

    local_search._get_init_points_from_previous_configs = ordered


def _told(row: Observation) -> tuple:
    """What SMAC was told about a trial: a told prefix is reused only while these match."""
    payload = row.loss if row.state == "complete" else (dict(row.intermediate) if row.state == "pruned" else None)
    return (row.number, row.state, payload)


def _dummy_target(config, seed: int = 0) -> float:  # SMAC wants a target function; we only ask and tell
    raise RuntimeError("the hpo SMAC strategy never runs SMAC's target function")


class SMACStrategy(BaseStrategy):
    """SMAC3's ``HyperparameterOptimizationFacade``: random forest surrogate, log EI, local + random search.

    Args:
        n_trials: the planned number of trials (default 50); SMAC sizes its initial design
            from it: ``n_configs_per_hyperparameter`` per dimension, at most a quarter of it.
        initial_design_size: the number of initial-design configurations, overriding that
            rule (default None: SMAC's rule).
        output_directory: where SMAC writes its files (default None: a temporary folder,
            removed with the strategy).
        n_jobs: threads of SMAC's random forest (default 1; -1 for every core).

    Example:
        >>> import hpo
        >>> s = SMACStrategy(n_trials=20)
        >>> s.setup(hpo.Space({"x": hpo.Float(0, 1)}), "minimize", seed=0)
        >>> 0 <= s.ask([])[0]["x"] <= 1
        True
    """

    name = "smac"
    _facade_name = "HyperparameterOptimizationFacade"

    params = {"n_trials": Integer(1), "initial_design_size": Integer(0, none=True),
              "output_directory": PathOrNone(), "n_jobs": Jobs()}

    def __init__(self, n_trials: int = 50, initial_design_size: int | None = None,
                 output_directory: str | Path | None = None, n_jobs: int = 1):
        require("smac", f"strategy {self.name!r}")
        super().__init__(n_trials=n_trials, initial_design_size=initial_design_size,
                         output_directory=output_directory, n_jobs=n_jobs)
        self._facade = None
        self._told: list[tuple] = []
        self._generator = None
        self._candidates: list[dict] = []
        self._tmp: tempfile.TemporaryDirectory | None = None

    def setup(self, space, direction, seed) -> None:
        super().setup(space, direction, seed)
        self._facade, self._told, self._generator = None, [], None

    # --- building and feeding SMAC ---------------------------------------------------
    def _folder(self) -> Path:
        if self.output_directory is not None:
            return Path(self.output_directory)
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hpo-smac-")
        return Path(self._tmp.name)

    def _new_facade(self):
        import smac
        from smac import Scenario

        facade_cls = getattr(smac, self._facade_name)
        seed = 0 if self.seed is None else int(self.seed) & 0x7FFFFFFF
        scenario = Scenario(copy.deepcopy(self.space.cs), deterministic=True, n_trials=self.n_trials, seed=seed,
                            output_directory=self._folder() / self.name, name="hpo")
        kwargs = {} if self.initial_design_size is None else {"n_configs": self.initial_design_size}
        design = facade_cls.get_initial_design(scenario, **kwargs)
        model = facade_cls.get_model(scenario)
        if hasattr(model, "_rf_opts"):  # SMAC's forest defaults to n_jobs=-1 (thread pools)
            model._rf_opts["n_jobs"] = self.n_jobs
        facade = facade_cls(scenario, _dummy_target, initial_design=design, model=model, overwrite=True,
                            logging_level=False)
        _order_start_points(facade._acquisition_maximizer)
        selector = facade._config_selector
        self._max_tries = selector._max_new_config_tries
        self._retrain_after = max(1, int(selector._retrain_after))
        self._n_init = len(selector._initial_design_configs)
        return facade

    def _tell(self, rows: list[Observation]) -> None:
        from smac.runhistory import StatusType, TrialInfo, TrialValue

        for r in rows:
            info = TrialInfo(Configuration(self._facade.scenario.configspace, values=r.config), seed=0)
            if r.state == "complete":
                value = TrialValue(cost=r.loss)
            elif r.state == "pruned" and r.intermediate:
                value = TrialValue(cost=r.intermediate[max(r.intermediate)])
            else:
                value = TrialValue(cost=self._facade.scenario.crash_cost, status=StatusType.CRASHED)
            self._facade.tell(info, value, save=False)
            self._told.append(_told(r))

    def _sync(self, finished: list[Observation]) -> int:
        """Tell SMAC the first m finished trials: all of them during the initial design, then
        the design plus the last whole multiple of SMAC's ``retrain_after``."""
        if self._facade is None:
            self._facade, self._told = self._new_facade(), []
        n, k, r = len(finished), self._n_init, self._retrain_after
        m = n if n <= k else k + ((n - k) // r) * r  # SMAC's own rhythm: a model after the design, then every r
        target = [_told(row) for row in finished[:m]]
        if target[: len(self._told)] != self._told:
            self._facade, self._told, self._generator = self._new_facade(), [], None
        if len(self._told) != m or self._generator is None:
            self._tell(finished[len(self._told):m])
            self._start_epoch(target)
        return m

    def _start_epoch(self, told: list[tuple]) -> None:
        """A fresh SMAC config selector, reseeded from (seed, told trials): the epoch's candidates."""
        selector = self._facade._config_selector
        numbers = np.array([t[0] for t in told], dtype=np.int64)
        seed = 0 if self.seed is None else int(self.seed) & 0xFFFFFFFF
        seq = np.random.SeedSequence([seed, len(told), zlib.crc32(numbers.tobytes())])
        _reseed(selector, seq)
        self._facade.scenario.configspace.seed(int(seq.generate_state(1)[0] & 0x7FFFFFFF))
        selector._previous_entries = -1
        selector._max_new_config_tries = self._max_tries
        self._generator, self._candidates = iter(selector), []

    # --- proposing --------------------------------------------------------------------
    def _propose(self, history: History, n: int, rng: np.random.Generator) -> list[dict]:
        with single_threaded_blas():  # SMAC's matrices are small; extra BLAS threads only contend
            return self._propose_unlocked(history, n)

    def _propose_unlocked(self, history: History, n: int) -> list[dict]:
        rows = self.rows(history)
        finished = [r for r in rows if r.state != "pending"]
        m = self._sync(finished)
        avoid = {config_key(r.config) for r in finished[m:]} | {config_key(r.config) for r in rows if r.state == "pending"}
        out: list[dict] = []
        skip = self.blind_pending(history)
        i, limit = 0, len(avoid) + 20 * (n + skip) + 50
        while len(out) < n + skip and i < limit:
            if i == len(self._candidates):
                try:
                    self._candidates.append(self.space.validate(dict(next(self._generator))))
                except StopIteration:
                    break
                except Exception as e:  # a failure inside SMAC must not stop the study
                    _log.warning("SMAC could not propose (%s); the base class fills in at random", e)
                    self._generator = None
                    break
            key = config_key(self._candidates[i])
            i += 1
            if key not in avoid:
                avoid.add(key)
                out.append(self._candidates[i - 1])
        return out[skip:]


class SMACBlackBoxStrategy(SMACStrategy):
    """SMAC3's ``BlackBoxFacade``: Gaussian process surrogate with EI, for small budgets and low dimension.

    Takes the same options as :class:`SMACStrategy`.

    Example:
        >>> import hpo
        >>> s = SMACBlackBoxStrategy(n_trials=20)
        >>> s.setup(hpo.Space({"x": hpo.Float(0, 1)}), "minimize", seed=0)
        >>> 0 <= s.ask([])[0]["x"] <= 1
        True
    """

    name = "smac-bb"
    _facade_name = "BlackBoxFacade"
