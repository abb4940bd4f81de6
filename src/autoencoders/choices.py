"""The names an option with choices accepts, as plain data.

Configs validate against these tuples and the command line lists them in
``--help``, without importing torch. The code behind each name lives with its
kind (:mod:`autoencoders.losses`, :mod:`autoencoders.nn.noise`, ...), which
imports its tuple from here, so a name is spelled in one place; a test checks
that every name has its implementation and the other way round.
"""

from __future__ import annotations

#: reconstruction losses (autoencoders.losses.reconstruction_loss)
RECON_LOSSES = ("bce", "mse", "rmse")
#: decoder outputs (autoencoders.nn.decoders)
OUTPUT_ACTIVATIONS = ("sigmoid", "identity")
#: input corruptions (autoencoders.nn.noise.corrupt)
NOISE_KINDS = ("salt_pepper", "gaussian", "masking")
#: sparsity penalties (autoencoders.nn.bottlenecks.SparseBottleneck)
SPARSE_LOSSES = ("kld", "log", "l1")
#: encoder/decoder families (autoencoders.models.architectures.ARCHITECTURES)
ARCHITECTURES = ("linear", "mlp", "conv", "conv1d", "lstm")
