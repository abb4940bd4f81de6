"""``autoencoders score``: one anomaly score per sample of a data set, flagged at a threshold.

The scoring itself is :mod:`autoencoders.anomaly.checkpoints`'s; this module reads the
options, sets up the data and writes the table.

The data scored is ``--dataset`` (by default the run's own), every row of it in
its own order (``--split all``) or one split. A ``.npy`` file is memory-mapped
and read ``--batch-size`` samples at a time, so a file larger than memory can be
scored; named data sets and other files are read through the data module. Rows
are scaled as the model's training data was (the scaler in its checkpoint).
The reference data (fitted scores, the default threshold, an ensemble's
standardisation) is the run's own data set, read from ``run.json`` in the
checkpoint's run folder, or ``--reference``. ``--threshold`` gives the
threshold outright; ``--contamination R`` flags the highest-scoring share ``R``
of the scored samples instead.

The output is a CSV table (``index,score,flag``: ``index`` the row number in the
data, then ``file`` for image folders and ``label`` where the data has labels,
as class names where it has them) or an ``.npy`` array of shape ``(N, 2)``
(score, flag), flag 1 marking an anomaly.

Images can be scored by anomaly maps (``--score map-sse|map-ssim|map-feature``,
:mod:`autoencoders.anomaly.maps`); ``--maps MAPS`` writes a picture of each
image's map, ``MAPS/index.html`` and, with labels, ``MAPS/metrics.json``. A folder
of the MVTec AD layout (:mod:`autoencoders.data.sources.mvtec`) is scored on its
``test/`` images by default, against its labels and masks, and a ``validation/``
folder with labelled anomalies gives the F1-optimal threshold.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoencoders.cli.common import (
    CHECKPOINT_HELP,
    SPLITS,
    add_data_options,
    add_out_options,
    at_least,
    check_input_shape,
    check_out,
    checkpoint_file,
    data_for,
    label_values,
    refuse_existing,
    write_csv_columns,
)
from autoencoders.errors import CheckpointError, UsageError

if TYPE_CHECKING:
    import numpy as np

    from autoencoders.anomaly.checkpoints import Reference, Samples

HELP = "write one anomaly score per sample of a data set, flagged at a threshold"

#: run.json keys that decide which data a run trained on
DATA_KEYS = ("dataset", "data_dir", "train_size", "exclude_class", "only_class", "seed",
             "data_kind", "image_size", "channels_mode", "patch_size")  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from autoencoders.anomaly import SCORES
    from autoencoders.anomaly.checkpoints import DEFAULT_BATCH, DEFAULT_QUANTILE
    from autoencoders.anomaly.maps import DEFAULT_SIGMA, DEFAULT_TOP_K, REDUCTIONS

    parser.add_argument(
        "checkpoint",
        type=checkpoint_file,
        nargs="+",
        help=f"{CHECKPOINT_HELP}; several are scored as an "
        "ensemble (the mean of their scores, each standardised on held-out normal data)",
    )
    add_data_options(
        parser,
        dataset_help="data set name or path of the samples to score (default: the run's own, "
        "from run.json beside the checkpoint)",
        label_help="a table's label column, written beside the scores (default: the run's)",
    )
    add_out_options(parser, "scores.csv (index,score,flag) or scores.npy (N, 2)", required=True)
    parser.add_argument(
        "--score",
        default=None,
        metavar="NAME",
        help=f"anomaly score, one of: {', '.join(SCORES)} (default: recon-sse; map-sse with --maps)",
    )
    parser.add_argument(
        "--maps",
        type=Path,
        default=None,
        metavar="FOLDER",
        help="write a picture of each image's anomaly map, index.html and (with labels) "
        "metrics.json into this folder",
    )
    parser.add_argument(
        "--sigma",
        type=float,
        default=None,
        help=f"map scores: Gaussian smoothing of the map in pixels (default {DEFAULT_SIGMA:g})",
    )
    parser.add_argument(
        "--reduce",
        default=None,
        choices=REDUCTIONS,
        help="map scores: the image score is the map's max (default) or its top-k mean",
    )
    parser.add_argument(
        "--top-k",
        type=float,
        default=None,
        help=f"map scores with --reduce topk: share of pixels averaged (default {DEFAULT_TOP_K:g})",
    )
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--threshold", type=float, default=None, help="flag scores above this value")
    how.add_argument(
        "--contamination",
        type=float,
        default=None,
        metavar="R",
        help="flag the highest-scoring share R of the scored samples, 0 < R < 1",
    )
    how.add_argument(
        "--quantile",
        type=float,
        default=None,
        metavar="Q",
        help="flag scores above this quantile of the reference data's held-out scores "
        f"(the default, {DEFAULT_QUANTILE:g}, unless a validation/ folder holds labelled anomalies)",
    )
    parser.add_argument(
        "--reference",
        default=None,
        metavar="DATASET",
        help="normal data the score is fitted on and the quantile taken from "
        "(default: the run's own data set, from run.json beside the checkpoint)",
    )
    parser.add_argument(
        "--split",
        choices=SPLITS,
        default=None,
        help="rows scored: all (in the data's own order; the default) or one split "
        "(default test for a folder of the MVTec AD layout)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH, help="samples scored at a time"
    )


def run(args: argparse.Namespace) -> int:
    """Scores the data set and writes the scores; returns the exit status."""
    import numpy as np

    from autoencoders.anomaly.checkpoints import Ensemble, Member, needs_reference
    from autoencoders.anomaly.inspection import ground_truth, score_images
    from autoencoders.anomaly.metrics import detection_metrics
    from autoencoders.data.run_data import run_settings

    check_options(args)
    run_info = run_settings(args.checkpoint[0]) or {}
    root = layout_root(args, run_info)
    if args.split is None:
        args.split = "test" if root is not None else "all"
    ensemble = Ensemble(
        [
            Member.load(path, args.score, args.batch_size, **map_options(args))
            for path in args.checkpoint
        ]
    )
    members = ensemble.members
    first = members[0]
    if args.maps is not None and len(members) > 1:
        raise UsageError("--maps draws one model's maps; score one checkpoint with --maps")
    # The samples are opened (and checked against the model) before any reference work.
    samples = open_samples(args, first.shape, first.config, first.path, first.scaler)
    # masks are read (and refused) before any scoring, so a bad one costs nothing
    anomalous, masks = ground_truth(
        root, samples.labels, samples.files if args.maps is not None else None, first.shape[-2:]
    )
    if needs_reference(args.score, len(members), args.threshold, args.contamination):
        loaded: dict[str, Reference] = {}
        for member in members:
            member.fit(
                reference_data(
                    args, member.config, member.shape, member.path, loaded, scaler=member.scaler
                )
            )
    maps = None
    if args.maps is not None:
        scores, maps, images, recons = score_images(first, samples.batches(args.batch_size))
    else:
        batches = [ensemble.score(batch) for batch in samples.batches(args.batch_size)]
        scores = np.concatenate(batches or [np.zeros(0)])
    threshold, why = choose_threshold(args, scores, ensemble, root, run_info)
    flags = scores > threshold
    metrics = None
    if anomalous is not None:
        metrics = detection_metrics(scores, anomalous, maps, masks)
    if args.maps is not None:
        summary = {"score": args.score, **map_options(args), "threshold": threshold,
                   "threshold_from": why, "images": len(scores), "flagged": int(flags.sum())}  # fmt: skip
        write_maps(args.maps, samples, scores, flags, maps, images, recons, masks,
                   metrics, summary, threshold)  # fmt: skip
    write_scores(args.out, scores, flags, samples)
    what = (
        args.score if len(members) == 1 else f"an ensemble of {len(members)} models' {args.score}"
    )
    wrote = f"{args.out} and {args.maps}" if args.maps is not None else f"{args.out}"
    print(
        f"scored {len(scores)} samples of {samples.where} with {what}; threshold "
        f"{threshold:.6g} ({why}); {int(flags.sum())} flagged "
        f"({100 * flags.mean() if len(flags) else 0:.1f}%); wrote {wrote}"
    )
    if metrics is not None:
        print(
            "; ".join(f"{k} {v:.4f}" if v is not None else f"{k} n/a" for k, v in metrics.items())
        )
    return 0


def layout_root(args: argparse.Namespace, run: dict) -> Path | None:
    """The scored folder (``--dataset``, else the run's own) if it has the MVTec AD layout."""
    from autoencoders.data.sources.mvtec import is_mvtec_folder

    dataset = args.dataset if args.dataset is not None else run.get("dataset")
    if dataset is None:
        return None
    path = Path(str(dataset)).expanduser()
    return path if path.is_dir() and is_mvtec_folder(path) else None


def map_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options given to a map score (``--sigma``, ``--reduce``, ``--top-k``)."""
    given = {"sigma": args.sigma, "reduce": args.reduce, "top_k": args.top_k}
    return {k: v for k, v in given.items() if v is not None}


def choose_threshold(
    args: argparse.Namespace, scores: np.ndarray, ensemble: Any, root: Path | None, run: dict
) -> tuple[float, str]:
    """The threshold and where it came from, in words.

    ``--threshold``, ``--contamination`` or ``--quantile`` as given; else the layout's
    validation folder's F1-optimal threshold where it has labelled anomalies; else the
    default quantile of held-out normal scores.
    """
    from autoencoders.anomaly.checkpoints import DEFAULT_QUANTILE, threshold_for
    from autoencoders.anomaly.inspection import validation_threshold

    chosen = args.threshold is not None or args.contamination is not None
    if not chosen and args.quantile is None and root is not None:
        first = ensemble.members[0]
        found = validation_threshold(root, ensemble, run, first.shape, first.scaler)
        if found is not None:
            return found
    return threshold_for(
        scores,
        ensemble,
        threshold=args.threshold,
        contamination=args.contamination,
        quantile=args.quantile if args.quantile is not None else DEFAULT_QUANTILE,
    )


def check_options(args: argparse.Namespace) -> None:
    """Refuses options out of range and an ``--out`` it must not write, before any work."""
    from autoencoders.anomaly import check_score_name
    from autoencoders.anomaly.maps import check_map_options

    if args.score is None:
        args.score = "map-sse" if args.maps is not None else "recon-sse"
    check_score_name(args.score, "--score")
    check_out(args.out, args.overwrite, suffixes=(".csv", ".npy"), example="scores.csv")
    at_least(args.batch_size, 1, "--batch-size")
    if args.threshold is not None and not math.isfinite(args.threshold):
        raise UsageError(f"--threshold must be a finite number, got {args.threshold}")
    for flag, value in (("--contamination", args.contamination), ("--quantile", args.quantile)):
        if value is not None and not 0.0 < value < 1.0:
            raise UsageError(f"{flag} must lie strictly between 0 and 1, got {value}")
    is_map = args.score.startswith("map-")
    if map_options(args) and not is_map:
        raise UsageError(
            f"--sigma, --reduce and --top-k shape a map score; --score {args.score} has no map: "
            "pass --score map-sse (or map-ssim, map-feature), or leave them out"
        )
    if is_map:
        options = {"sigma": 1.0, "reduce": "max", "top_k": 0.5, **map_options(args)}
        check_map_options(args.score.removeprefix("map-"), **options)
    if args.maps is not None:
        if not is_map:
            raise UsageError(
                f"--maps draws anomaly maps, but --score {args.score} has none: pass --score "
                "map-sse, map-ssim or map-feature (or leave --score out)"
            )
        if args.maps.exists() and not args.maps.is_dir():
            raise UsageError(f"--maps {args.maps} is a file; give a folder name")
        refuse_existing(args.maps, args.overwrite, "--maps")


def write_maps(
    folder: Path,
    samples: Samples,
    scores: np.ndarray,
    flags: np.ndarray,
    maps: np.ndarray,
    images: np.ndarray,
    recons: np.ndarray,
    masks: np.ndarray | None,
    metrics: dict | None,
    summary: dict,
    threshold: float,
) -> None:
    """The ``--maps`` folder, complete or not at all.

    A picture per image, ``index.html``, ``maps.npy`` (the maps, ``N x H x W``, in
    ``--out``'s order) and ``metrics.json`` (where there are labels).
    """
    import numpy as np

    from autoencoders.anomaly import map_pages as pages

    rows = samples.rows if samples.rows is not None else np.arange(len(scores))
    files = samples.files if samples.files is not None else [None] * len(scores)
    labels = samples.labels if samples.labels is not None else [None] * len(scores)
    names = [pages.picture_name(int(r), f) for r, f in zip(rows, files, strict=True)]
    records = [
        pages.MapRecord(n, int(r), f, float(s), bool(b), None if lab is None else str(lab))
        for n, r, f, s, b, lab in zip(names, rows, files, scores, flags, labels, strict=True)
    ]
    with pages.maps_folder(folder) as tmp:
        top = pages.colour_scale(maps)
        pages.write_pictures(tmp, images, recons, maps, masks, names, top)
        pages.write_index(tmp, records, f"Anomaly maps of {samples.where}", threshold)
        np.save(tmp / "maps.npy", maps.astype(np.float32))  # the rows of --out, in its order
        if metrics is not None:
            pages.write_metrics(tmp, {**metrics, **summary})


# -------------------------------------------------------------------- data
def open_samples(
    args: argparse.Namespace,
    shape: tuple[int, ...],
    config: dict,
    checkpoint: Path,
    scaler: Any = None,
) -> Samples:
    """The data to score: a memory-mapped ``.npy`` (all its rows), or rows read by the data module.

    Raises:
        DataError: for a file that cannot be read as numbers.
        CheckpointError: for samples of another shape than the model takes.
    """
    import numpy as np

    from autoencoders.anomaly.checkpoints import Samples, open_npy

    # the data is reshaped batch by batch, so a missing channel of 1 is accepted
    fix = "score data of the shape the model was trained on"
    dataset = getattr(args, "dataset", None)
    path = Path(dataset).expanduser() if dataset is not None else None
    split = getattr(args, "split", "all")
    if path is not None and path.suffix.lower() == ".npy" and path.is_file() and split == "all":
        values = open_npy(path)
        found = tuple(values.shape[1:])
        check_input_shape(checkpoint, shape, found, dataset, fix, channel_optional=True)
        return Samples.from_array(values, shape, str(path), scaler)
    dm = data_for(args, checkpoint, config, scaler, shape, fix=fix, channel_optional=True)
    x, y, rows = dm.rows(split)
    files = None if dm.files is None else np.asarray(dm.files, dtype=object)[rows.numpy()]
    # already scaled by the data module, so no scaler here
    return Samples(
        x.numpy(),
        shape,
        1.0,
        f"{dataset or dm.name} ({split} rows)",
        rows=rows.numpy(),
        labels=label_values(y.numpy(), dm.classes),
        files=files,
    )


def reference_data(
    args: argparse.Namespace,
    config: dict,
    shape: tuple[int, ...],
    checkpoint: Path,
    loaded: dict[str, Reference] | None = None,
    *,
    scaler: Any = None,
) -> Reference:
    """The run's own data (``run.json``), or ``--reference``: its train and validation splits.

    Rows are scaled by ``scaler``, the model's own scaling. ``loaded`` keeps the
    references already read, by what decides their rows, so the members of an
    ensemble trained on the same data read it once.

    Raises:
        CheckpointError: if neither is available, or the data does not fit the model.
    """
    from autoencoders.anomaly.checkpoints import Reference
    from autoencoders.data.run_data import checkpoint_datamodule, run_settings

    run = run_settings(checkpoint) or {}
    if args.reference is None and not run:
        raise CheckpointError(
            f"no run.json beside {checkpoint}, so its training data is unknown: pass "
            "--reference DATASET (normal data), or --threshold/--contamination with a "
            "recon-* score"
        )
    dataset = args.reference if args.reference is not None else str(run.get("dataset", "digits"))
    data_dir = args.data_dir if args.reference is not None else None
    stored = scaler.to_dict() if scaler is not None else None
    key = json.dumps([dataset, data_dir, config.get("model"), stored,
                      {k: run.get(k) for k in DATA_KEYS}], default=str)  # fmt: skip
    if loaded is not None and key in loaded:
        return loaded[key]
    dm = checkpoint_datamodule(checkpoint, config, scaler, args.reference, data_dir)
    check_input_shape(
        checkpoint,
        shape,
        tuple(dm.sample_shape),
        f"the reference data {dataset}",
        "pass --reference data of that shape",
    )
    reference = Reference.from_datamodule(dm, dataset)
    if loaded is not None:
        loaded[key] = reference
    return reference


# ------------------------------------------------------------------ output
def write_scores(path: Path, scores: np.ndarray, flags: np.ndarray, samples: Samples) -> None:
    """Writes the scores and flags (with row numbers, files, labels) to ``path``, atomically."""
    import numpy as np

    from autoencoders.files import atomic_write

    if path.suffix.lower() == ".npy":
        table = np.column_stack([scores, flags.astype(np.float64)])
        atomic_write(path, lambda f: np.save(f, table))
        return
    rows = samples.rows if samples.rows is not None else np.arange(len(scores))
    if samples.files is None and samples.labels is None:
        _write_plain_csv(path, rows, scores, flags)  # the fast path for large arrays
        return
    columns: dict[str, Any] = {"index": rows}
    if samples.files is not None:
        columns["file"] = samples.files
    columns.update(score=np.asarray(scores, dtype=np.float64), flag=flags.astype(int))
    if samples.labels is not None:
        columns["label"] = samples.labels
    atomic_write(path, lambda f: write_csv_columns(f, columns, float_format=".9g"))


def _write_plain_csv(path: Path, rows: np.ndarray, scores: np.ndarray, flags: np.ndarray) -> None:
    from autoencoders.files import atomic_write

    def write_csv(f: Any) -> None:
        f.write(b"index,score,flag\n")
        for start in range(0, len(scores), 65536):
            end = start + 65536
            part = zip(rows[start:end], scores[start:end], flags[start:end], strict=False)
            f.write("".join(f"{i},{s:.9g},{int(b)}\n" for i, s, b in part).encode())

    atomic_write(path, write_csv)
