"""Surrogate models for model-based strategies: one interface, ``fit(X, y)`` and
``predict(X) -> (mean, std)``, over features built from ConfigSpace vectors.

* :class:`Encoder`: ConfigSpace vectors -> finite features (one-hot or codes, inactive imputed);
* :class:`GPSurrogate`: scikit-learn Gaussian process, Matérn 5/2 with ARD;
* :class:`ForestSurrogate`: scikit-learn random forest / extra-trees, std over trees;
* :class:`GAMSurrogate`: pygam additive model, spline and factor terms;
* :class:`SurrogateFitError`: raised when a model cannot be fitted (callers fall back).

The models are imported lazily, so ``import surrogates`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module

from surrogates.base import Surrogate, SurrogateFitError
from surrogates.encoding import Encoder

__all__ = ["Encoder", "ForestSurrogate", "GAMSurrogate", "GPSurrogate", "Surrogate", "SurrogateFitError"]

_LAZY = {"GPSurrogate": "surrogates.gp", "ForestSurrogate": "surrogates.forest", "GAMSurrogate": "surrogates.gam"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'surrogates' has no attribute {name!r}")
