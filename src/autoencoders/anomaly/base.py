"""What every anomaly score is (:class:`AnomalyScore`), apart from the registry of them.

The registry (:data:`autoencoders.anomaly.scores.SCORES`) holds global scores and
the map scores of :mod:`autoencoders.anomaly.maps`; both build on this class, so
it lives where neither module has to import the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np

    from autoencoders.codecs import Codec


class AnomalyScore:
    """One way of scoring samples as anomalous: fitted on normal data, then applied.

    ``fit`` sees normal training data (``x_normal``) and, where the caller has
    it, further normal data the model did not train on (``x_holdout``), on which
    normalising statistics are taken; ``score`` then maps any batch to one
    score per sample, higher meaning more anomalous, independently per sample.
    """

    #: the registry name
    name: ClassVar[str] = ""

    def fit(
        self, codec: Codec, x_normal: np.ndarray, x_holdout: np.ndarray | None = None
    ) -> AnomalyScore:
        return self

    def score(self, codec: Codec, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def is_activation(module: Any) -> bool:
    """Whether ``module`` is an activation layer (ReLU and the like): where scores look inside."""
    import torch

    kinds = (torch.nn.ReLU, torch.nn.LeakyReLU, torch.nn.ELU, torch.nn.GELU, torch.nn.SiLU,
             torch.nn.Tanh, torch.nn.Sigmoid)  # fmt: skip
    return isinstance(module, kinds)
