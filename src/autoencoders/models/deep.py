"""The lecture notebook's deep autoencoder, under its original names.

``DeepEncoder(input_shape, num_layers, latent_dim)`` and
``DeepDecoder(latent_dim, num_layers, output_shape)``.
"""

from autoencoders.nn.decoders import MLPDecoder
from autoencoders.nn.encoders import MLPEncoder

DeepEncoder = MLPEncoder
DeepDecoder = MLPDecoder

__all__ = ["DeepDecoder", "DeepEncoder"]
