"""Local LLM serving for LLAMBO: ``hpo llm serve`` and :class:`LocalServer` (see :mod:`hpo.llm.serve`).

Example:
    >>> from hpo.llm.serve import MODELS
    >>> sorted(MODELS)
    ['gemma3-270m', 'smollm2-135m']
"""
