"""Optional dependencies: which extra installs which package, and the one-line error when one is missing.

``pip install hpo`` brings the core (optuna, ConfigSpace, numpy, scipy, scikit-learn and the
CLI libraries); a part that needs more says so when it is used, in one line that names the
extra to install.

Example:
    >>> require("numpy", "the core")  # installed: returns quietly
    >>> try:
    ...     require("smac_not_a_package", "strategy 'x'", extra="smac")
    ... except MissingExtraError as e:
    ...     print(e)
    strategy 'x' needs smac_not_a_package, which is not installed: pip install "hpo[smac]"
"""

from __future__ import annotations

import importlib.util

__all__ = ["MissingExtraError", "EXTRAS", "require", "hint"]

#: top-level import name -> the extra that installs it
EXTRAS: dict[str, str] = {
    "smac": "smac",
    "hyperopt": "hyperopt",
    "pygam": "homopt",
    "torch": "online",
    "botorch": "botorch",
    "gpytorch": "botorch",
    "ray": "ray",
    "openai": "llm",
    "llama_cpp": "llm-local",
    "peft": "lora",
    "transformers": "lora",
    "psycopg": "postgres",
    "matplotlib": "bench",
    "ax": "bench",
}


class MissingExtraError(ImportError):
    """An optional package is not installed; the message names the extra that installs it."""


def hint(module: str, what: str, extra: str | None = None) -> str:
    """The one-line message for ``what`` needing the missing ``module``."""
    top = module.split(".")[0]
    extra = extra or EXTRAS.get(top)
    fix = f'pip install "hpo[{extra}]"' if extra else f"pip install {top}"
    return f"{what} needs {top}, which is not installed: {fix}"


def require(module: str, what: str, extra: str | None = None) -> None:
    """Raise :class:`MissingExtraError` naming the extra unless ``module`` can be imported."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtraError(hint(module, what, extra), name=module.split(".")[0])
