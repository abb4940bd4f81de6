"""``autoencoders export``: a checkpoint's anomaly map score as one ONNX or TorchScript file.

The file computes what ``autoencoders score --maps`` computes by default (the
``map-sse`` score, or the ``--score`` and map options given), the model's input
scaling included: from ``image`` (``N x C x H x W`` floats in [0, 1]) and
``threshold`` to ``score``, ``map`` and ``flag``
(:mod:`autoencoders.anomaly.export`). The threshold the score command would
choose (``--threshold``; else the F1-optimal one on a ``validation/`` folder of
the MVTec AD layout; else ``--quantile`` of held-out normal scores) is stored in
the file's metadata, for callers that keep it.
"""

from __future__ import annotations

import argparse
import math

from autoencoders.cli.common import CHECKPOINT_HELP, add_out_options, check_out, checkpoint_file
from autoencoders.errors import UsageError

HELP = "write a checkpoint's anomaly map score as an ONNX or TorchScript file"

#: ``--out`` suffixes of each format
SUFFIXES = {"onnx": (".onnx",), "torchscript": (".pt", ".ts", ".torchscript")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from autoencoders.anomaly.checkpoints import DEFAULT_QUANTILE
    from autoencoders.anomaly.maps import DEFAULT_SIGMA, DEFAULT_TOP_K, REDUCTIONS

    parser.add_argument("checkpoint", type=checkpoint_file, help=CHECKPOINT_HELP)
    parser.add_argument(
        "--format", choices=tuple(SUFFIXES), default="onnx", help="the file's format (default onnx)"
    )
    add_out_options(parser, "the file to write (model.onnx, or model.pt for torchscript)",
                    required=True)  # fmt: skip
    parser.add_argument(
        "--score",
        default="map-sse",
        metavar="NAME",
        help="map score: map-sse (the default, as `score --maps`), map-ssim or map-feature",
    )
    parser.add_argument("--sigma", type=float, default=None,
                        help=f"Gaussian smoothing of the map in pixels (default {DEFAULT_SIGMA:g})")  # fmt: skip
    parser.add_argument("--reduce", default=None, choices=REDUCTIONS,
                        help="the image score: the map's max (default) or its top-k mean")  # fmt: skip
    parser.add_argument("--top-k", type=float, default=None,
                        help=f"share of pixels --reduce topk averages (default {DEFAULT_TOP_K:g})")  # fmt: skip
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--threshold", type=float, default=None,
                     help="the threshold stored in the file (default: as `score` chooses it)")  # fmt: skip
    how.add_argument("--quantile", type=float, default=None, metavar="Q",
                     help=f"store this quantile of held-out normal scores (default {DEFAULT_QUANTILE:g})")  # fmt: skip
    parser.add_argument(
        "--reference",
        default=None,
        metavar="DATASET",
        help="normal data the score is fitted on and the threshold taken from (default: the "
        "run's own data set, from run.json beside the checkpoint)",
    )
    parser.add_argument("--data-dir", default=None, help="folder of named data sets")


def run(args: argparse.Namespace) -> int:
    """Fits the score as ``score`` would, and writes it with its threshold; returns 0."""
    import numpy as np

    from autoencoders.anomaly.checkpoints import Ensemble, Member, needs_reference
    from autoencoders.anomaly.export import export_scorer, scaled_mapper
    from autoencoders.cli.score import choose_threshold, layout_root, map_options, reference_data
    from autoencoders.data.run_data import run_settings

    check_options(args)
    member = Member.load(args.checkpoint, args.score, **map_options(args))
    if len(member.shape) != 3:
        raise UsageError(
            f"{args.checkpoint} takes samples of shape {member.shape}; export writes the maps "
            "of image models (C, H, W)"
        )
    # the score command's names for what export does not have
    args.dataset, args.contamination = None, None
    run_info = run_settings(args.checkpoint) or {}
    if needs_reference(args.score, 1, args.threshold, None):
        member.fit(
            reference_data(args, member.config, member.shape, member.path, scaler=member.scaler)
        )
    threshold, why = choose_threshold(
        args, np.zeros(0), Ensemble([member]), layout_root(args, run_info), run_info
    )
    module = scaled_mapper(member.codec.model, member.scorer, member.scaler, member.shape)
    metadata = {
        "score": args.score,
        **member.scorer.options(),
        "threshold": threshold,
        "threshold_from": why,
        "input_shape": list(member.shape),
        "inputs": {"image": "N x C x H x W float32 in [0, 1]", "threshold": "scalar float32"},
        "outputs": {"score": "N", "map": "N x H x W", "flag": "N, score > threshold"},
        "checkpoint": str(args.checkpoint),
    }
    export_scorer(module, member.shape, args.out, args.format, metadata)
    print(
        f"wrote {args.out} ({args.format}): {args.score} of {member.shape} images; "
        f"threshold {threshold:.6g} ({why}) stored in its metadata; pass another as input "
        "'threshold' to flag differently"
    )
    return 0


def check_options(args: argparse.Namespace) -> None:
    """Refuses a non-map score, options out of range, and an ``--out`` it must not write."""
    from autoencoders.anomaly import check_score_name
    from autoencoders.anomaly.maps import check_map_options
    from autoencoders.cli.score import map_options

    check_score_name(args.score, "--score")
    if not args.score.startswith("map-"):
        raise UsageError(
            f"export writes an anomaly map score; --score {args.score} has no map: choose "
            "map-sse, map-ssim or map-feature"
        )
    options = {"sigma": 1.0, "reduce": "max", "top_k": 0.5, **map_options(args)}
    check_map_options(args.score.removeprefix("map-"), **options)
    if args.threshold is not None and not math.isfinite(args.threshold):
        raise UsageError(f"--threshold must be a finite number, got {args.threshold}")
    if args.quantile is not None and not 0.0 < args.quantile < 1.0:
        raise UsageError(f"--quantile must lie strictly between 0 and 1, got {args.quantile}")
    check_out(args.out, args.overwrite, suffixes=SUFFIXES[args.format], example="model.onnx")
