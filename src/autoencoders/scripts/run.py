"""The lecture notebook's import path for its training helpers; see :mod:`autoencoders.lecture`.

To train a model from the command line, use ``autoencoders train --model NAME``.
"""

from autoencoders.lecture import build_logger, train_lecture_model

#: the lecture's name for it (``from autoencoders.scripts.run import _train``)
_train = train_lecture_model

__all__ = ["_train", "build_logger"]
