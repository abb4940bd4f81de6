"""An outlier detector backed by an autoencoder, in scikit-learn's and PyOD's conventions.

:class:`AutoencoderOutlierDetector` trains one of the registered models on data
that is mostly normal, fits one of the registered anomaly scores
(:data:`autoencoders.anomaly.scores.SCORES`) on it, and then flags the rows
that score worse than the ``contamination`` share of the training rows. It
follows scikit-learn's outlier detectors (``IsolationForest``,
``LocalOutlierFactor(novelty=True)``): ``predict`` gives +1 for inliers and -1
for outliers, ``score_samples`` is higher for more normal rows, and
``decision_function`` is ``score_samples - offset_``, negative for outliers.
It also sets PyOD's fitted attributes (``decision_scores_``, ``threshold_``,
``labels_``, where *higher* scores and label 1 mean outlier), so code written
for PyOD's detectors can read them.

Example:
    >>> from sklearn.datasets import load_digits
    >>> from autoencoders import AutoencoderOutlierDetector
    >>> X = load_digits().data
    >>> det = AutoencoderOutlierDetector("simple", epochs=2, contamination=0.05).fit(X)
    >>> int((det.predict(X) == -1).sum())
    90
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted

from autoencoders.anomaly import (
    SCORES,
    AnomalyScore,
    check_score_name,
    combine_scores,
    ensemble_scores,
    make_score,
)
from autoencoders.codecs import ModelCodec
from autoencoders.errors import ConfigError
from autoencoders.estimator import AutoencoderModelMixin, validate_data
from autoencoders.options import value_text

#: the largest ensemble: each member is a full training run
MAX_MODELS = 100


class _Thresholded(OutlierMixin):
    """scikit-learn's outlier conventions from ``score_samples`` and a fitted ``offset_``."""

    contamination: float

    def score_samples(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def decision_function(self, X: Any) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for outliers, positive for inliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """+1 for inliers and -1 for outliers."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    def _set_threshold(self, anomaly: np.ndarray) -> None:
        """The fitted threshold attributes, from the anomaly scores of the training rows."""
        # sklearn's convention: the contamination share of training rows lies below offset_.
        self.offset_ = float(np.percentile(-anomaly, 100.0 * self.contamination))
        self.decision_scores_ = anomaly
        self.threshold_ = -self.offset_
        self.labels_ = (anomaly > self.threshold_).astype(int)


class AutoencoderOutlierDetector(_Thresholded, AutoencoderModelMixin):
    """Outlier detection with an autoencoder: rows it models badly are outliers.

    Rows of ``X`` are scaled into [0, 1] from the fit data, reshaped to
    ``input_shape`` and used to train the model (as
    :class:`~autoencoders.estimator.AutoencoderTransformer` does, with the same
    parameters); the anomaly score ``anomaly_score`` is then fitted on the same rows.
    (The parameter is not called ``score``: scikit-learn reserves that name for
    a method, which pipelines and searches call.)

    Args:
        model: the variant to train, a key of :data:`autoencoders.models.VARIANTS`.
        latent_dim: size of the code; ``None`` (the default) chooses it at fit: a
            quarter of the input values, at least 1 and at most 20, lowered where
            the model allows less (as for ``AutoencoderTransformer``, which also
            says how the mlp's depth adapts to narrow tables).
        anomaly_score: the anomaly score, a key of :data:`~autoencoders.anomaly.scores.SCORES`:
            ``"recon-sse"`` (squared reconstruction error), ``"recon-bce"``,
            ``"density"`` (the code's likelihood under a Gaussian mixture of the
            training codes), ``"combined"`` (density plus reconstruction error,
            standardised) or ``"feature"`` (reconstruction error in the encoder's
            hidden layers, RaPP). Scores that are fitted (density, the combined
            score's standardisation, RaPP's principal axes) are fitted on the
            training rows, the same rows the model trained on.
        contamination: the share of outliers expected in the training data, in
            (0, 0.5]; it sets the threshold ``offset_``.
        n_models: an ensemble over seeds: this many models are trained, the i-th
            with seed ``random_state + i``, each with its own fitted score; a row's
            anomaly score is the mean of the members' scores, each standardised on
            that member's scores of the training rows (see
            :func:`~autoencoders.anomaly.ensembles.ensemble_scores`). 1 (the
            default) keeps the single model's score in its own units.
        epochs: training epochs (0 leaves the freshly initialised model); ``None``
            stops once the loss on a held-out ``validation_fraction`` of the rows
            has not improved for ``patience`` checks (as ``AutoencoderTransformer``).
        patience: checks without improvement before stopping (``epochs=None``).
        validation_fraction: share of the rows held out to decide when to stop.
        batch_size: training batch size.
        lr: Adam's learning rate.
        input_shape: the shape one row is reshaped to, e.g. ``(1, 8, 8)`` for the
            conv model on 8x8 images; ``None`` keeps rows flat (signals models:
            one channel, ``(1, n_features)``).
        scale: ``"minmax"`` or ``"none"``, as for ``AutoencoderTransformer``.
        model_options: further config fields, e.g. ``{"num_layers": 2}``.
        score_options: options of the anomaly score, e.g. ``{"n_components": 3}``
            for the density's mixture.
        random_state: seed of the initialisation, batch order, noise and of the
            score's own fit; an int makes fits repeatable.
        accelerator: Lightning accelerator; the fitted model is moved to the CPU.
        verbose: show Lightning's progress bar and messages.

    Attributes:
        model_: the trained autoencoder, on the CPU, in eval mode (the first
            member of an ensemble).
        scorer_: the fitted :class:`~autoencoders.anomaly.scores.AnomalyScore`
            of ``model_``.
        models_, scorers_: every member's model and fitted score (``n_models`` each).
        offset_: ``score_samples`` below it is an outlier: its ``contamination``
            quantile on the training data.
        decision_scores_: anomaly score of every training row (PyOD: higher is
            more abnormal); ``-score_samples``.
        threshold_: ``-offset_``: training rows scoring above it are outliers.
        labels_: PyOD's labels of the training rows, 1 for outliers and 0 for inliers.
        n_features_in_: as for ``AutoencoderTransformer``, and so are
            ``feature_names_in_``, ``n_components_``, ``latent_dim_``, ``num_layers_``,
            ``input_shape_``, ``data_min_`` and ``data_max_``.
    """

    def __init__(
        self,
        model: str = "deep",
        latent_dim: int | None = None,
        *,
        anomaly_score: str = "recon-sse",
        contamination: float = 0.1,
        n_models: int = 1,
        epochs: int | None = None,
        patience: int = 10,
        validation_fraction: float = 0.1,
        batch_size: int = 256,
        lr: float = 1e-3,
        input_shape: Sequence[int] | None = None,
        scale: str = "minmax",
        model_options: dict[str, Any] | None = None,
        score_options: dict[str, Any] | None = None,
        random_state: int | np.random.RandomState | None = 0,
        accelerator: str = "cpu",
        verbose: bool = False,
    ) -> None:
        self.model = model
        self.latent_dim = latent_dim
        self.anomaly_score = anomaly_score
        self.contamination = contamination
        self.n_models = n_models
        self.epochs = epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.batch_size = batch_size
        self.lr = lr
        self.input_shape = input_shape
        self.scale = scale
        self.model_options = model_options
        self.score_options = score_options
        self.random_state = random_state
        self.accelerator = accelerator
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> AutoencoderOutlierDetector:
        """Trains the model and the anomaly score on the rows of ``X`` (``y`` is ignored).

        Raises:
            ConfigError: (a ``ValueError``) for invalid parameters, including an
                unknown ``score`` or a ``contamination`` outside (0, 0.5].
            ValueError: for invalid data (non-finite values, fewer than 2 rows).
        """
        self._make_scorer(0)  # refuses a bad score before any training
        self._check_contamination()
        self._check_n_models()
        seed = self._seed()
        X, x, self.models_ = self._fit_autoencoder(X, self.n_models)
        self.scorers_ = [
            self._make_scorer(seed + i).fit(ModelCodec(model), x)
            for i, model in enumerate(self.models_)
        ]
        self.scorer_ = self.scorers_[0]
        members = self._member_scores(x)
        # each member's training scores are its reference for standardising (ensembles only)
        self._references = members
        self._set_threshold(self._combine(members))
        return self

    # -------------------------------------------------------------- predict
    def score_samples(self, X: Any) -> np.ndarray:
        """Normality of each row: the negative anomaly score (lower = more abnormal)."""
        x = self._model_input(self._check_input(X))
        return -self._combine(self._member_scores(x))

    # -------------------------------------------------------------- helpers
    def _member_scores(self, x: np.ndarray) -> list[np.ndarray]:
        """Each member's anomaly scores of ``x`` (in the model's input shape)."""
        return [s.score(ModelCodec(m), x) for m, s in zip(self.models_, self.scorers_, strict=True)]

    def _combine(self, members: list[np.ndarray]) -> np.ndarray:
        return combine_scores(self._references, members)

    def _make_scorer(self, seed: int) -> AnomalyScore:
        check_score_name(self.anomaly_score)
        options = self.score_options
        if options is not None and not isinstance(options, Mapping):
            raise ConfigError(f"score_options must be a dict, got {value_text(options)}")
        options = dict(options or {})
        # each member's own seed, where the score is random (a Gaussian mixture)
        if "random_state" in inspect.signature(SCORES[self.anomaly_score]).parameters:
            options.setdefault("random_state", seed)
        return make_score(self.anomaly_score, **options)

    def _check_n_models(self) -> None:
        n = self.n_models
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= MAX_MODELS:
            raise ConfigError(
                f"n_models must be an integer in [1, {MAX_MODELS}], got {value_text(n)}"
            )

    def _check_contamination(self) -> None:
        _check_contamination(self.contamination)

    def _train_members(self, cfg: Any, x: Any, seed: int, n_models: int) -> list[Any]:
        """The seed ensemble's members, trained as one batched computation where they can be.

        Each member is what the one-model path trains with its seed (its own
        validation split, batch order and early stopping; see
        :mod:`autoencoders.batched`), so member 0 is ``n_models=1``'s model.
        Models that cannot be batched, and verbose fits, train one by one.
        """
        import torch

        from autoencoders.batched import batch_problem, fit_many
        from autoencoders.models import build_model
        from autoencoders.training.in_memory import RowsPlan, passes_per_epoch

        if n_models == 1 or self.epochs == 0 or self.verbose:
            return super()._train_members(cfg, x, seed, n_models)
        with torch.random.fork_rng(devices=self._cuda_devices()):
            problem = batch_problem(build_model(cfg))
        if problem is not None:
            return super()._train_members(cfg, x, seed, n_models)
        # each member's rows, split and passes as train_on_rows would give them
        seeds = list(range(seed, seed + n_models))
        plans = [RowsPlan(self.epochs, int(self.patience), float(self.validation_fraction),
                          int(self.batch_size), s) for s in seeds]  # fmt: skip
        modules = [plan.datamodule(x) for plan in plans]
        passes = passes_per_epoch(len(modules[0].train_dataloader()), self.epochs)
        device = torch.device("cuda") if self._cuda_devices() else torch.device("cpu")
        fits = fit_many(
            cfg, modules, seeds, plans[0].rule,
            validate=False, validate_at_end=False, passes=passes, device=device,
        )  # fmt: skip
        self.n_epochs_, self.stop_reason_ = fits[0].epochs, fits[0].stop_reason
        return [fit.model.cpu().eval() for fit in fits]


class OutlierEnsemble(_Thresholded, BaseEstimator):
    """Several outlier detectors as one: the mean of their standardised anomaly scores.

    Detectors that model the data differently miss different outliers (a linear
    model's squared error and a deep model's code density, say); averaging their
    scores, each standardised on its own scores of the training rows so that no
    member's units dominate, is steadier than any one of them
    (:func:`~autoencoders.anomaly.ensembles.ensemble_scores`). The members are
    any detectors in scikit-learn's convention (``fit`` and ``score_samples``,
    higher = more normal): :class:`AutoencoderOutlierDetector` of other models or
    scores, or ``IsolationForest``. Each is cloned and fitted on the same rows.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> X = load_digits().data
        >>> ens = OutlierEnsemble([AutoencoderOutlierDetector("simple", epochs=2),
        ...                        AutoencoderOutlierDetector("deep", epochs=2)]).fit(X)
        >>> ens.score_samples(X[:3]).shape
        (3,)

    Args:
        detectors: the member detectors (unfitted; they are cloned).
        contamination: the share of outliers expected in the training data, in
            (0, 0.5]; it sets the threshold ``offset_``.

    Attributes:
        detectors_: the fitted members.
        offset_, decision_scores_, threshold_, labels_: as for
            :class:`AutoencoderOutlierDetector`, of the ensemble's score.
    """

    def __init__(self, detectors: Sequence[Any] = (), contamination: float = 0.1) -> None:
        self.detectors = detectors
        self.contamination = contamination

    def fit(self, X: Any, y: Any = None) -> OutlierEnsemble:
        """Fits every member on the rows of ``X`` (``y`` is ignored).

        Raises:
            ConfigError: for no members, a member that is no outlier detector, or a
                ``contamination`` outside (0, 0.5].
        """
        members = list(self.detectors) if isinstance(self.detectors, Sequence) else None
        if not members:
            raise ConfigError(
                f"detectors must be a non-empty list of outlier detectors, got "
                f"{value_text(self.detectors)}"
            )
        for i, det in enumerate(members):
            if not (hasattr(det, "fit") and hasattr(det, "score_samples")):
                raise ConfigError(
                    f"detectors[{i}] ({type(det).__name__}) has no fit and score_samples: "
                    "pass outlier detectors such as AutoencoderOutlierDetector or IsolationForest"
                )
        _check_contamination(self.contamination)
        # validated here too, so the ensemble knows its features (n_features_in_, names)
        X = validate_data(self, X, dtype=FLOAT_DTYPES, ensure_min_samples=2)
        self.detectors_ = [clone(det).fit(X) for det in members]
        self._references = [-det.score_samples(X) for det in self.detectors_]
        self._set_threshold(ensemble_scores(self._references, self._references))
        return self

    def score_samples(self, X: Any) -> np.ndarray:
        """Normality of each row: the negative ensemble anomaly score."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=False)
        members = [-det.score_samples(X) for det in self.detectors_]
        return -ensemble_scores(self._references, members)


def _check_contamination(c: Any) -> None:
    if isinstance(c, bool) or not isinstance(c, numbers.Real) or not 0.0 < c <= 0.5:
        raise ConfigError(f"contamination must be a number in (0, 0.5], got {value_text(c)}")


__all__ = ["AutoencoderOutlierDetector", "OutlierEnsemble"]
