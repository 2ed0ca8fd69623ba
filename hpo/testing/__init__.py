"""The strategy conformance kit: the checks every built-in strategy passes, for plugins too.

In a plugin's tests (pytest), three lines run the whole kit through the plugin's entry point::

    from hpo.testing import StrategyTests

    class TestMyStrategy(StrategyTests):
        strategy = "my-strategy"

``SamplerTests`` does the same with optuna's sampler kit; :func:`check_strategy` runs the
checks without pytest. The spaces, losses and history builders the checks use are in
:mod:`hpo.testing.problems`.

Example:
    >>> from hpo.testing import checks, maker
    >>> checks.check_ask_n_returns_distinct_configs(maker("random"))
"""

from hpo.testing.checks import FAST_CHECKS, SLOW_CHECKS, assert_in_space, check_strategy, maker
from hpo.testing.problems import MIXED, SMOOTH, history, mixed_loss, smooth_loss, trial

__all__ = ["StrategyTests", "SamplerTests", "check_strategy", "FAST_CHECKS", "SLOW_CHECKS", "assert_in_space",
           "maker", "MIXED", "SMOOTH", "history", "mixed_loss", "smooth_loss", "trial"]


def __getattr__(name: str):
    if name in ("StrategyTests", "SamplerTests"):  # they need pytest; the checks do not
        from hpo.testing import suite

        return getattr(suite, name)
    raise AttributeError(f"module 'hpo.testing' has no attribute {name!r}")
