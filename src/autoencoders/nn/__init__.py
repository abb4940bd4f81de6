"""Plain ``nn.Module`` building blocks: encoders, bottlenecks, decoders, input noise."""

from autoencoders.nn.bottlenecks import Bottleneck, IdentityBottleneck, SparseBottleneck
from autoencoders.nn.decoders import Decoder, LinearDecoder, MLPDecoder
from autoencoders.nn.encoders import LinearEncoder, MLPEncoder
from autoencoders.nn.noise import NOISE_KINDS, corrupt

__all__ = [
    "NOISE_KINDS",
    "Bottleneck",
    "Decoder",
    "IdentityBottleneck",
    "LinearDecoder",
    "LinearEncoder",
    "MLPDecoder",
    "MLPEncoder",
    "SparseBottleneck",
    "corrupt",
]
