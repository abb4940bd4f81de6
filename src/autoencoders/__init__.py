"""Autoencoders for learning, comparing and using, on PyTorch Lightning.

Example:
    >>> import autoencoders
    >>> sorted(autoencoders.VARIANTS)[:3]
    ['deep', 'denoising', 'simple']
"""

from typing import TYPE_CHECKING, Any

from autoencoders.checkpoint import load
from autoencoders.models import VARIANTS, build_model, make_config
from autoencoders.module import AutoEncoder

if TYPE_CHECKING:
    from autoencoders.estimator import AutoencoderTransformer

__version__ = "0.1.0"

__all__ = [
    "VARIANTS",
    "AutoEncoder",
    "AutoencoderTransformer",
    "__version__",
    "build_model",
    "load",
    "make_config",
]


def __getattr__(name: str) -> Any:
    # The estimator imports scikit-learn; loading it on first use keeps `import autoencoders` fast.
    if name == "AutoencoderTransformer":
        from autoencoders.estimator import AutoencoderTransformer

        return AutoencoderTransformer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
