"""Synthetic test functions with known optima: cheap, exact, deterministic.

Branin, Hartmann-6, Levy, Rosenbrock and Ackley on their usual domains; ``Mixed`` (floats,
integers and a categorical) and ``Conditional`` (a categorical switch that activates
different sub-spaces); ``Shifted`` functions (Ackley, Levy, Rosenbrock, Styblinski-Tang,
Rastrigin in any dimension) whose optimum is moved to a fixed point away from both the
centre and the bounds of the box, so that no strategy gains from trying the centre or a
corner first; ``IntegerLevy`` (integer-heavy, with a categorical) and
``ShiftedConditional`` (two levels of conditions) built the same way; and two multi-fidelity variants (``BraninMF``, ``Hartmann6MF``)
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
import zlib

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
    "Shifted",
    "IntegerLevy",
    "ShiftedConditional",
    "off_centre_point",
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


def styblinski_tang(x: np.ndarray) -> np.ndarray:
    """Styblinski-Tang, divided by the dimension; minimum -39.16617 at (-2.903534, ...)."""
    x = np.asarray(x, dtype=float)
    return np.sum(x**4 - 16 * x**2 + 5 * x, axis=-1) / (2 * x.shape[-1])


def rastrigin(x: np.ndarray) -> np.ndarray:
    """Rastrigin; global minimum 0 at the origin."""
    x = np.asarray(x, dtype=float)
    return 10 * x.shape[-1] + np.sum(x**2 - 10 * np.cos(2 * math.pi * x), axis=-1)


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


def _levy_term(z: np.ndarray, i: int, d: int) -> np.ndarray:
    """Coordinate ``i``'s share of ``levy`` in ``d`` dimensions (Levy is a sum of such terms)."""
    w = 1 + (np.asarray(z, dtype=float) - 1) / 4
    out = np.sin(math.pi * w) ** 2 if i == 0 else np.zeros_like(w)
    if i < d - 1:
        out = out + (w - 1) ** 2 * (1 + 10 * np.sin(math.pi * w + 1) ** 2)
    else:
        out = out + (w - 1) ** 2 * (1 + np.sin(2 * math.pi * w) ** 2)
    return out


def off_centre_point(name: str, dim: int) -> np.ndarray:
    """A fixed point of the unit cube for problem ``name``: each coordinate uniform in
    [0.1, 0.4] or [0.6, 0.9] (seeded by the name), so it is neither the centre nor a bound."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    u = rng.uniform(0.1, 0.4, dim)
    return np.where(rng.random(dim) < 0.5, u, 1.0 - u)


# function -> (box per dimension, location of the minimum per dimension, minimum value)
_SHIFTABLE = {
    "ackley": (ackley, (-32.768, 32.768), 0.0, 0.0),
    "levy": (levy, (-10.0, 10.0), 1.0, 0.0),
    "rosenbrock": (rosenbrock, (-5.0, 10.0), 1.0, 0.0),
    "styblinski": (styblinski_tang, (-5.0, 5.0), -2.903534027771178, -39.16616570377142),
    "rastrigin": (rastrigin, (-5.12, 5.12), 0.0, 0.0),
}


class Shifted(_BoxBenchmark):
    """``function`` in ``dim`` dimensions on its usual box, its minimum moved off the centre.

    ``f(x - t)`` with the translation ``t`` that puts the minimum at
    :func:`off_centre_point` of the box. The name is ``<function><dim>-shifted``, e.g.
    ``ackley16-shifted``; the optimum keeps its value.

    Example:
        >>> b = Shifted("levy", 4)
        >>> x = {f"x{i}": v for i, v in enumerate(b.argmin)}
        >>> abs(b.objective_function(x)["function_value"]) < 1e-12
        True
    """

    def __init__(self, function: str, dim: int, rng: int | None = None):
        super().__init__(rng)
        if function not in _SHIFTABLE:
            raise ValueError(f"unknown function {function!r}; shiftable: {', '.join(_SHIFTABLE)}")
        if dim < 2:
            raise ValueError(f"dim must be >= 2, got {dim}")
        self._fn, (lo, hi), at, self.optimum = _SHIFTABLE[function]
        self.name = f"{function}{dim}-shifted"
        self.bounds = [(lo, hi)] * dim
        self.argmin = lo + off_centre_point(self.name, dim) * (hi - lo)
        self._shift = self.argmin - at

    def _f(self, x):
        return self._fn(x - self._shift)


class IntegerLevy(AbstractBenchmark):
    """Levy (8-D) over six integers, one float and a categorical; minimum moved off the centre.

    Integers ``n0..n5`` with ranges [0, 10], [0, 30], [1, 64] (log), [-20, 20], [2, 9],
    [0, 100]; a float ``r`` in [1e-3, 1] (log); ``mode`` in a / b / c, which moves the minimum
    of ``n1`` and adds 0, 0.3 or 0.8. Each parameter is mapped to the Levy box [-10, 10]
    through its unit-cube position; the minimum (0, mode a) lies at the integers nearest to
    :func:`off_centre_point`, so the best reachable value is a little above 0.
    """

    name = "int-levy8"
    family = "synthetic"
    _INTS = [("n0", 0, 10, False), ("n1", 0, 30, False), ("n2", 1, 64, True), ("n3", -20, 20, False),
             ("n4", 2, 9, False), ("n5", 0, 100, False)]
    _MODE_SHIFT = {"a": 0.0, "b": 0.25, "c": -0.3}
    _MODE_OFFSET = {"a": 0.0, "b": 0.3, "c": 0.8}

    def get_configuration_space(self, seed: int | None = None) -> ConfigurationSpace:
        cs = ConfigurationSpace(seed=seed)
        cs.add([UniformIntegerHyperparameter(n, lo, hi, log=log) for n, lo, hi, log in self._INTS])
        cs.add([UniformFloatHyperparameter("r", 1e-3, 1.0, log=True), CategoricalHyperparameter("mode", ["a", "b", "c"])])
        return cs

    def _unit(self, config: dict) -> np.ndarray:
        u = []
        for n, lo, hi, log in self._INTS:
            v = float(config[n])
            u.append((math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo)) if log else (v - lo) / (hi - lo))
        u.append((math.log(config["r"]) - math.log(1e-3)) / -math.log(1e-3))
        return np.array(u)

    @property
    def optimum(self) -> float:
        """The exact minimum over the integer grid (Levy is a sum of one-coordinate terms)."""
        best = math.inf
        for mode in self._MODE_SHIFT:
            target = self._target(mode)
            total = self._MODE_OFFSET[mode]
            for i, (n, lo, hi, log) in enumerate(self._INTS):
                grid = np.arange(lo, hi + 1, dtype=float)
                u = (np.log(grid) - math.log(lo)) / (math.log(hi) - math.log(lo)) if log else (grid - lo) / (hi - lo)
                total += float(np.min(_levy_term(1.0 + 20.0 * (u - target[i]), i, 8)))
            best = min(best, total)  # the float r reaches its target exactly: its term is 0
        return best

    def _target(self, mode: str) -> np.ndarray:
        target = off_centre_point(self.name, 7)
        target[1] += self._MODE_SHIFT[mode]
        return target

    def _evaluate(self, config, fidelity, rng):
        u = self._unit(config)
        target = off_centre_point(self.name, 7)
        target[1] += self._MODE_SHIFT[config["mode"]]
        z = 1.0 + 20.0 * (u - target)
        return float(levy(np.append(z, 1.0))) + self._MODE_OFFSET[config["mode"]], 1.0, {}


class ShiftedConditional(AbstractBenchmark):
    """Two levels of conditions: ``kind`` picks a sub-problem, one of which has its own switch.

    * ``kind=smooth``: shifted Rosenbrock over ``s0..s3`` in [-5, 10] (minimum 0.1 above the best);
    * ``kind=rugged``: shifted Levy over ``r0, r1`` in [-10, 10] and integer ``r2`` in [-10, 10],
      plus ``variant`` in {plain, scaled}: ``scaled`` activates ``r3`` in [1e-2, 1e2] (log),
      which multiplies the value by ``1 + (log10 r3 - 0.7)^2`` and subtracts 0.05 (the global
      minimum lies there);
    * ``kind=flat``: a float ``f0`` in [0, 1]; 2 + f0 (never good).

    Optima of the sub-problems sit at :func:`off_centre_point` of their boxes.
    """

    name = "cond-shifted"
    family = "synthetic"

    @property
    def optimum(self) -> float:
        at = -10.0 + 20.0 * off_centre_point(self.name + "/rugged", 3)
        grid = np.arange(-10, 11, dtype=float)
        rugged = float(np.min(_levy_term(grid - at[2] + 1.0, 2, 3)))  # r0, r1 reach their targets
        return min(0.1, rugged - 0.05)

    def get_configuration_space(self, seed: int | None = None) -> ConfigurationSpace:
        F, I, C = UniformFloatHyperparameter, UniformIntegerHyperparameter, CategoricalHyperparameter
        cs = ConfigurationSpace(seed=seed)
        kind, variant = C("kind", ["smooth", "rugged", "flat"]), C("variant", ["plain", "scaled"])
        smooth = [F(f"s{i}", -5.0, 10.0) for i in range(4)]
        rugged = [F("r0", -10.0, 10.0), F("r1", -10.0, 10.0), I("r2", -10, 10)]
        r3, f0 = F("r3", 1e-2, 1e2, log=True), F("f0", 0.0, 1.0)
        cs.add([kind, *smooth, *rugged, variant, r3, f0])
        cs.add([EqualsCondition(p, kind, "smooth") for p in smooth])
        cs.add([EqualsCondition(p, kind, "rugged") for p in [*rugged, variant]])
        cs.add([EqualsCondition(r3, variant, "scaled"), EqualsCondition(f0, kind, "flat")])
        return cs

    def _evaluate(self, config, fidelity, rng):
        k = config["kind"]
        if k == "smooth":
            x = np.array([config[f"s{i}"] for i in range(4)])
            at = -5.0 + 15.0 * off_centre_point(self.name + "/smooth", 4)
            value = rosenbrock(x - at + 1.0) + 0.1
        elif k == "rugged":
            x = np.array([config["r0"], config["r1"], float(config["r2"])])
            at = -10.0 + 20.0 * off_centre_point(self.name + "/rugged", 3)
            value = levy(x - at + 1.0)
            if config["variant"] == "scaled":
                value = value * (1 + (math.log10(config["r3"]) - 0.7) ** 2) - 0.05
        else:
            value = 2.0 + config["f0"]
        return float(value), 1.0, {"kind": k}


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
