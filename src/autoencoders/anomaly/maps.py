"""Anomaly maps: where in an image a model sees something it cannot reproduce.

A map is one value per pixel, higher where the image is more anomalous:

* ``sse``: the squared reconstruction error, summed over channels;
* ``ssim``: ``(1 - SSIM) / 2`` between the image and its reconstruction, with
  SSIM's local means, variances and covariance over a Gaussian window (sigma
  1.5 px), averaged over channels; it sees changes of local structure that a
  pixel error weighs little;
* ``feature``: the squared differences between the conv encoder's activations
  of the image and of its reconstruction, layer by layer, each brought up to
  the image's size and divided by its mean over normal images (so that no
  layer dominates), then averaged over layers.

Every map is smoothed with a Gaussian of ``sigma`` pixels (isolated noisy pixels
do not make a defect) and has the input's height and width. The image's score
is the map's maximum (``reduce="max"``) or the mean of its highest ``top_k``
share of pixels (``"topk"``).

:class:`AnomalyMapper` is the computation as one ``torch.nn.Module`` from an
image batch to ``(score, map)``: the ``score`` command runs it and
``autoencoders export`` writes it out, so both compute the same numbers.
:class:`MapScore` puts each map in the score registry
(:data:`autoencoders.anomaly.scores.SCORES`) as ``map-sse``, ``map-ssim`` and
``map-feature``; the PCA baseline (a codec without a torch model) gets the
``sse`` and ``ssim`` maps from its reconstructions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autoencoders.anomaly.base import AnomalyScore, is_activation
from autoencoders.errors import ConfigError

if TYPE_CHECKING:
    from autoencoders.codecs import Codec

#: the maps there are
MAP_KINDS = ("sse", "ssim", "feature")
#: how an image score is taken from its map
REDUCTIONS = ("max", "topk")
#: default Gaussian smoothing of a map, in pixels
DEFAULT_SIGMA = 1.0
#: default share of the highest pixels a ``topk`` image score averages
DEFAULT_TOP_K = 0.01
#: SSIM's window (sigma in pixels) and its constants for values in [0, 1]
SSIM_SIGMA, SSIM_C1, SSIM_C2 = 1.5, 0.01**2, 0.03**2


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalised 2-D Gaussian of ``sigma`` pixels, shape ``(1, 1, K, K)``, K = 2*ceil(3 sigma)+1."""
    radius = max(1, math.ceil(3.0 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-(t**2) / (2.0 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Each channel of ``x`` ``(N, C, H, W)`` filtered with ``kernel``, edges reflected."""
    radius = kernel.shape[-1] // 2
    channels = x.shape[1]
    pad = (radius, radius, radius, radius)
    # reflection needs the image larger than the kernel's radius; tiny images are replicated
    mode = "reflect" if min(x.shape[-2:]) > radius else "replicate"
    weight = kernel.to(x.dtype).expand(channels, 1, -1, -1)
    return F.conv2d(F.pad(x, pad, mode=mode), weight, groups=channels)


def sse_map(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """The squared error per pixel, summed over channels: ``(N, H, W)``."""
    return ((x - r) ** 2).sum(1)


def ssim_map(x: torch.Tensor, r: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """``(1 - SSIM) / 2`` per pixel, averaged over channels: ``(N, H, W)`` in [0, 1]."""
    mu_x, mu_r = blur(x, window), blur(r, window)
    var_x = blur(x * x, window) - mu_x**2
    var_r = blur(r * r, window) - mu_r**2
    cov = blur(x * r, window) - mu_x * mu_r
    ssim = ((2 * mu_x * mu_r + SSIM_C1) * (2 * cov + SSIM_C2)) / (
        (mu_x**2 + mu_r**2 + SSIM_C1) * (var_x + var_r + SSIM_C2)
    )
    return ((1.0 - ssim) / 2.0).clamp(0.0, 1.0).mean(1)


def image_scores(maps: torch.Tensor, reduce: str, top_k: float) -> torch.Tensor:
    """One score per map ``(N, H, W)``: its maximum, or the mean of its top ``top_k`` share."""
    flat = maps.flatten(1)
    if reduce == "max":
        return flat.amax(1)
    # int(): the image size is fixed, and a tracer would otherwise hand a tensor here
    k = max(1, round(top_k * int(flat.shape[1])))
    return flat.topk(k, dim=1).values.mean(1)


class AnomalyMapper(nn.Module):
    """A model's anomaly map and image score, from an image batch: ``x -> (score, map)``.

    Args:
        model: the autoencoder (its ``encoder`` is looked inside for ``feature``).
        kind: one of :data:`MAP_KINDS`.
        sigma: Gaussian smoothing of the map, in pixels (0: none).
        reduce: ``max`` or ``topk``, how the image score comes from the map.
        top_k: the share of pixels ``topk`` averages.
        layer_scales: ``feature`` only: each tapped layer's mean error on normal images.
        low, span: a min-max scaling applied to the input first (the model's own,
            where it has one), shaped to broadcast over ``(N, C, H, W)``.

    Shape:
        ``(N, C, H, W)`` in [0, 1] -> ``(N,)`` scores and ``(N, H, W)`` maps.
    """

    def __init__(
        self,
        model: nn.Module,
        kind: str = "sse",
        sigma: float = DEFAULT_SIGMA,
        reduce: str = "max",
        top_k: float = DEFAULT_TOP_K,
        layer_scales: list[float] | None = None,
        low: torch.Tensor | None = None,
        span: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        check_map_options(kind, sigma, reduce, top_k)
        self.model = model.eval()
        self.kind, self.reduce, self.top_k = kind, reduce, top_k
        self.register_buffer("smoothing", gaussian_kernel(sigma) if sigma > 0 else None)
        self.register_buffer("window", gaussian_kernel(SSIM_SIGMA))
        scales = torch.tensor(layer_scales or [], dtype=torch.float32)
        self.register_buffer("layer_scales", scales)
        self.register_buffer("low", low)
        self.register_buffer("span", span)
        encoder = getattr(model, "encoder", None)
        self.taps = [m for m in encoder.modules() if is_activation(m)] if encoder else []

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = self.maps(x)
        return image_scores(maps, self.reduce, self.top_k), maps

    def maps(self, x: torch.Tensor) -> torch.Tensor:
        """The smoothed maps ``(N, H, W)`` of an image batch in [0, 1]."""
        if self.low is not None and self.span is not None:
            x = ((x - self.low) / self.span).clamp(0.0, 1.0)
        r = self.model(x)
        if self.kind == "feature":
            layers = self.layer_errors(x, r)
            if len(self.layer_scales) != len(layers):
                raise RuntimeError("the feature map was not fitted: call MapScore.fit first")
            raw = sum(e / s for e, s in zip(layers, self.layer_scales, strict=True)) / len(layers)
        elif self.kind == "ssim":
            raw = ssim_map(x, r, self.window)
        else:
            raw = sse_map(x, r)
        if self.smoothing is None:
            return raw
        return blur(raw[:, None], self.smoothing)[:, 0]

    def layer_errors(self, x: torch.Tensor, r: torch.Tensor) -> list[torch.Tensor]:
        """Per tapped conv layer, the squared activation difference of ``x`` and ``r``, at x's size."""
        a, b = self._feature_maps(x), self._feature_maps(r)
        size = x.shape[-2:]
        return [
            F.interpolate(((u - v) ** 2).mean(1, keepdim=True), size=size, mode="bilinear")[:, 0]
            for u, v in zip(a, b, strict=True)
        ]

    def _feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        seen: list[torch.Tensor] = []
        # activation layers may run in place, so each output is copied as the hook sees it
        hooks = [t.register_forward_hook(lambda _m, _i, out: seen.append(out.clone()))
                 for t in self.taps]  # fmt: skip
        try:
            self.model.encoder(x)
        finally:
            for h in hooks:
                h.remove()
        spatial = [s for s in seen if s.dim() == 4]
        if not spatial:
            raise ConfigError(
                "the feature map needs a convolutional encoder (its layers keep the image's "
                "layout); train with --architecture conv, or choose map-sse or map-ssim"
            )
        return spatial


def check_map_options(kind: str, sigma: float, reduce: str, top_k: float) -> None:
    """Refuses map options out of range, in one line naming the option.

    Raises:
        ConfigError: for an unknown kind or reduction, a negative sigma or a top_k outside (0, 1].
    """
    if kind not in MAP_KINDS:
        raise ConfigError(f"unknown anomaly map {kind!r}; choose one of {', '.join(MAP_KINDS)}")
    if reduce not in REDUCTIONS:
        raise ConfigError(f"--reduce must be one of {', '.join(REDUCTIONS)}, got {reduce!r}")
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ConfigError(f"--sigma must be 0 (no smoothing) or more, got {sigma}")
    if not 0.0 < top_k <= 1.0:
        raise ConfigError(f"--top-k must lie in (0, 1], got {top_k}")


class MapScore(AnomalyScore):
    """An anomaly map's image score in the registry; :meth:`maps` gives the maps themselves.

    Fitted on normal images only where the map needs it (``feature``: each
    layer's mean error). Works with an autoencoder's codec (through
    :class:`AnomalyMapper`) and, for ``sse`` and ``ssim``, with any codec
    that reconstructs images (PCA).
    """

    def __init__(
        self,
        kind: str = "sse",
        sigma: float = DEFAULT_SIGMA,
        reduce: str = "max",
        top_k: float = DEFAULT_TOP_K,
    ) -> None:
        check_map_options(kind, sigma, reduce, top_k)
        self.kind, self.sigma, self.reduce, self.top_k = kind, sigma, reduce, top_k
        self.name = f"map-{kind}"  # type: ignore[misc]
        self.layer_scales_: list[float] | None = None

    def options(self) -> dict[str, Any]:
        """The options this score was made with (what ``make_score`` takes back)."""
        return {"sigma": self.sigma, "reduce": self.reduce, "top_k": self.top_k}

    def fit(
        self, codec: Codec, x_normal: np.ndarray, x_holdout: np.ndarray | None = None
    ) -> MapScore:
        if self.kind != "feature":
            return self
        mapper = self.mapper(codec, fitted=False)
        totals: list[float] = []
        with torch.no_grad():
            for xb in _batches(codec, mapper, x_normal):
                errors = mapper.layer_errors(xb, mapper.model(xb))
                sums = [float(e.sum()) for e in errors]
                totals = [a + b for a, b in zip(totals, sums, strict=True)] if totals else sums
        pixels = len(x_normal) * int(np.prod(np.shape(x_normal)[-2:]))
        self.layer_scales_ = [max(t / pixels, 1e-12) for t in totals]
        return self

    def mapper(self, codec: Codec, *, fitted: bool = True) -> AnomalyMapper:
        """This score as a torch module on the codec's model.

        Raises:
            ConfigError: for a codec without a torch model (the ``feature`` map needs one).
        """
        model = getattr(codec, "model", None)
        if not isinstance(model, nn.Module):
            raise ConfigError(
                f"the {self.name} map looks inside an autoencoder; {type(codec).__name__} has "
                "none: choose map-sse or map-ssim"
            )
        if fitted and self.kind == "feature" and self.layer_scales_ is None:
            raise RuntimeError("MapScore('feature') must be fitted before use")  # a caller's bug
        return AnomalyMapper(
            model, self.kind, self.sigma, self.reduce, self.top_k, self.layer_scales_
        )

    def score_and_maps(self, codec: Codec, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The image scores ``(N,)`` and the maps ``(N, H, W)`` of images ``x`` ``(N, C, H, W)``."""
        if _check_images(x, self.name) and not isinstance(getattr(codec, "model", None), nn.Module):
            return self._codec_maps(codec, x)
        mapper = self.mapper(codec)
        scores, maps = [], []
        with torch.no_grad():
            for xb in _batches(codec, mapper, x):
                s, m = mapper(xb)
                scores.append(s.double().cpu().numpy())
                maps.append(m.float().cpu().numpy())
        if not scores:
            return np.zeros(0), np.zeros((0, *np.shape(x)[-2:]), dtype=np.float32)
        return np.concatenate(scores), np.concatenate(maps)

    def _codec_maps(self, codec: Codec, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The maps of a codec without a torch model (PCA), from its reconstructions."""
        if self.kind == "feature":
            self.mapper(codec)  # raises the one-line error
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
        rt = torch.as_tensor(np.asarray(codec.reconstruct(x), dtype=np.float32)).reshape(xt.shape)
        raw = (
            ssim_map(xt, rt, gaussian_kernel(SSIM_SIGMA))
            if self.kind == "ssim"
            else sse_map(xt, rt)
        )
        maps = blur(raw[:, None], gaussian_kernel(self.sigma))[:, 0] if self.sigma > 0 else raw
        scores = image_scores(maps, self.reduce, self.top_k)
        return scores.double().numpy(), maps.numpy()

    def score(self, codec: Codec, x: np.ndarray) -> np.ndarray:
        return self.score_and_maps(codec, x)[0]

    def maps(self, codec: Codec, x: np.ndarray) -> np.ndarray:
        return self.score_and_maps(codec, x)[1]


def _check_images(x: Any, name: str) -> bool:
    """Refuses samples that are not images ``(N, C, H, W)``: a map needs pixels."""
    if np.ndim(x) != 4:
        raise ConfigError(
            f"the {name} score draws a map over an image's pixels; these samples have shape "
            f"{tuple(np.shape(x)[1:])}: choose a global score (recon-sse, ...)"
        )
    return True


def _batches(codec: Codec, mapper: AnomalyMapper, x: np.ndarray) -> Any:
    """``x`` as tensors on the model's device, ``codec.batch_size`` images at a time."""
    device = next(mapper.model.parameters()).device
    size = int(getattr(codec, "batch_size", 256))
    for start in range(0, len(x), size):
        yield torch.as_tensor(np.asarray(x[start : start + size], dtype=np.float32), device=device)
