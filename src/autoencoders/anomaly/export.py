"""A fitted map score as one file that runs without this package: ONNX or TorchScript.

The graph takes an image batch ``image`` (float in [0, 1], ``N x C x H x W``,
any ``N``) and a ``threshold`` (a scalar) and gives ``score`` (``N``), ``map``
(``N x H x W``) and ``flag`` (``score > threshold``). It is the very
:class:`~autoencoders.anomaly.maps.AnomalyMapper` the ``score`` command runs,
with the model's own input scaling in front, so both compute the same numbers.
The threshold the score command would use (and where it came from) is stored in
the file's metadata; since it is an input, another threshold needs no new export.

Metadata: ONNX keeps it in the model's ``metadata_props``; TorchScript in the
extra file ``autoencoders.json``. :func:`read_metadata` reads either.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from autoencoders.anomaly.maps import AnomalyMapper
from autoencoders.errors import ConfigError
from autoencoders.files import atomic_path

#: the formats ``autoencoders export`` writes
EXPORT_FORMATS = ("onnx", "torchscript")
#: the TorchScript extra file holding the metadata
TORCHSCRIPT_METADATA = "autoencoders.json"
#: the ONNX metadata key holding the metadata (a JSON object)
ONNX_METADATA = "autoencoders"


class ThresholdedMapper(nn.Module):
    """``(image, threshold) -> (score, map, flag)``: a map score with its flag."""

    def __init__(self, mapper: AnomalyMapper) -> None:
        super().__init__()
        self.mapper = mapper

    def forward(
        self, image: torch.Tensor, threshold: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        score, amap = self.mapper(image)
        return score, amap, score > threshold


def scaled_mapper(
    model: nn.Module, score: Any, scaler: Any, shape: tuple[int, ...]
) -> ThresholdedMapper:
    """A fitted map score as one module, with the model's input scaling in front.

    ``score`` is a fitted :class:`~autoencoders.anomaly.maps.MapScore` of ``model``;
    ``scaler`` the model's min-max input scaling (None: none).

    Raises:
        ConfigError: for a score without a map.
    """
    if not hasattr(score, "score_and_maps"):
        raise ConfigError(
            f"export writes a map score; {score.name!r} has no map: pass --score map-sse, "
            "map-ssim or map-feature"
        )
    low = span = None
    if scaler is not None:
        data = scaler.to_dict()
        lo, hi = np.asarray(data["min"], np.float32), np.asarray(data["max"], np.float32)
        width = np.where(hi - lo > 0, hi - lo, 1.0).astype(np.float32)
        # one range for images, or one per value: either way shaped like one sample
        sample = (1, *shape) if lo.size > 1 else (1,) * (len(shape) + 1)
        low, span = torch.from_numpy(lo.reshape(sample)), torch.from_numpy(width.reshape(sample))
    options = score.options()
    mapper = AnomalyMapper(model, score.kind, layer_scales=score.layer_scales_, low=low,
                           span=span, **options)  # fmt: skip
    return ThresholdedMapper(mapper).eval()


def export_scorer(
    module: ThresholdedMapper,
    shape: tuple[int, ...],
    path: Path,
    fmt: str,
    metadata: dict[str, Any],
) -> Path:
    """Writes ``module`` for images of ``shape`` ``(C, H, W)`` to ``path``, atomically.

    Raises:
        ConfigError: for an unknown format, or ONNX without the ``export`` extra.
    """
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    example = (torch.rand(2, *shape), torch.tensor(0.5))
    text = json.dumps(metadata, sort_keys=True)
    with torch.no_grad(), _scripting(module), _quiet_exporter(), atomic_path(path) as tmp:
        if fmt == "torchscript":
            # frozen: the weights become constants, so outputs need no torch.no_grad()
            traced = torch.jit.freeze(torch.jit.trace(module, example, check_trace=False))
            torch.jit.save(traced, str(tmp), _extra_files={TORCHSCRIPT_METADATA: text})
        else:
            _write_onnx(module, example, tmp, text)
    return path


@contextlib.contextmanager
def _scripting(module: nn.Module) -> Iterator[None]:
    """Marks the Lightning modules inside ``module`` as being scripted while it is traced.

    A LightningModule's ``trainer`` property raises outside a Trainer, and the tracer
    reads every attribute; Lightning's own ``to_torchscript`` sets this flag for that.
    """
    marked = [m for m in module.modules() if hasattr(m, "_jit_is_scripting")]
    for m in marked:
        m._jit_is_scripting = True
    try:
        yield
    finally:
        for m in marked:
            m._jit_is_scripting = False


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The ONNX exporter's progress lines and notes off the terminal, while it runs."""
    names = ("torch.onnx", "onnxscript", "onnx_ir", "torch.export", "torch._export")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _write_onnx(module: nn.Module, example: tuple, tmp: Path, metadata: str) -> None:
    try:
        import onnx
        import onnxscript  # noqa: F401  (the exporter needs it; checked here for a clear message)
    except ImportError:
        raise ConfigError(
            "ONNX export needs the export extra: pip install 'autoencoder-lab[export]' "
            "(onnx, onnxscript, onnxruntime), or pass --format torchscript"
        ) from None
    batch = torch.export.Dim("N", min=1)
    with _quiet_exporter():
        program = torch.onnx.export(
            module,
            example,
            input_names=["image", "threshold"],
            output_names=["score", "map", "flag"],
            dynamic_shapes=({0: batch}, None),
            dynamo=True,
            verbose=False,
        )
    proto = program.model_proto
    entry = proto.metadata_props.add()
    entry.key, entry.value = ONNX_METADATA, metadata
    onnx.save_model(proto, str(tmp))


def read_metadata(path: Path) -> dict[str, Any]:
    """The metadata an exported file carries (the threshold, the score and its options)."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        found = {p.key: p.value for p in model.metadata_props}
        return json.loads(found[ONNX_METADATA])
    extra = {TORCHSCRIPT_METADATA: ""}
    torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra[TORCHSCRIPT_METADATA])
