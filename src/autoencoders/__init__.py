"""Autoencoders for learning, comparing and using, on PyTorch Lightning.

Example:
    >>> import autoencoders
    >>> sorted(autoencoders.VARIANTS)[:3]
    ['deep', 'denoising', 'simple']
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from autoencoders.registry import VARIANTS, make_config

if TYPE_CHECKING:
    from autoencoders.checkpoint import load
    from autoencoders.detector import AutoencoderOutlierDetector, OutlierEnsemble
    from autoencoders.estimator import AutoencoderTransformer
    from autoencoders.models import build_model
    from autoencoders.module import AutoEncoder

__version__ = "0.1.0"

__all__ = [
    "VARIANTS",
    "AutoEncoder",
    "AutoencoderOutlierDetector",
    "AutoencoderTransformer",
    "OutlierEnsemble",
    "__version__",
    "build_model",
    "load",
    "make_config",
]

# Loaded on first use: torch, Lightning and scikit-learn take seconds to import, and
# `import autoencoders` (every CLI start, `--help` included) should not wait for them.
_LAZY = {
    "AutoEncoder": "autoencoders.module",
    "AutoencoderOutlierDetector": "autoencoders.detector",
    "AutoencoderTransformer": "autoencoders.estimator",
    "OutlierEnsemble": "autoencoders.detector",
    "build_model": "autoencoders.models",
    "load": "autoencoders.checkpoint",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
