"""Autoencoders for learning, comparing and using, on PyTorch Lightning.

Example:
    >>> import autoencoders
    >>> sorted(autoencoders.VARIANTS)[:3]
    ['deep', 'denoising', 'simple']
"""

from autoencoders.checkpoint import load
from autoencoders.models import VARIANTS, build_model, make_config
from autoencoders.module import AutoEncoder

__version__ = "0.1.0"

__all__ = ["VARIANTS", "AutoEncoder", "__version__", "build_model", "load", "make_config"]
