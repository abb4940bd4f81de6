"""A scikit-learn transformer backed by an autoencoder, usable wherever ``PCA`` is.

:class:`AutoencoderTransformer` trains one of the registered models (a key of
:data:`autoencoders.models.VARIANTS`) on a 2-D array with this package's own
Lightning trainer, then behaves like any scikit-learn transformer: ``transform``
gives the codes, ``inverse_transform`` decodes codes back to the original
feature scale, and ``score`` is the negative reconstruction error, so the
estimator works in pipelines, with ``clone`` and in grid searches.

Example:
    >>> from sklearn.datasets import load_digits
    >>> from autoencoders import AutoencoderTransformer
    >>> X = load_digits().data
    >>> ae = AutoencoderTransformer("deep", latent_dim=8, epochs=2).fit(X)
    >>> ae.transform(X[:3]).shape
    (3, 8)

:class:`AutoencoderModelMixin` holds what every estimator backed by one of the
models shares (parameter checks, scaling into [0, 1], seeded training that
writes no files); :class:`autoencoders.detector.AutoencoderOutlierDetector` is
the other one.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import FLOAT_DTYPES, check_array, check_is_fitted

from autoencoders.codecs import ModelCodec
from autoencoders.config import ModelConfig, config_from_dict
from autoencoders.errors import ConfigError, DataError
from autoencoders.models import VARIANTS, build_model
from autoencoders.module import AutoEncoder
from autoencoders.options import INT64_MAX, check_option, value_text
from autoencoders.registry import variant
from autoencoders.run_config import MAX_SEED, TrainConfig
from autoencoders.training.in_memory import RowsPlan, train_on_rows

try:
    from sklearn.utils.validation import validate_data
except ImportError:  # scikit-learn < 1.6 has it as a method only

    def validate_data(estimator: Any, X: Any, **kwargs: Any) -> np.ndarray:  # type: ignore[misc]
        return estimator._validate_data(X, **kwargs)


#: how X is mapped into [0, 1] before training
SCALES = ("minmax", "none")
#: config fields the estimator sets from its own parameters
_OWN_FIELDS = ("model", "input_shape", "latent_dim", "lr")
#: ``latent_dim=None``: a code of a quarter of the input values, at most this many
AUTO_LATENT_MAX = 20


def auto_latent_dim(n_values: int) -> int:
    """The code size ``latent_dim=None`` aims at: a quarter of the input values, in [1, 20].

    A quarter keeps the code a real bottleneck (a code almost as wide as the
    input can learn the identity, which is useless for outlier scores); 20 is
    most models' default code size. The estimators lower it further where the
    model's config allows less (:meth:`AutoencoderModelMixin._make_config`).
    """
    return max(1, min(AUTO_LATENT_MAX, n_values // 4))


class AutoencoderModelMixin(BaseEstimator):
    """What the estimators backed by an autoencoder share: checks, scaling and training.

    A subclass declares the parameters read here (``model``, ``latent_dim``,
    ``epochs``, ``patience``, ``validation_fraction``, ``batch_size``, ``lr``, ``input_shape``, ``scale``,
    ``model_options``, ``random_state``, ``accelerator``, ``verbose``) in its own
    ``__init__`` and calls :meth:`_fit_autoencoder` from ``fit``.
    """

    def _fit_autoencoder(
        self, X: Any, n_models: int = 1
    ) -> tuple[np.ndarray, np.ndarray, list[AutoEncoder]]:
        """Validates ``X``, fits the scaling and trains ``model_``.

        Args:
            X: the fit data.
            n_models: how many models to train on it, the i-th seeded with the
                estimator's seed + i (an ensemble over seeds); ``model_`` is the first.

        Returns:
            ``X`` as validated (2-D, float), the model's view of it (scaled into
            [0, 1], float32, of shape ``(n, *input_shape_)``) and the trained models.
        """
        input_shape = self._check_params()
        # BatchNorm layers cannot train on a single sample, hence at least 2 rows.
        X = validate_data(self, X, dtype=FLOAT_DTYPES, ensure_min_samples=2)
        shape = self._sample_shape(input_shape, X.shape[1])
        cfg = self._make_config(shape)
        self._fit_scaling(X, needs_unit_range=_needs_unit_range(cfg))
        x = torch.as_tensor(self._to_unit(X), dtype=torch.float32).reshape(len(X), *shape)
        models = self._train_members(cfg, x, self._seed(), n_models)
        self.model_ = models[0]
        self.n_components_ = self.latent_dim_ = cfg.latent_dim
        # the mlp's depth as chosen (num_layers means nothing to other architectures)
        self.num_layers_ = cfg.num_layers if cfg.architecture == "mlp" else None
        self.input_shape_ = shape
        return X, x.numpy(), models

    def _train_members(
        self, cfg: ModelConfig, x: torch.Tensor, seed: int, n_models: int
    ) -> list[AutoEncoder]:
        """Builds and trains ``n_models`` models on ``x``, the i-th seeded ``seed + i``.

        Sets ``n_epochs_`` and ``stop_reason_`` from the first model.
        """
        models = []
        for member_seed in range(seed, seed + n_models):
            # fork_rng: seed torch for a repeatable fit without changing the caller's RNG state.
            with torch.random.fork_rng(devices=self._cuda_devices()):
                torch.manual_seed(member_seed)
                model = build_model(cfg)
                if self.epochs is None or self.epochs > 0:
                    epochs, reason = self._train(model, x, member_seed)
                    if not models:  # the first model's epochs and stop reason are reported
                        self.n_epochs_, self.stop_reason_ = epochs, reason
            models.append(model.cpu().eval())
        return models

    def _train(self, model: AutoEncoder, x: torch.Tensor, seed: int) -> tuple[int, str]:
        """Trains ``model`` in place on the rows ``x``, writing no files.

        Returns the epochs trained and why training stopped, in words
        (:func:`autoencoders.training.in_memory.train_on_rows`).
        """
        end = train_on_rows(
            model,
            x,
            RowsPlan(self.epochs, int(self.patience), float(self.validation_fraction),
                     int(self.batch_size), seed),
            accelerator=self.accelerator,
            verbose=bool(self.verbose),
        )  # fmt: skip
        return end.epochs, end.reason

    # -------------------------------------------------------------- helpers
    def _check_params(self) -> tuple[int, ...] | None:
        """Checks the parameters that do not depend on X; returns ``input_shape`` as a tuple.

        Parameters that mirror a config field are checked by that field's rule
        (:func:`autoencoders.options.check_option`), under the parameter's own name.

        Raises:
            ConfigError: naming the parameter, its value and what would be valid.
        """
        variant(self.model)  # an unknown name: the registry's one-line refusal
        if not isinstance(self.scale, str) or self.scale not in SCALES:
            raise ConfigError(f"scale must be one of {SCALES}, got {value_text(self.scale)}")
        # epochs=0 is allowed here (a freshly initialised model), unlike on the command line
        if self.epochs is not None and (
            isinstance(self.epochs, bool)
            or not isinstance(self.epochs, numbers.Integral)
            or not 0 <= self.epochs <= INT64_MAX
        ):
            raise ConfigError(
                f"epochs must be an integer >= 0 or None (stop early), got {value_text(self.epochs)}"
            )
        check_option(TrainConfig, "patience", self.patience, label="patience")
        fraction = self.validation_fraction
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, numbers.Real)
            or not 0 < fraction < 1
        ):
            raise ConfigError(
                f"validation_fraction must be a number in (0, 1), got {value_text(fraction)}"
            )
        check_option(TrainConfig, "batch_size", self.batch_size, label="batch_size")
        check_option(TrainConfig, "accelerator", self.accelerator, label="accelerator")
        if not isinstance(self.random_state, (type(None), np.random.RandomState)):
            seed = self.random_state
            if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
                raise ConfigError(
                    f"random_state must be None, an integer in [0, {MAX_SEED}] or a "
                    f"numpy RandomState, got {value_text(seed)}"
                )
            check_option(TrainConfig, "seed", seed, label="random_state")
        # scikit-learn's convention: verbose is a flag or a non-negative level
        if not isinstance(self.verbose, numbers.Integral) or self.verbose < 0:
            raise ConfigError(
                f"verbose must be true, false or an integer >= 0, got {value_text(self.verbose)}"
            )
        options = self.model_options
        if options is not None and not isinstance(options, Mapping):
            raise ConfigError(
                f"model_options must be a dict of config fields, got {value_text(options)}"
            )
        clashes = sorted(set(options or {}) & set(_OWN_FIELDS), key=str)
        if clashes:
            raise ConfigError(
                f"model_options may not set {clashes}: pass them as the estimator's own "
                "parameters (model, input_shape, latent_dim, lr)"
            )
        if self.input_shape is None:
            return None
        shape = self.input_shape
        if isinstance(shape, np.ndarray) and shape.ndim == 1:
            shape = shape.tolist()
        if isinstance(shape, Sequence) and not isinstance(shape, str):
            shape = list(shape)
        return check_option(ModelConfig, "input_shape", shape, label="input_shape")

    def _sample_shape(self, shape: tuple[int, ...] | None, n_features: int) -> tuple[int, ...]:
        if shape is None:
            # A model of signals (C, L) reads each row as one channel over time.
            default = VARIANTS[self.model].config_cls().input_shape
            return (1, n_features) if len(default) == 2 else (n_features,)
        if math.prod(shape) != n_features:
            raise ConfigError(
                f"input_shape={shape} holds {math.prod(shape)} values, but X has "
                f"{n_features} features"
            )
        return shape

    def _make_config(self, shape: tuple[int, ...]) -> ModelConfig:
        """The model's config, validated by the config's own rules under Python names.

        What the user left open is chosen here, as ``PCA(n_components=None)``
        chooses at fit: the code size (``latent_dim=None``: :func:`auto_latent_dim`,
        lowered one at a time until the config accepts it), the mlp's depth
        (``num_layers`` not in ``model_options``: the config's default, lowered
        until every layer can narrow) and, for ``latent_dim=None`` on a table too
        narrow for any mlp (1 feature; 2 for a variational model), the linear
        architecture instead. The first candidate that validates wins: the largest
        code, then the deepest mlp. Values the user gave are only validated.

        Raises:
            ConfigError: the first candidate's refusal, when none is accepted.
        """
        options = dict(self.model_options or {})
        config_cls = VARIANTS[self.model].config_cls
        default = config_cls()
        n_values = math.prod(shape)
        auto_latent = self.latent_dim is None
        latents = range(auto_latent_dim(n_values), 0, -1) if auto_latent else [self.latent_dim]
        architecture = options.get("architecture", default.architecture)
        architectures = [architecture]
        if auto_latent and "architecture" not in options and architecture == "mlp":
            architectures.append("linear")  # no hidden layers: a code of any size fits
        auto_depth = "num_layers" not in options
        first: ConfigError | None = None
        for arch in architectures:
            depths = range(default.num_layers, 0, -1) if auto_depth and arch == "mlp" else [None]
            for latent in latents:
                for depth in depths:
                    data = {
                        **options,
                        **({} if arch == architecture else {"architecture": arch}),
                        **({} if depth is None else {"num_layers": depth}),
                        "model": self.model,
                        "input_shape": shape,
                        "latent_dim": latent,
                        "lr": self.lr,
                    }
                    try:
                        return config_from_dict(data, config_cls, flags=False)
                    except ConfigError as err:
                        first = first or err
        assert first is not None
        if auto_latent and "latent_dim" in str(first):
            # the message's "got N" is our choice, not a value the user passed
            raise ConfigError(
                f"{first} (latent_dim=None tried codes of {latents[0]} down to 1: a quarter "
                f"of the {n_values} input values, at most {AUTO_LATENT_MAX}; pass latent_dim)"
            ) from None
        raise first

    def _fit_scaling(self, X: np.ndarray, needs_unit_range: bool) -> None:
        # kept apart from `scale`, so that set_params after fit cannot change transform
        self._clip = self.scale == "minmax"
        if self.scale == "minmax":
            self.data_min_ = X.min(axis=0)
            self.data_max_ = X.max(axis=0)
            return
        low, high = float(X.min()), float(X.max())
        if needs_unit_range and (low < 0.0 or high > 1.0):
            raise DataError(
                f"scale='none' needs X in [0, 1] (model {self.model!r} has a sigmoid output "
                f"or BCE loss), but X spans [{low:g}, {high:g}]: pass scale='minmax' or "
                "rescale X first"
            )
        self.data_min_ = np.zeros(X.shape[1], dtype=X.dtype)
        self.data_max_ = np.ones(X.shape[1], dtype=X.dtype)

    def _to_unit(self, X: np.ndarray) -> np.ndarray:
        """X scaled as in ``fit``, as float32; minmax values outside the fit range are clipped."""
        if not self._clip:
            return X.astype(np.float32, copy=False)
        span = self.data_max_ - self.data_min_
        # A constant feature maps to 0 (and decodes back to its constant, see _from_unit).
        unit = (X - self.data_min_) / np.where(span > 0, span, 1.0)
        return np.clip(unit, 0.0, 1.0).astype(np.float32, copy=False)

    def _from_unit(self, U: np.ndarray) -> np.ndarray:
        return U * (self.data_max_ - self.data_min_) + self.data_min_

    def _check_input(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        # reset=False checks the feature count (and names) against those seen in fit.
        return validate_data(self, X, dtype=FLOAT_DTYPES, reset=False)

    def _model_input(self, X: np.ndarray) -> np.ndarray:
        return self._to_unit(X).reshape(len(X), *self.input_shape_)

    def _seed(self) -> int:
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        # None or a RandomState: draw a seed from it, as scikit-learn estimators do.
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _cuda_devices(self) -> list[int]:
        if self.accelerator == "cpu" or not torch.cuda.is_available():
            return []
        return [torch.cuda.current_device()]


class AutoencoderTransformer(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, AutoencoderModelMixin
):
    """Dimensionality reduction with an autoencoder, in scikit-learn's transformer API.

    Rows of ``X`` are scaled into [0, 1] (the models' default loss is binary
    cross-entropy on a sigmoid output), reshaped to ``input_shape`` and used to
    train the model for ``epochs`` epochs. Nothing is written to disk.

    Args:
        model: the variant to train, a key of :data:`autoencoders.models.VARIANTS`.
        latent_dim: size of the code, the number of output features. ``None`` (the
            default) chooses it at fit, as ``PCA(n_components=None)`` does: a
            quarter of the input values, at least 1 and at most 20
            (:func:`auto_latent_dim`), lowered where the model allows less (the
            ``mlp`` narrows layer by layer, so its code is smaller than the input;
            a ``vq`` code is a multiple of ``code_dim``). A table too narrow for
            any mlp layer (1 feature; 2 for a variational model) gets the
            ``linear`` architecture unless ``model_options`` names one. An
            explicit value is checked, and refused in one line if the model cannot
            have it (e.g. a code not smaller than the input of an mlp).
        epochs: training epochs (0 leaves the freshly initialised model); ``None``
            trains until the loss on a held-out ``validation_fraction`` of the rows
            has not improved for ``patience`` checks, and keeps the best weights.
        patience: checks without improvement before stopping (``epochs=None``).
        validation_fraction: share of the rows held out to decide when to stop.
        batch_size: training batch size.
        lr: Adam's learning rate.
        input_shape: the shape one row is reshaped to, e.g. ``(1, 8, 8)`` for
            the conv model on 8x8 images; ``None`` keeps rows flat, ``(n_features,)``.
        scale: ``"minmax"`` maps each feature's range seen in ``fit`` onto [0, 1]
            (values outside it are clipped); ``"none"`` takes X as it is, which
            must then already lie in [0, 1] for models with a sigmoid output.
        model_options: further config fields for :func:`~autoencoders.models.make_config`,
            e.g. ``{"num_layers": 2}`` or ``{"beta": 4.0}``. Without ``num_layers``,
            an mlp takes its config's depth (3), or the deepest that fits the
            features and code (each layer narrower than the one before).
        random_state: seed of the initialisation, batch order and noise; an int
            makes fits repeatable (on the CPU, bit for bit).
        accelerator: Lightning accelerator: ``"cpu"``, ``"gpu"`` or ``"auto"``.
            The fitted model is moved to the CPU either way.
        verbose: show Lightning's progress bar and messages.

    Attributes:
        model_: the trained :class:`~autoencoders.module.AutoEncoder`, on the CPU, in eval mode.
        n_features_in_: number of features seen in ``fit``.
        feature_names_in_: column names seen in ``fit`` (only for data frames with string names).
        n_components_: size of the code (``latent_dim``).
        latent_dim_: the code size used: ``latent_dim``, or the one chosen for ``None``.
        num_layers_: the mlp's layers each way, given or chosen (``None`` for
            other architectures); ``model_.config`` holds the whole model config.
        input_shape_: the shape the model sees one row as.
        data_min_: per-feature minimum used for scaling (zeros for ``scale="none"``).
        data_max_: per-feature maximum used for scaling (ones for ``scale="none"``).
        n_epochs_: epochs trained (passes over the rows).
        stop_reason_: why training stopped, in words.
        reconstruction_error_: mean over the fit rows of the summed squared
            reconstruction error, in the original feature units.
    """

    def __init__(
        self,
        model: str = "deep",
        latent_dim: int | None = None,
        *,
        epochs: int | None = None,
        patience: int = 10,
        validation_fraction: float = 0.1,
        batch_size: int = 256,
        lr: float = 1e-3,
        input_shape: Sequence[int] | None = None,
        scale: str = "minmax",
        model_options: dict[str, Any] | None = None,
        random_state: int | np.random.RandomState | None = 0,
        accelerator: str = "cpu",
        verbose: bool = False,
    ) -> None:
        self.model = model
        self.latent_dim = latent_dim
        self.epochs = epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.batch_size = batch_size
        self.lr = lr
        self.input_shape = input_shape
        self.scale = scale
        self.model_options = model_options
        self.random_state = random_state
        self.accelerator = accelerator
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> AutoencoderTransformer:
        """Trains the autoencoder on the rows of ``X`` (``y`` is ignored).

        Raises:
            ConfigError: (a ``ValueError``) for invalid parameters: an unknown model
                or option, a value out of its range (the same rules as the command
                line's, see :mod:`autoencoders.config`), a shape that does not hold
                ``n_features`` values, a code too large for the input.
            ValueError: for invalid data (non-finite values, fewer than 2 rows; a
                ``DataError`` for values outside [0, 1] with ``scale="none"``).
        """
        X, x, _ = self._fit_autoencoder(X)
        x_hat = self._from_unit(ModelCodec(self.model_).reconstruct(x).reshape(len(X), -1))
        self.reconstruction_error_ = float(((X - x_hat) ** 2).sum(axis=1).mean())
        return self

    # ------------------------------------------------------------ transform
    def transform(self, X: Any) -> np.ndarray:
        """The codes of the rows of ``X``, shape ``(n_samples, latent_dim)``.

        Variational models give the posterior mean. The dtype is X's (float32
        or float64; other inputs become float64).
        """
        X = self._check_input(X)
        codes = ModelCodec(self.model_).encode(self._model_input(X))
        return codes.astype(X.dtype, copy=False)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Decodes codes back to rows in the original feature scale, shape ``(n, n_features)``."""
        check_is_fitted(self)
        Z = check_array(X, dtype=FLOAT_DTYPES)
        if Z.shape[1] != self.n_components_:
            raise ValueError(
                f"X has {Z.shape[1]} features (codes), but {type(self).__name__} "
                f"decodes codes of {self.n_components_} features"
            )
        out = ModelCodec(self.model_).decode(Z.astype(np.float32))
        return self._from_unit(out.reshape(len(Z), -1)).astype(Z.dtype, copy=False)

    def score(self, X: Any, y: Any = None) -> float:
        """Negative mean squared reconstruction error of ``X`` (higher is better).

        The error is in the original feature units and averaged over rows and
        features, as ``sklearn.metrics.mean_squared_error``; on the fit data it
        equals ``-reconstruction_error_ / n_features_in_``.
        """
        X = self._check_input(X)
        x_hat = ModelCodec(self.model_).reconstruct(self._model_input(X))
        x_hat = self._from_unit(x_hat.reshape(len(X), -1))
        return -float(((X - x_hat) ** 2).mean())

    @property
    def _n_features_out(self) -> int:
        # read by ClassNamePrefixFeaturesOutMixin.get_feature_names_out
        return self.n_components_

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _needs_unit_range(cfg: Any) -> bool:
    """Whether the model's loss or output only makes sense for targets in [0, 1]."""
    return cfg.recon_loss == "bce" or cfg.output_activation == "sigmoid"


__all__ = ["AUTO_LATENT_MAX", "AutoencoderTransformer", "auto_latent_dim"]
