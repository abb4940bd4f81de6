"""The lecture notebook's import path for its sparse bottleneck; see :mod:`autoencoders.lecture`.

The ``sparse`` model itself is ``make_config("sparse")``.
"""

from autoencoders.lecture import SparseBottleneck

__all__ = ["SparseBottleneck"]
