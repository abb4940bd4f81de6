"""The latent-space explorer: one offline HTML page to play with a model's latent space.

``autoencoders explore`` (:mod:`autoencoders.cli.explore`) writes it from a checkpoint.

The page shows a 2-D map of test codes coloured by label (hover or click a point
to see the input beside its reconstruction), one slider per latent unit (per
principal direction of the codes when the code is large) that changes the
decoded image, and the interpolation between the last two points clicked.

Why the decoder runs in the page: sliders are only worth playing with if they
combine, and every combination of a dozen sliders cannot be precomputed. So the
decoder's weights are exported (float32, base64) with a list of the few layer
kinds our image decoders are made of (linear, batch norm folded to a per-channel
scale and shift, ReLU, 2-D transposed convolution, sigmoid), and about sixty lines
of plain JavaScript run the forward pass. That keeps the page one file with no
external script, a few hundred kB for a digits model and about 3 MB for
Fashion-MNIST (ONNX with onnxruntime-web would need its WebAssembly runtime
inlined, more than the 10 MB a page may weigh). The reconstructions on the page
come from the same in-page decoder, and the browser test checks them against
PyTorch's.
"""

from __future__ import annotations

import base64
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # heavy imports stay out of the CLI's start-up
    import numpy as np
    import torch

    from autoencoders.module import AutoEncoder

#: most points drawn on the map (a seeded subsample of the test set beyond that)
MAX_POINTS = 2000
#: most sliders; a larger code gets one per principal direction of its codes
MAX_SLIDERS = 12
MAP_METHODS = ("pca", "umap")
TEMPLATE = "explore.html.j2"


def write_explorer(
    model: AutoEncoder,
    x: torch.Tensor | np.ndarray,
    y: torch.Tensor | np.ndarray | None,
    path: str | Path,
    *,
    method: str = "pca",
    max_points: int = MAX_POINTS,
    max_sliders: int = MAX_SLIDERS,
    seed: int = 0,
    title: str | None = None,
    class_names: list[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Writes the latent-space explorer of ``model`` on the images ``x`` to ``path``.

    Args:
        model: a trained image autoencoder (inputs ``(C, H, W)`` with 1 or 3 channels).
        x: images ``(N, C, H, W)`` in [0, 1], usually the test split.
        y: integer labels ``(N,)`` colouring the map, or ``None``.
        path: the HTML file to write (atomically).
        method: the 2-D map of the codes, ``"pca"`` or ``"umap"``.
        max_points: most points on the map; beyond that a seeded subsample.
        max_sliders: a code of at most this many units gets one slider per unit,
            a larger one one slider per principal direction (this many).
        seed: seed of the subsample and the map.
        title: the page's heading (default: the model's name and code size).
        class_names: a legend name per label value.
        overwrite: replace an existing ``path`` instead of refusing it.

    Returns:
        ``path``.

    Raises:
        ConfigError: for an unknown ``method``, a model that is not of images, or
            a decoder with layers the page cannot run.
        DataError: if ``x`` does not have the model's input shape.
        FileExistsError: if ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; choose another file or allow overwriting")
    page = explorer_html(
        model,
        x,
        y,
        method=method,
        max_points=max_points,
        max_sliders=max_sliders,
        seed=seed,
        title=title,
        class_names=class_names,
    )
    from autoencoders.files import atomic_write

    return atomic_write(path, lambda f: f.write(page.encode("utf-8")))


def explorer_html(
    model: AutoEncoder,
    x: torch.Tensor | np.ndarray,
    y: torch.Tensor | np.ndarray | None,
    *,
    method: str = "pca",
    max_points: int = MAX_POINTS,
    max_sliders: int = MAX_SLIDERS,
    seed: int = 0,
    title: str | None = None,
    class_names: list[str] | None = None,
) -> str:
    """The explorer page as a string (see :func:`write_explorer`)."""
    import jinja2

    data = explorer_data(
        model,
        x,
        y,
        method=method,
        max_points=max_points,
        max_sliders=max_sliders,
        seed=seed,
        class_names=class_names,
    )
    if title is None:
        name = (getattr(model, "config", None) or {}).get("model", type(model).__name__)
        title = f"Latent space of {name} ({data['latent_dim']} units)"
    source = resources.files("autoencoders").joinpath("templates", TEMPLATE).read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(source).render(title=title, data=data)


def explorer_data(
    model: AutoEncoder,
    x: torch.Tensor | np.ndarray,
    y: torch.Tensor | np.ndarray | None,
    *,
    method: str = "pca",
    max_points: int = MAX_POINTS,
    max_sliders: int = MAX_SLIDERS,
    seed: int = 0,
    class_names: list[str] | None = None,
) -> dict[str, Any]:
    """Everything the page needs, as JSON-ready values (arrays as base64 float32 / uint8)."""
    import numpy as np

    from autoencoders.codecs import ModelCodec
    from autoencoders.errors import ConfigError, DataError
    from autoencoders.evaluation import project_2d
    from autoencoders.evaluation.arrays import subsample_index

    if method not in MAP_METHODS:
        raise ConfigError(f"map method must be one of {', '.join(MAP_METHODS)}, got {method!r}")
    if max_points < 2 or max_sliders < 1:
        raise ConfigError(
            f"need at least 2 points and 1 slider, got {max_points} and {max_sliders}"
        )
    shape = image_shape(model)
    if hasattr(x, "detach"):  # a tensor, possibly on an accelerator
        x = x.detach().cpu().numpy()
    if y is not None and hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4 or tuple(x.shape[1:]) != shape:
        raise DataError(
            f"the model takes images of shape {shape} but the data has samples of shape "
            f"{tuple(x.shape[1:])}: use the data set the model was trained on"
        )
    if len(x) < 2:
        raise DataError(f"the map needs at least 2 images, got {len(x)}")
    labels = np.zeros(len(x), dtype=np.int64) if y is None else np.asarray(y).astype(np.int64)
    if labels.shape != (len(x),):
        raise DataError(f"{len(x)} images but labels of shape {labels.shape}")

    keep = subsample_index(len(x), max_points, seed)
    x, labels = x[keep], labels[keep]
    codes = ModelCodec(model).encode(x).astype(np.float32)
    coords, _ = project_2d(codes, method, max_samples=len(codes), random_state=seed)
    center, axes, names = _slider_axes(codes, max_sliders)
    coefficients = (codes - center) @ axes.T
    spread = coefficients.std(0)
    lo = np.minimum(coefficients.min(0), coefficients.mean(0) - 3 * spread)
    hi = np.maximum(coefficients.max(0), coefficients.mean(0) + 3 * spread)
    pixels = np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)
    return {
        "shape": list(shape),
        "latent_dim": int(codes.shape[1]),
        "n": len(codes),
        "labels": labels.tolist(),
        "class_names": list(class_names) if class_names is not None else None,
        "method": {"pca": "PCA", "umap": "UMAP"}[method],
        "coords": _b64(coords.astype(np.float32)),
        "codes": _b64(codes),
        "inputs": base64.b64encode(pixels.tobytes()).decode("ascii"),
        "sliders": {
            "names": names,
            "center": _b64(center.astype(np.float32)),
            "axes": _b64(axes.astype(np.float32)),
            "lo": [float(v) for v in lo],
            "hi": [float(v) for v in hi],
        },
        "decoder": decoder_ops(model),
    }


def image_shape(model: AutoEncoder) -> tuple[int, ...]:
    """The ``(C, H, W)`` of ``model``'s images; refuses a model that is not of images."""
    from autoencoders.errors import ConfigError

    shape = tuple(getattr(model.decoder, "output_shape", ()) or ())
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise ConfigError(
            f"explore draws images, so it needs a model of images (1 or 3, H, W); this one "
            f"outputs samples of shape {shape or 'unknown'}"
        )
    return shape


def _slider_axes(codes: np.ndarray, max_sliders: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(center, axes (K, D), names): the unit vectors, or the codes' principal directions."""
    import numpy as np

    d = codes.shape[1]
    if d <= max_sliders:
        return np.zeros(d, np.float32), np.eye(d, dtype=np.float32), [f"z{j}" for j in range(d)]
    center = codes.mean(0)
    # rows of vt are the principal directions, largest variance first
    _, _, vt = np.linalg.svd(codes - center, full_matrices=False)
    k = min(max_sliders, len(vt))
    return center, vt[:k], [f"PC{j + 1}" for j in range(k)]


def _b64(a: np.ndarray) -> str:
    import numpy as np

    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


# ------------------------------------------------------------ decoder export
def decoder_ops(model: AutoEncoder) -> list[dict[str, Any]]:
    """The decoder as a list of layers the page's JavaScript runs, weights in base64.

    Batch norm (in eval mode) becomes a per-channel scale and shift. Shapes are
    per sample, without the batch axis.

    Raises:
        ConfigError: for a decoder with layers other than those listed in the
            module docstring.
    """
    from autoencoders.errors import ConfigError
    from autoencoders.nn.decoders import ConvDecoder, LinearDecoder, MLPDecoder

    dec = model.decoder
    if isinstance(dec, LinearDecoder):
        ops = _layer_ops(dec.layer)
    elif isinstance(dec, MLPDecoder):
        ops = _layer_ops(dec.layers)
    elif isinstance(dec, ConvDecoder):
        ops = [*_layer_ops(dec.head), {"op": "reshape", "shape": list(dec.feature_shape)}]
        ops += _layer_ops(dec.deconvs)
    else:
        raise ConfigError(
            f"explore runs the decoder in the page and knows linear, MLP and conv image "
            f"decoders; this model's decoder is a {type(dec).__name__}"
        )
    ops.append({"op": "reshape", "shape": list(dec.output_shape)})
    if dec.output_activation == "sigmoid":
        ops.append({"op": "sigmoid"})
    return ops


def _layer_ops(module: torch.nn.Module) -> list[dict[str, Any]]:
    import torch
    from torch import nn

    from autoencoders.errors import ConfigError

    if isinstance(module, nn.Sequential):
        return [op for child in module for op in _layer_ops(child)]
    with torch.no_grad():
        if isinstance(module, nn.Linear):
            return [
                {
                    "op": "linear",
                    "in": module.in_features,
                    "out": module.out_features,
                    "w": _tensor_b64(module.weight),
                    "b": None if module.bias is None else _tensor_b64(module.bias),
                }
            ]
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if module.running_mean is None or module.running_var is None:
                raise ConfigError("explore needs batch norm layers that track running statistics")
            scale = torch.rsqrt(module.running_var + module.eps)
            shift = -module.running_mean * scale
            if module.affine:
                scale, shift = scale * module.weight, shift * module.weight + module.bias
            return [{"op": "affine", "scale": _tensor_b64(scale), "shift": _tensor_b64(shift)}]
        if isinstance(module, nn.ReLU):
            return [{"op": "relu"}]
        if isinstance(module, nn.ConvTranspose2d) and module.groups == 1:
            if module.dilation != (1, 1) or module.padding_mode != "zeros":
                raise ConfigError("explore runs plain transposed convolutions only")
            return [
                {
                    "op": "deconv2d",
                    "cin": module.in_channels,
                    "cout": module.out_channels,
                    "k": list(module.kernel_size),
                    "stride": list(module.stride),
                    "pad": list(module.padding),
                    "outpad": list(module.output_padding),
                    "w": _tensor_b64(module.weight),
                    "b": None if module.bias is None else _tensor_b64(module.bias),
                }
            ]
    raise ConfigError(
        f"explore cannot run a {type(module).__name__} layer in the page; it knows Linear, "
        "BatchNorm, ReLU and ConvTranspose2d"
    )


def _tensor_b64(t: torch.Tensor) -> str:
    # contiguous() in the standard layout: channels-last weights keep their logical order
    return _b64(t.detach().float().cpu().contiguous().numpy())


__all__ = [
    "MAP_METHODS",
    "MAX_POINTS",
    "MAX_SLIDERS",
    "decoder_ops",
    "explorer_data",
    "explorer_html",
    "image_shape",
    "write_explorer",
]
