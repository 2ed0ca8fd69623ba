"""Synthetic test functions with known optima: cheap, exact, deterministic.

Branin, Hartmann-6, Levy, Rosenbrock and Ackley on their usual domains; ``Mixed`` (floats,
integers and a categorical) and ``Conditional`` (a categorical switch that activates
different sub-spaces); and two multi-fidelity variants (``BraninMF``, ``Hartmann6MF``)
whose fidelity ``s`` in [0, 1] biases the function as in Kandasamy et al. (2017), with a
nominal cost that grows with ``s``. Cost is nominal (evaluation units), not time.

Example:
    >>> from benchmarks.synthetic import Hartmann6
    >>> h = Hartmann6()
    >>> x = dict(zip(["x0", "x1", "x2", "x3", "x4", "x5"],
    ...              [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]))
    >>> round(h.objective_function(x)["function_value"], 4)
    -3.3224
"""

from __future__ import annotations

import math

import numpy as np
from ConfigSpace import (
    CategoricalHyperparameter,
    ConfigurationSpace,
    EqualsCondition,
    UniformFloatHyperparameter,
    UniformIntegerHyperparameter,
)

from benchmarks.base import AbstractBenchmark

__all__ = [
    "Branin",
    "Hartmann6",
    "Levy",
    "Rosenbrock",
    "Ackley",
    "Mixed",
    "Conditional",
    "BraninMF",
    "Hartmann6MF",
    "branin",
    "hartmann6",
    "levy",
    "rosenbrock",
    "ackley",
]

# --- the functions (vectorised over the last axis) ------------------------

_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def branin(x: np.ndarray, s: float = 1.0) -> np.ndarray:
    """Branin on [-5, 10] x [0, 15]; ``s < 1`` shifts b, c, t (Kandasamy et al.'s fidelity)."""
    x = np.asarray(x, dtype=float)
    x1, x2 = x[..., 0], x[..., 1]
    b = 5.1 / (4 * math.pi**2) - 0.01 * (1 - s)
    c = 5 / math.pi - 0.1 * (1 - s)
    t = 1 / (8 * math.pi) + 0.05 * (1 - s)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10


def hartmann6(x: np.ndarray, s: float = 1.0) -> np.ndarray:
    """Hartmann-6 on [0, 1]^6; ``s < 1`` lowers the mixture weights by 0.1 (1 - s)."""
    x = np.asarray(x, dtype=float)
    alpha = _H6_ALPHA - 0.1 * (1 - s)
    inner = np.sum(_H6_A * (x[..., None, :] - _H6_P) ** 2, axis=-1)
    return -np.sum(alpha * np.exp(-inner), axis=-1)


def levy(x: np.ndarray) -> np.ndarray:
    """Levy function; global minimum 0 at (1, ..., 1)."""
    w = 1 + (np.asarray(x, dtype=float) - 1) / 4
    head = np.sin(math.pi * w[..., 0]) ** 2
    mid = np.sum((w[..., :-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[..., :-1] + 1) ** 2), axis=-1)
    tail = (w[..., -1] - 1) ** 2 * (1 + np.sin(2 * math.pi * w[..., -1]) ** 2)
    return head + mid + tail


def rosenbrock(x: np.ndarray) -> np.ndarray:
    """Rosenbrock function; global minimum 0 at (1, ..., 1)."""
    x = np.asarray(x, dtype=float)
    return np.sum(100 * (x[..., 1:] - x[..., :-1] ** 2) ** 2 + (1 - x[..., :-1]) ** 2, axis=-1)


def ackley(x: np.ndarray) -> np.ndarray:
    """Ackley function; global minimum 0 at the origin."""
    x = np.asarray(x, dtype=float)
    d = x.shape[-1]
    a = -20 * np.exp(-0.2 * np.sqrt(np.sum(x**2, axis=-1) / d))
    return a - np.exp(np.sum(np.cos(2 * math.pi * x), axis=-1) / d) + 20 + math.e


# --- benchmarks -----------------------------------------------------------


class _BoxBenchmark(AbstractBenchmark):
    """A function of a float vector ``x0..x{d-1}`` on a box."""

    family = "synthetic"
    bounds: list[tuple[float, float]] = []

    def get_configuration_space(self, seed: int | None = None) -> ConfigurationSpace:
        cs = ConfigurationSpace(seed=seed)
        cs.add([UniformFloatHyperparameter(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(self.bounds)])
        return cs

    def _vector(self, config: dict) -> np.ndarray:
        return np.array([config[f"x{i}"] for i in range(len(self.bounds))], dtype=float)

    def _evaluate(self, config, fidelity, rng):
        return float(self._f(self._vector(config))), 1.0, {}

    def _f(self, x: np.ndarray) -> float:
        raise NotImplementedError


class Branin(_BoxBenchmark):
    """Branin (2-D); minimum 0.397887 at (-pi, 12.275), (pi, 2.275), (9.42478, 2.475)."""

    name = "branin"
    optimum = 0.397887357729738
    bounds = [(-5.0, 10.0), (0.0, 15.0)]

    def _f(self, x):
        return branin(x)


class Hartmann6(_BoxBenchmark):
    """Hartmann-6 on [0, 1]^6; minimum -3.32237."""

    name = "hartmann6"
    optimum = -3.322368011391339
    bounds = [(0.0, 1.0)] * 6

    def _f(self, x):
        return hartmann6(x)


class Levy(_BoxBenchmark):
    """Levy (4-D) on [-10, 10]^4; minimum 0 at (1, 1, 1, 1)."""

    name = "levy4"
    optimum = 0.0
    bounds = [(-10.0, 10.0)] * 4

    def _f(self, x):
        return levy(x)


class Rosenbrock(_BoxBenchmark):
    """Rosenbrock (4-D) on [-5, 10]^4; minimum 0 at (1, 1, 1, 1)."""

    name = "rosenbrock4"
    optimum = 0.0
    bounds = [(-5.0, 10.0)] * 4

    def _f(self, x):
        return rosenbrock(x)


class Ackley(_BoxBenchmark):
    """Ackley (5-D) on [-32.768, 32.768]^5; minimum 0 at the origin."""

    name = "ackley5"
    optimum = 0.0
    bounds = [(-32.768, 32.768)] * 5

    def _f(self, x):
        return ackley(x)


class Mixed(AbstractBenchmark):
    """Levy (4-D) over two floats and two integers, shifted and offset by a categorical.

    ``x0, x1`` in [-5, 5], integers ``n0, n1`` in [-5, 5], ``color`` in red / green / blue /
    black. The colour moves the optimum of ``x0`` and adds an offset; the minimum 0 is at
    color=red, x0=x1=n0=n1=1.
    """

    name = "mixed"
    family = "synthetic"
    optimum = 0.0
    _SHIFT = {"red": 0.0, "green": 1.5, "blue": -2.0, "black": 3.0}
    _OFFSET = {"red": 0.0, "green": 0.2, "blue": 0.5, "black": 1.0}

    def get_configuration_space(self, seed: int | None = None) -> ConfigurationSpace:
        cs = ConfigurationSpace(seed=seed)
        cs.add(
            [
                UniformFloatHyperparameter("x0", -5.0, 5.0),
                UniformFloatHyperparameter("x1", -5.0, 5.0),
                UniformIntegerHyperparameter("n0", -5, 5),
                UniformIntegerHyperparameter("n1", -5, 5),
                CategoricalHyperparameter("color", list(self._SHIFT)),
            ]
        )
        return cs

    def _evaluate(self, config, fidelity, rng):
        c = config["color"]
        z = np.array([config["x0"] - self._SHIFT[c], config["x1"], config["n0"], config["n1"]], dtype=float)
        return float(levy(z)) + self._OFFSET[c], 1.0, {}


class Conditional(AbstractBenchmark):
    """A categorical ``branch`` switches between three sub-problems with their own parameters.

    * ``branin``: ``a0`` in [-5, 10], ``a1`` in [0, 15]; Branin (minimum 0.397887);
    * ``hartmann``: ``h0..h5`` in [0, 1]; Hartmann-6 + 3.5 (minimum 0.177632);
    * ``quadratic``: integer ``q0`` in [-10, 10] and float ``q1`` in [-1, 1];
      1 + (q0 - 3)^2 / 10 + q1^2 (minimum 1).

    Only the parameters of the chosen branch are active. The global minimum is 0.177632.
    """

    name = "conditional"
    family = "synthetic"
    optimum = -3.322368011391339 + 3.5

    def get_configuration_space(self, seed: int | None = None) -> ConfigurationSpace:
        cs = ConfigurationSpace(seed=seed)
        branch = CategoricalHyperparameter("branch", ["branin", "hartmann", "quadratic"])
        a = [UniformFloatHyperparameter("a0", -5.0, 10.0), UniformFloatHyperparameter("a1", 0.0, 15.0)]
        h = [UniformFloatHyperparameter(f"h{i}", 0.0, 1.0) for i in range(6)]
        q = [UniformIntegerHyperparameter("q0", -10, 10), UniformFloatHyperparameter("q1", -1.0, 1.0)]
        cs.add([branch, *a, *h, *q])
        cs.add([EqualsCondition(p, branch, "branin") for p in a])
        cs.add([EqualsCondition(p, branch, "hartmann") for p in h])
        cs.add([EqualsCondition(p, branch, "quadratic") for p in q])
        return cs

    def _evaluate(self, config, fidelity, rng):
        b = config["branch"]
        if b == "branin":
            value = branin(np.array([config["a0"], config["a1"]]))
        elif b == "hartmann":
            value = hartmann6(np.array([config[f"h{i}"] for i in range(6)])) + 3.5
        else:
            value = 1 + (config["q0"] - 3) ** 2 / 10 + config["q1"] ** 2
        return float(value), 1.0, {"branch": b}


class _MFMixin:
    """Fidelity ``s`` in [0.05, 1] (default 1); nominal cost 0.05 + 0.95 s^2."""

    def get_fidelity_space(self, seed: int | None = None) -> ConfigurationSpace:
        cs = ConfigurationSpace(seed=seed)
        cs.add(UniformFloatHyperparameter("s", 0.05, 1.0, default_value=1.0))
        return cs

    def _evaluate(self, config, fidelity, rng):
        s = float(fidelity["s"])
        return float(self._f_s(self._vector(config), s)), 0.05 + 0.95 * s**2, {}


class BraninMF(_MFMixin, Branin):
    """Multi-fidelity Branin: at fidelity ``s`` the coefficients b, c, t are shifted by (1 - s)."""

    name = "branin-mf"
    family = "multifidelity"

    def _f_s(self, x, s):
        return branin(x, s)


class Hartmann6MF(_MFMixin, Hartmann6):
    """Multi-fidelity Hartmann-6: at fidelity ``s`` the mixture weights drop by 0.1 (1 - s)."""

    name = "hartmann6-mf"
    family = "multifidelity"

    def _f_s(self, x, s):
        return hartmann6(x, s)
