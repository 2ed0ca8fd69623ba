"""The peer optimizers, run natively through their own libraries (not through hpo).

Each peer drives an ``objective(config) -> loss`` for ``budget`` evaluations with the
library's own loop and default settings: ``optuna-tpe``, ``optuna-gp``, ``optuna-random``
(optuna samplers, define-by-run), ``hyperopt`` (``fmin`` with TPE and its own ``Trials``),
``smac3-hpo`` and ``smac3-bb`` (SMAC3 facades, ask/tell), ``hebo`` (HEBO 0.3.6) and ``ax``
(ax-platform 1.3.1's ``ax.api.Client`` with its default generation strategy: the centre of the
space, Sobol, then BoTorch), the last two when importable. Conditional spaces are declared
natively where the library can (optuna define-by-run, hyperopt nested ``hp.choice``, SMAC's
ConfigSpace, Ax's ``dependent_parameters``); HEBO samples every parameter and the inactive
ones are dropped before evaluation.

This is the one module that runs each library natively: an experiment that compares a wrapper
with its library under the wrapper's own settings (:mod:`benchmarks.experiments`) passes those
as ``settings``, and a warm start as ``history``, to :func:`run_peer`.

Example:
    >>> from benchmarks.synthetic import Branin
    >>> from benchmarks.peers import run_peer
    >>> b = Branin()
    >>> losses = []
    >>> def f(config):
    ...     losses.append(b.objective_function(config)["function_value"])
    ...     return losses[-1]
    >>> run_peer("optuna-random", b.get_configuration_space(), f, budget=5, seed=0)
    >>> len(losses)
    5
"""

from __future__ import annotations

import importlib.util
import math
import tempfile
from typing import Any, Callable, Sequence

import numpy as np
from ConfigSpace import (
    CategoricalHyperparameter,
    ConfigurationSpace,
    Constant,
    EqualsCondition,
    InCondition,
    OrdinalHyperparameter,
    UniformFloatHyperparameter,
    UniformIntegerHyperparameter,
)

from hpo.space import Space

__all__ = ["PEERS", "PeerStopped", "available_peers", "run_peer", "peer_versions"]

Objective = Callable[[dict], float]


class PeerStopped(Exception):
    """The library stopped proposing before the budget (e.g. SMAC found the space exhausted).

    The run keeps what it evaluated; its best loss stands for the rest of the budget.
    """


def _hebo_importable() -> bool:
    return importlib.util.find_spec("hebo") is not None


def _ax_importable() -> bool:
    return importlib.util.find_spec("ax") is not None


_IMPORTABLE = {"hebo": _hebo_importable, "ax": _ax_importable}
_INSTALL = {
    "hebo": "`pip install --no-deps hebo==0.3.6 && pip install pymoo gpytorch GPy catboost disjoint-set`",
    "ax": "`pip install 'hpo[bench]'` (ax-platform==1.3.1)",
}


def available_peers() -> list[str]:
    """Peer names whose library is installed here."""
    return [p for p in PEERS if p not in _IMPORTABLE or _IMPORTABLE[p]()]


def peer_versions() -> dict[str, str]:
    """The versions of the optimisers and of the numerical stack under them (a run's results
    depend on both: an extra's install can move numpy or scipy)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("optuna", "hyperopt", "smac", "hebo", "ax-platform", "botorch", "ConfigSpace",
                "numpy", "scipy", "scikit-learn", "torch"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def run_peer(name: str, cs: ConfigurationSpace, objective: Objective, budget: int, seed: int,
             settings: dict | None = None, history: Sequence[tuple[dict, float]] = ()) -> None:
    """Run peer ``name`` on ``cs`` for ``budget`` calls of ``objective`` (minimised), seeded.

    ``settings`` are the library's own options (none: its defaults):

    - ``optuna-*``: keyword arguments of the sampler (``TPESampler(multivariate=True, ...)``);
    - ``hyperopt``: ``n_startup_jobs`` (TPE's random start; hyperopt's default is 20) and
      ``int_encoding``: ``"uniformint"`` (the default) or ``"quniform"`` (an integer is
      ``quniform`` over [lower - 0.5, upper + 0.5], as hpo's ``hyperopt-tpe`` declares it);
    - ``smac3-*``: ``n_trials`` (the scenario's; default: budget plus warm start),
      ``initial_design`` (its number of configurations; default SMAC's), ``forest_n_jobs`` (the
      random forest's threads; SMAC's default is -1) and ``save`` (write the run history on every
      tell, SMAC's default True).

    ``history`` holds (configuration, loss) pairs told to the library before its first proposal
    (a warm start; not evaluated again, not counted in ``budget``); HEBO and Ax take none.
    """
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r}; available: {', '.join(PEERS)}")
    if name in _IMPORTABLE and not _IMPORTABLE[name]():
        raise ImportError(f"{name} is not installed; {_INSTALL[name]}")
    settings = dict(settings or {})
    allowed = _SETTINGS.get(name)
    unknown = sorted(set(settings) - set(allowed)) if allowed is not None else []
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} for peer {name!r}; it takes: {', '.join(allowed) or 'none'}")
    if history and name in ("hebo", "ax"):
        raise ValueError(f"peer {name!r} takes no warm start (history); run it without one")
    PEERS[name](cs, objective, budget, seed, settings, list(history))


# --- optuna -----------------------------------------------------------------


def _optuna(sampler_name: str):
    def run(cs: ConfigurationSpace, objective: Objective, budget: int, seed: int, settings: dict,
            history: list) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        space = Space(cs)
        order = _topological(cs)
        sampler = getattr(optuna.samplers, sampler_name)(seed=seed, **settings)
        study = optuna.create_study(direction="minimize", sampler=sampler)
        if history:
            study.add_trials([optuna.trial.create_trial(params=c, distributions={k: _distribution(cs[k]) for k in c},
                                                        value=v) for c, v in history])
        for _ in range(budget):
            trial = study.ask()
            config: dict = {}
            for name in order:
                if space.is_active(name, config):
                    config[name] = _suggest(trial, name, cs[name])
            loss = objective(config)
            study.tell(trial, loss if math.isfinite(loss) else None, state=None if math.isfinite(loss) else optuna.trial.TrialState.FAIL)

    return run


def _distribution(hp):
    """The optuna distribution :func:`_suggest` declares for ``hp``."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(hp, UniformFloatHyperparameter):
        return FloatDistribution(hp.lower, hp.upper, log=hp.log)
    if isinstance(hp, UniformIntegerHyperparameter):
        return IntDistribution(int(hp.lower), int(hp.upper), log=hp.log)
    return CategoricalDistribution(list(_choices(hp)))


def _suggest(trial, name: str, hp) -> Any:
    if isinstance(hp, UniformFloatHyperparameter):
        return trial.suggest_float(name, hp.lower, hp.upper, log=hp.log)
    if isinstance(hp, UniformIntegerHyperparameter):
        return trial.suggest_int(name, int(hp.lower), int(hp.upper), log=hp.log)
    return trial.suggest_categorical(name, list(_choices(hp)))


def _choices(hp) -> list:
    if isinstance(hp, Constant):
        return [hp.value]
    if isinstance(hp, OrdinalHyperparameter):
        return list(hp.sequence)
    return list(hp.choices)


def _topological(cs: ConfigurationSpace) -> list[str]:
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for parent in cs.parents_of[name]:
            visit(parent.name)
        order.append(name)

    for name in cs.keys():
        visit(name)
    return order


# --- hyperopt ------------------------------------------------------------------


def _hyperopt(cs: ConfigurationSpace, objective: Objective, budget: int, seed: int, settings: dict,
              history: list) -> None:
    from functools import partial

    from hyperopt import STATUS_FAIL, STATUS_OK, Trials, fmin, tpe
    from hyperopt.fmin import generate_trials_to_calculate

    space = Space(cs)
    encoding = settings.get("int_encoding", "uniformint")
    if encoding not in ("uniformint", "quniform"):
        raise ValueError(f"int_encoding must be 'uniformint' or 'quniform', got {encoding!r}")
    hspace, nested = _hyperopt_space(cs, encoding)
    if history and nested:
        raise ValueError("the hyperopt peer takes a warm start (history) on unconditional spaces only")
    known = iter(history)

    def fn(sample):
        config = _flatten(sample) if nested else dict(sample)
        config = {k: _cast(cs[k], v) for k, v in config.items()}
        config = {k: config[k] for k in space.active_names(config) if k in config}
        told = next(known, None)
        if told is not None:  # a warm-start point: its loss is known
            if told[0] != config:
                raise RuntimeError(f"hyperopt evaluated {config} where the warm start has {told[0]}")
            loss = told[1]
        else:
            loss = objective(config)
        return {"loss": loss, "status": STATUS_OK} if math.isfinite(loss) else {"status": STATUS_FAIL}

    algo = partial(tpe.suggest, n_startup_jobs=settings["n_startup_jobs"]) if "n_startup_jobs" in settings else tpe.suggest
    fmin(
        fn,
        hspace,
        algo=algo,
        max_evals=budget,  # counted beyond the warm start's points, which fmin evaluates first
        trials=generate_trials_to_calculate([_hyperopt_point(cs, c) for c, _ in history]) if history else Trials(),
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )


def _hyperopt_point(cs: ConfigurationSpace, config: dict) -> dict:
    """A configuration in hyperopt's own terms (a choice by its index)."""
    return {k: (_choices(cs[k]).index(v) if not isinstance(cs[k], (UniformFloatHyperparameter, UniformIntegerHyperparameter))
                else v) for k, v in config.items()}


def _hyperopt_dim(name: str, hp, int_encoding: str = "uniformint"):
    from hyperopt import hp as H

    if isinstance(hp, UniformFloatHyperparameter):
        if hp.log:
            return H.loguniform(name, math.log(hp.lower), math.log(hp.upper))
        return H.uniform(name, hp.lower, hp.upper)
    if isinstance(hp, UniformIntegerHyperparameter):
        pad = 0.5 if int_encoding == "quniform" else 0.0
        if hp.log:
            return H.qloguniform(name, math.log(hp.lower - pad), math.log(hp.upper + pad), 1)
        if pad:
            return H.quniform(name, hp.lower - pad, hp.upper + pad, 1)
        return H.uniformint(name, int(hp.lower), int(hp.upper))
    return H.choice(name, _choices(hp))


def _hyperopt_space(cs: ConfigurationSpace, int_encoding: str = "uniformint"):
    """A hyperopt space: nested ``hp.choice`` when every condition is 'categorical parent == / in values'."""
    simple = all(
        isinstance(c, (EqualsCondition, InCondition)) and isinstance(c.parent, CategoricalHyperparameter)
        for c in cs.conditions
    ) and all(len(cs.parents_of[n]) <= 1 for n in cs.keys()) and all(
        isinstance(c, EqualsCondition) or len(c.values) == 1 for c in cs.conditions)
    if not cs.conditions or not simple:
        return {n: _hyperopt_dim(n, cs[n], int_encoding) for n in cs.keys()}, False

    from hyperopt import hp as H

    def children(parent: str, value) -> list[str]:
        out = []
        for c in cs.conditions:
            if c.parent.name != parent:
                continue
            values = [c.value] if isinstance(c, EqualsCondition) else list(c.values)
            if value in values:
                out.append(c.child.name)
        return out

    def node(name: str):
        hp = cs[name]
        if not isinstance(hp, CategoricalHyperparameter) or not cs.children_of[name]:
            return _hyperopt_dim(name, hp, int_encoding)
        options = []
        for value in hp.choices:
            option = {"__name": name, "__value": value}
            option.update({child: node(child) for child in children(name, value)})
            options.append(option)
        return H.choice(name, options)

    roots = [n for n in cs.keys() if not cs.parents_of[n]]
    return {n: node(n) for n in roots}, True


def _flatten(sample: dict) -> dict:
    out = {}
    for key, value in sample.items():
        if isinstance(value, dict) and "__name" in value:
            out[value["__name"]] = value["__value"]
            out.update(_flatten({k: v for k, v in value.items() if not k.startswith("__")}))
        else:
            out[key] = value
    return out


def _cast(hp, value):
    if isinstance(hp, UniformIntegerHyperparameter):
        return int(min(max(int(round(float(value))), hp.lower), hp.upper))
    if isinstance(hp, UniformFloatHyperparameter):
        return float(min(max(float(value), hp.lower), hp.upper))
    return value.item() if isinstance(value, np.generic) else value


# --- SMAC3 -------------------------------------------------------------------------


def _smac(facade_name: str):
    def run(cs: ConfigurationSpace, objective: Objective, budget: int, seed: int, settings: dict,
            history: list) -> None:
        import logging

        import smac
        from ConfigSpace import Configuration
        from smac import Scenario
        from smac.runhistory.dataclasses import TrialInfo, TrialValue

        logging.getLogger("smac").setLevel(logging.ERROR)
        facade = getattr(smac, facade_name)
        save = settings.get("save", True)
        with tempfile.TemporaryDirectory(prefix="smac3-") as tmp:
            scenario = Scenario(cs, deterministic=True, n_trials=settings.get("n_trials", len(history) + budget),
                                seed=seed, output_directory=tmp)
            extra: dict = {}
            if settings.get("forest_n_jobs") is not None:
                model = facade.get_model(scenario)
                if hasattr(model, "_rf_opts"):  # the HPO facade's random forest (SMAC's default: -1 threads)
                    model._rf_opts["n_jobs"] = settings["forest_n_jobs"]
                extra["model"] = model
            if settings.get("initial_design") is not None:
                extra["initial_design"] = facade.get_initial_design(scenario, n_configs=settings["initial_design"])
            opt = facade(scenario, _dummy_target, overwrite=True, logging_level=40, **extra)
            from smac.main.exceptions import ConfigurationSpaceExhaustedException

            for config, loss in history:
                opt.tell(TrialInfo(Configuration(cs, values=config), seed=0), TrialValue(cost=loss), save=save)
            for i in range(budget):
                try:
                    info = opt.ask()
                except ConfigurationSpaceExhaustedException:
                    raise PeerStopped(f"SMAC found no new configuration after {i} evaluations (space exhausted)") from None
                loss = objective(dict(info.config))
                opt.tell(info, TrialValue(cost=loss if math.isfinite(loss) else 1e12), save=save)

    return run


def _dummy_target(config, seed: int = 0) -> float:  # SMAC needs a target; ask/tell never calls it
    raise RuntimeError("ask/tell only")


# --- HEBO ------------------------------------------------------------------------------


def _hebo(cs: ConfigurationSpace, objective: Objective, budget: int, seed: int, settings: dict, history: list) -> None:
    import torch
    from hebo.design_space.design_space import DesignSpace
    from hebo.optimizers.hebo import HEBO

    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    space = Space(cs)
    params = []
    for name in cs.keys():
        hp = cs[name]
        if isinstance(hp, UniformFloatHyperparameter):
            kind = "pow" if hp.log else "num"
            params.append({"name": name, "type": kind, "lb": hp.lower, "ub": hp.upper})
        elif isinstance(hp, UniformIntegerHyperparameter):
            kind = "pow_int" if hp.log else "int"
            params.append({"name": name, "type": kind, "lb": int(hp.lower), "ub": int(hp.upper)})
        else:
            params.append({"name": name, "type": "cat", "categories": [str(c) for c in _choices(hp)]})
    opt = HEBO(DesignSpace().parse(params), scramble_seed=seed)
    with _seeded_pymoo():
        _hebo_loop(opt, cs, space, objective, budget)


def _hebo_loop(opt, cs, space, objective, budget) -> None:
    for _ in range(budget):
        rec = opt.suggest(n_suggestions=1)
        row = rec.iloc[0].to_dict()
        config = {}
        for name in cs.keys():
            hp = cs[name]
            if isinstance(hp, (UniformFloatHyperparameter, UniformIntegerHyperparameter)):
                config[name] = _cast(hp, row[name])
            else:
                config[name] = next(c for c in _choices(hp) if str(c) == str(row[name]))
        config = {k: config[k] for k in space.active_names(config)}
        loss = objective(config)
        opt.observe(rec, np.array([[loss if math.isfinite(loss) else 1e12]]))


class _seeded_pymoo:
    """HEBO calls pymoo's ``minimize`` without a seed; pymoo >= 0.6.1 then seeds from the OS.

    Hand it a seed drawn from numpy's global generator (which the run seeded), so HEBO runs
    reproduce; nothing else about HEBO changes.
    """

    def __enter__(self):
        import hebo.acq_optimizers.evolution_optimizer as evo

        self._evo, self._orig = evo, evo.minimize
        orig = self._orig

        def minimize(*args, **kwargs):
            kwargs.setdefault("seed", int(np.random.randint(0, 2**31 - 1)))
            return orig(*args, **kwargs)

        evo.minimize = minimize
        return self

    def __exit__(self, *exc):
        self._evo.minimize = self._orig
        return False


# --- Ax --------------------------------------------------------------------------------


def _ax(cs: ConfigurationSpace, objective: Objective, budget: int, seed: int, settings: dict, history: list) -> None:
    import logging
    import warnings

    previous = logging.root.manager.disable
    logging.disable(logging.INFO)  # Ax logs at INFO while it is imported
    try:
        from ax.api import Client
        from ax.utils.common.logger import set_ax_logger_levels
    finally:
        logging.disable(previous)
    set_ax_logger_levels(logging.ERROR)
    for name in ("ax", "botorch", "gpytorch", "linear_operator"):
        logging.getLogger(name).setLevel(logging.ERROR)
    space = Space(cs)
    params, fixed = _ax_parameters(cs)
    client = Client(random_seed=seed)
    client.configure_experiment(parameters=params)
    client.configure_optimization(objective="-loss")
    for i in range(budget):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                trials = client.get_next_trials(max_trials=1)
            except Exception as e:  # Ax raises when a small discrete space has no unseen point left
                if "exhaust" in str(e).lower() or "no more" in str(e).lower() or "unique" in str(e).lower():
                    raise PeerStopped(f"Ax proposed no new configuration after {i} evaluations: {e}") from None
                raise
        (index, params_out), = trials.items()
        config = {**fixed, **{k: _cast(cs[k], v) for k, v in params_out.items() if k in cs}}
        config = {k: config[k] for k in space.active_names(config) if k in config}
        loss = objective(config)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if math.isfinite(loss):
                client.complete_trial(trial_index=index, raw_data={"loss": float(loss)})
            else:
                client.mark_trial_failed(trial_index=index)


def _ax_parameters(cs: ConfigurationSpace) -> tuple[list, dict]:
    """Ax parameter configs for ``cs`` (and the constants, which Ax does not take).

    A child whose only condition is 'categorical parent == / in values' becomes one of the
    parent's ``dependent_parameters`` (Ax's hierarchical space), when that makes a tree: Ax
    refuses a child under two values of its parent (an SVM's ``gamma`` under three kernels).
    Other conditions (several parents, numeric parents, forbidden clauses, a child under
    several values) are not declared: Ax sees every parameter and the inactive ones are
    dropped before evaluation, as for HEBO.
    """
    from ax.api.configs import ChoiceParameterConfig, RangeParameterConfig

    simple = all(
        isinstance(c, (EqualsCondition, InCondition)) and isinstance(c.parent, CategoricalHyperparameter)
        for c in cs.conditions
    ) and all(len(cs.parents_of[n]) <= 1 for n in cs.keys()) and all(
        isinstance(c, EqualsCondition) or len(c.values) == 1 for c in cs.conditions)
    dependents: dict[str, dict] = {}
    if simple:
        for c in cs.conditions:
            values = [c.value] if isinstance(c, EqualsCondition) else list(c.values)
            for v in values:
                dependents.setdefault(c.parent.name, {}).setdefault(v, []).append(c.child.name)
    params, fixed = [], {}
    for name in cs.keys():
        hp = cs[name]
        if isinstance(hp, UniformFloatHyperparameter):
            params.append(RangeParameterConfig(name=name, bounds=(float(hp.lower), float(hp.upper)),
                                               parameter_type="float", scaling="log" if hp.log else "linear"))
        elif isinstance(hp, UniformIntegerHyperparameter):
            params.append(RangeParameterConfig(name=name, bounds=(int(hp.lower), int(hp.upper)),
                                               parameter_type="int", scaling="log" if hp.log else "linear"))
        else:
            choices = _choices(hp)
            if len(choices) == 1:
                fixed[name] = choices[0]
                continue
            kind = _ax_kind(choices)
            deps = dependents.get(name)
            if deps:
                deps = {v: deps.get(v, []) for v in choices}
            params.append(ChoiceParameterConfig(name=name, values=list(choices), parameter_type=kind,
                                                is_ordered=isinstance(hp, OrdinalHyperparameter),
                                                dependent_parameters=deps or None))
    return params, fixed


def _ax_kind(choices: list) -> str:
    if all(isinstance(c, bool) for c in choices):
        return "bool"
    if all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in choices):
        return "int"
    if all(isinstance(c, (int, float, np.number)) and not isinstance(c, bool) for c in choices):
        return "float"
    if all(isinstance(c, str) for c in choices):
        return "str"
    raise ValueError(f"Ax takes choices of one type (str, int, float or bool), got {choices!r}")


PEERS: dict[str, Callable[[ConfigurationSpace, Objective, int, int, dict, list], None]] = {
    "optuna-tpe": _optuna("TPESampler"),
    "optuna-gp": _optuna("GPSampler"),
    "optuna-random": _optuna("RandomSampler"),
    "hyperopt": _hyperopt,
    "smac3-hpo": _smac("HyperparameterOptimizationFacade"),
    "smac3-bb": _smac("BlackBoxFacade"),
    "hebo": _hebo,
    "ax": _ax,
}

# the settings each peer takes (None: any, checked by the library itself)
_SETTINGS: dict[str, tuple[str, ...] | None] = {
    "optuna-tpe": None, "optuna-gp": None, "optuna-random": None,
    "hyperopt": ("n_startup_jobs", "int_encoding"),
    "smac3-hpo": ("n_trials", "initial_design", "forest_n_jobs", "save"),
    "smac3-bb": ("n_trials", "initial_design", "forest_n_jobs", "save"),
    "hebo": (), "ax": (),
}
