"""The suite that chooses and judges hpo's default strategy (``auto``), split before any tuning.

24 problems in 12 matched pairs; one problem of each pair is in ``DEV`` (every rule of
``auto`` and every default of ``botorch`` is chosen on it), the other in ``TEST`` (only
reported). A pair shares the kind of search space, so the two halves cover the same kinds;
the members differ in dataset, dimension, shift or shape, so doing well on ``TEST`` takes
rules that carry over, not rules fitted to ``DEV``.

=============================  ===========================  ======================================
kind of space                  dev                          test
=============================  ===========================  ======================================
2 log floats (RBF SVM)         ml-svm-digits                ml-svm-diabetes
small discrete (kNN)           ml-knn-diabetes              ml-knn-digits
conditional kernel (SVM)       ml-svmk-wine                 ml-svmk-breast_cancer
model selection, 10 params     ml-cash-diabetes             ml-cash-digits
linear by SGD, 10 mixed/cond.  ml-sgd-digits                ml-sgd-diabetes
extra trees, integer-heavy     ml-trees-diabetes            ml-trees-breast_cancer
gradient boosting, 8 params    ml-hgb-breast_cancer         ml-hgb-diabetes
classic, optimum off centre    branin                       hartmann6
shifted multimodal, 6-D        levy6-shifted                ackley6-shifted
shifted, 12-16-D               rosenbrock12-shifted         styblinski16-shifted
mixed / integer-heavy          mixed                        int-levy8
conditional (nested/branches)  cond-shifted                 conditional
=============================  ===========================  ======================================

14 of the 24 are live scikit-learn models cross-validated on datasets scikit-learn ships
(:mod:`benchmarks.ml`); 10 are synthetic (:mod:`benchmarks.synthetic`), whose optima lie
off the centre and off the bounds of the box (the shifted ones by construction; Branin's,
Hartmann-6's and the mixed/conditional ones' by their definition), so trying the centre
first earns nothing there. One evaluation costs 1-5 ms (synthetic) or 40-170 ms (ML) of
CPU (``python -m benchmarks.eval_timing --benchmarks default-dev,default-test``).

The dev half turned out all but solved by the leaders (auto and Ax both score 95 or more at 40
trials on 10 of its 12 problems, against 4 of 12 on the test half), so it cannot tell candidate
defaults apart. ``DEV_HARD`` adds 8 choosing problems, declared (2026-12-04) before any strategy
ran on them: the kinds of space on which the test half shows auto behind Ax (shifted multimodal,
shifted smooth, integer-heavy trees, conditional kernels, conditional linear models), each on a
function, dimension or dataset that is in neither half. Like ``DEV`` they choose, never report.
Choosing the kinds from the test half's gaps is a look at the test half; the problems are not.

The experiment that chooses and reports the default (:mod:`benchmarks.experiments.default`)::

    python -m benchmarks.experiments.default run --jobs 2

Example:
    >>> from benchmarks.default_suite import DEV, TEST, PAIRS
    >>> len(DEV), len(TEST), len(set(DEV) & set(TEST))
    (12, 12, 0)
    >>> PAIRS[0]
    ('2 log floats (RBF SVM)', 'ml-svm-digits', 'ml-svm-diabetes')
"""

from __future__ import annotations

__all__ = ["PAIRS", "DEV", "TEST", "DEV_HARD", "BUDGETS"]

# (kind of space, dev problem, test problem): frozen before any tuning (see the module docstring)
PAIRS: list[tuple[str, str, str]] = [
    ("2 log floats (RBF SVM)", "ml-svm-digits", "ml-svm-diabetes"),
    ("small discrete (kNN)", "ml-knn-diabetes", "ml-knn-digits"),
    ("conditional kernel (SVM)", "ml-svmk-wine", "ml-svmk-breast_cancer"),
    ("model selection, 10 params", "ml-cash-diabetes", "ml-cash-digits"),
    ("linear by SGD, 10 mixed/conditional", "ml-sgd-digits", "ml-sgd-diabetes"),
    ("extra trees, integer-heavy", "ml-trees-diabetes", "ml-trees-breast_cancer"),
    ("gradient boosting, 8 params", "ml-hgb-breast_cancer", "ml-hgb-diabetes"),
    ("classic, optimum off centre", "branin", "hartmann6"),
    ("shifted multimodal, 6-D", "levy6-shifted", "ackley6-shifted"),
    ("shifted, 12-16-D", "rosenbrock12-shifted", "styblinski16-shifted"),
    ("mixed / integer-heavy", "mixed", "int-levy8"),
    ("conditional (nested / branches)", "cond-shifted", "conditional"),
]
DEV: list[str] = [dev for _, dev, _ in PAIRS]
TEST: list[str] = [test for _, _, test in PAIRS]
# choosing problems with headroom, frozen 2026-12-04 before any run on them (see the module docstring)
DEV_HARD: list[str] = [
    "rastrigin6-shifted", "levy10-shifted",  # shifted multimodal
    "styblinski8-shifted", "rosenbrock6-shifted",  # shifted, smooth or one-basin
    "ml-trees-wine", "ml-trees-digits",  # extra trees, integer-heavy
    "ml-svmk-digits", "ml-sgd-breast_cancer",  # conditional kernel; linear by SGD, mixed/conditional
]
BUDGETS = (10, 20, 40, 100)
