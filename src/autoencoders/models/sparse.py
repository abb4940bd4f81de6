"""The lecture notebook's sparse bottleneck.

``SparseBottleneck(latent_dim, loss_type, sparsity, beta)``.
"""

from autoencoders.nn.bottlenecks import SparseBottleneck

__all__ = ["SparseBottleneck"]
