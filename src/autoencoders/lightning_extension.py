"""The lecture notebook's import path for the training module."""

from autoencoders.module import AutoEncoder

__all__ = ["AutoEncoder"]
