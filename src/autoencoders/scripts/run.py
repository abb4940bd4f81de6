"""The lecture notebook's import path for its training helpers; see :mod:`autoencoders.lecture`.

To train a model from the command line, use ``autoencoders train --model NAME``.
"""

from autoencoders.lecture import _train, build_logger

__all__ = ["_train", "build_logger"]
