"""The lecture notebook's import path for its training module; see :mod:`autoencoders.lecture`."""

from autoencoders.lecture import AutoEncoder

__all__ = ["AutoEncoder"]
