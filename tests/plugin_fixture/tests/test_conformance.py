from hpo.testing import StrategyTests


class TestLocalSearch(StrategyTests):
    strategy = "demo-local-search"  # found through the package's entry point
