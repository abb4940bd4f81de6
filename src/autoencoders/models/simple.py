"""The lecture notebook's one-layer autoencoder, under its original names."""

from autoencoders.nn.bottlenecks import IdentityBottleneck
from autoencoders.nn.decoders import LinearDecoder
from autoencoders.nn.encoders import LinearEncoder

SimpleEncoder = LinearEncoder
SimpleDecoder = LinearDecoder
SimpleBottleneck = IdentityBottleneck
#: the lecture notebook's spelling, kept so its imports run unchanged
SimpleBlottleneck = IdentityBottleneck

__all__ = ["SimpleBlottleneck", "SimpleBottleneck", "SimpleDecoder", "SimpleEncoder"]
