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
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoencoders.cli.common import (
    SPLITS,
    add_data_options,
    add_out_options,
    at_least,
    check_input_shape,
    check_out,
    data_for,
    label_values,
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

    parser.add_argument(
        "checkpoint",
        type=Path,
        nargs="+",
        help="a .ckpt file written by `autoencoders train`; several are scored as an "
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
        default="recon-sse",
        metavar="NAME",
        help=f"anomaly score, one of: {', '.join(SCORES)}",
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
        default=DEFAULT_QUANTILE,
        metavar="Q",
        help="flag scores above this quantile of the reference data's held-out scores",
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
        default="all",
        help="rows scored: all (in the data's own order) or one split",
    )
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH, help="samples scored at a time"
    )


def run(args: argparse.Namespace) -> int:
    """Scores the data set and writes the scores; returns the exit status."""
    import numpy as np

    from autoencoders.anomaly.checkpoints import Ensemble, Member, needs_reference, threshold_for

    check_options(args)
    ensemble = Ensemble(
        [Member.load(path, args.score, args.batch_size) for path in args.checkpoint]
    )
    members = ensemble.members
    first = members[0]
    # The samples are opened (and checked against the model) before any reference work.
    samples = open_samples(args, first.shape, first.config, first.path, first.scaler)
    if needs_reference(args.score, len(members), args.threshold, args.contamination):
        loaded: dict[str, Reference] = {}
        for member in members:
            member.fit(
                reference_data(
                    args, member.config, member.shape, member.path, loaded, scaler=member.scaler
                )
            )
    scores = np.concatenate(
        [ensemble.score(batch) for batch in samples.batches(args.batch_size)] or [np.zeros(0)]
    )
    threshold, why = threshold_for(
        scores,
        ensemble,
        threshold=args.threshold,
        contamination=args.contamination,
        quantile=args.quantile,
    )
    flags = scores > threshold
    write_scores(args.out, scores, flags, samples)
    what = (
        args.score if len(members) == 1 else f"an ensemble of {len(members)} models' {args.score}"
    )
    print(
        f"scored {len(scores)} samples of {samples.where} with {what}; threshold "
        f"{threshold:.6g} ({why}); {int(flags.sum())} flagged "
        f"({100 * flags.mean() if len(flags) else 0:.1f}%); wrote {args.out}"
    )
    return 0


def check_options(args: argparse.Namespace) -> None:
    """Refuses options out of range and an ``--out`` it must not write, before any work."""
    from autoencoders.anomaly import check_score_name

    check_score_name(args.score, "--score")
    check_out(args.out, args.overwrite, suffixes=(".csv", ".npy"), example="scores.csv")
    at_least(args.batch_size, 1, "--batch-size")
    if args.threshold is not None and not math.isfinite(args.threshold):
        raise UsageError(f"--threshold must be a finite number, got {args.threshold}")
    for flag, value in (("--contamination", args.contamination), ("--quantile", args.quantile)):
        if value is not None and not 0.0 < value < 1.0:
            raise UsageError(f"{flag} must lie strictly between 0 and 1, got {value}")


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
