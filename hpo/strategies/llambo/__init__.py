"""LLAMBO: LLM-guided Bayesian optimisation through any OpenAI-compatible endpoint.

``client`` (the endpoint, cache, retries), ``prompts`` (the three prompt families),
``parsing`` (replies -> validated configurations), ``strategy`` (the Strategy). Registered
as ``llambo`` and ``llambo:<base>``.

Example:
    >>> from hpo.strategies import make_strategy
    >>> make_strategy("llambo:random", base_url=None).base_name
    'random'
"""

from hpo.strategies.llambo.client import LLMClient, LLMError, Reply, ResponseCache
from hpo.strategies.llambo.prompts import ProblemContext, context_from_benchmark, context_from_objective
from hpo.strategies.llambo.strategy import LLAMBOStrategy, study_stats

__all__ = ["LLAMBOStrategy", "LLMClient", "LLMError", "Reply", "ResponseCache", "ProblemContext",
           "context_from_benchmark", "context_from_objective", "study_stats"]
