"""The lecture notebook's import path for its one-layer parts; see :mod:`autoencoders.lecture`."""

from autoencoders.lecture import SimpleBlottleneck, SimpleBottleneck, SimpleDecoder, SimpleEncoder

__all__ = ["SimpleBlottleneck", "SimpleBottleneck", "SimpleDecoder", "SimpleEncoder"]
