"""The lecture notebook's import path for its deep parts; see :mod:`autoencoders.lecture`."""

from autoencoders.lecture import DeepDecoder, DeepEncoder

__all__ = ["DeepDecoder", "DeepEncoder"]
