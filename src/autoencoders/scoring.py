"""``autoencoders score``: one anomaly score per sample of a data set, and a flag at a threshold.

The model comes from a checkpoint; the score is any of the registered anomaly
scores (:data:`autoencoders.evaluation.anomaly.SCORES`). Several checkpoints
(models of other seeds or kinds, trained on the same normal data) are scored as
an ensemble: each member's score is standardised on its scores of the held-out
reference data, and the members' standardised scores are averaged
(:func:`~autoencoders.evaluation.anomaly.ensemble_scores`). Scores that must be
fitted (``density``, ``combined``, ``feature``), and the default threshold,
use *reference* data: the normal data the model was trained on. By default
that is the run's own data set, read from ``run.json`` in the checkpoint's run
folder: the score is fitted on its training split, and the threshold is a
quantile (``--quantile``, 0.99) of the scores of its validation split, which
the model never trained on. ``--reference`` names other normal data.
``--threshold`` gives the threshold outright; ``--contamination R`` flags the
highest-scoring share ``R`` of the scored samples instead.

The data scored is ``--dataset`` (by default the run's own), every row of it in
its own order (``--split all``) or one split. A ``.npy`` file is memory-mapped
and read ``--batch-size`` samples at a time, so a file larger than memory can be
scored; named data sets and other files are read through the data module. Rows
are scaled as the model's training data was (the scaler in its checkpoint).

The output is a CSV table (``index,score,flag``: ``index`` the row number in the
data, then ``file`` for image folders and ``label`` where the data has labels,
as class names where it has them) or an ``.npy`` array of shape ``(N, 2)``
(score, flag), flag 1 marking an anomaly; an existing file is only replaced
with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autoencoders.errors import CheckpointError, ConfigError, DataError

log = logging.getLogger(__name__)

#: samples scored at a time
DEFAULT_BATCH = 1024
#: the default threshold: this quantile of the reference data's held-out scores
DEFAULT_QUANTILE = 0.99
#: most reference rows a score is fitted on (a Gaussian mixture or PCA needs no more)
MAX_REFERENCE = 10_000
#: run.json keys that decide which data a run trained on
_DATA_KEYS = (
    "dataset",
    "data_dir",
    "train_size",
    "exclude_class",
    "only_class",
    "seed",
    "data_kind",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``autoencoders score``."""
    from autoencoders.evaluation.anomaly import SCORES

    parser.add_argument(
        "checkpoint",
        type=Path,
        nargs="+",
        help="a .ckpt file written by `autoencoders train`; several are scored as an "
        "ensemble (the mean of their scores, each standardised on held-out normal data)",
    )
    parser.add_argument(
        "--dataset",
        default=None,
        help="data set name or path of the samples to score (default: the run's own, from "
        "run.json beside the checkpoint)",
    )
    parser.add_argument("--data-dir", default=None, help="folder holding or receiving data files")
    parser.add_argument(
        "--label-column",
        default=None,
        metavar="NAME",
        help="a table's label column, written beside the scores (default: the run's)",
    )
    parser.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a CSV's first row names its columns (default: the run's setting; detected)",
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="scores.csv (index,score,flag) or scores.npy (N, 2)"
    )
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
        choices=("all", "train", "val", "test"),
        default="all",
        help="rows scored: all (in the data's own order) or one split",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH,
        help="samples scored at a time",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def run(args: argparse.Namespace) -> int:
    """Scores the data set and writes the scores; returns the exit status."""
    _check_options(args)
    members = [Member.load(path, args) for path in args.checkpoint]
    first = members[0]
    for other in members[1:]:
        if other.shape != first.shape:
            raise CheckpointError(
                f"{other.path} takes samples of shape {other.shape} but {first.path} takes "
                f"{first.shape}: the models of an ensemble must take the same samples"
            )
    # The samples are opened (and checked against the model) before any reference work.
    samples = open_samples(args, first.shape, first.config, first.path, first.scaler)
    fitted = args.score not in ("recon-sse", "recon-bce")
    needs_reference = (
        fitted or (args.threshold is None and args.contamination is None) or len(members) > 1
    )
    loaded: dict[str, Reference] = {}
    for member in members if needs_reference else []:
        reference = reference_data(
            args, member.config, member.shape, member.path, loaded, scaler=member.scaler
        )
        member.fit(fitted, reference)
    ensemble = Ensemble(members)
    scores = np.concatenate(
        [ensemble.score(batch) for batch in samples.batches(args.batch_size)] or [np.zeros(0)]
    )
    threshold, why = _threshold(args, scores, ensemble, first.reference)
    flags = scores > threshold
    _write(args.out, scores, flags, samples)
    what = (
        args.score if len(members) == 1 else f"an ensemble of {len(members)} models' {args.score}"
    )
    print(
        f"scored {len(scores)} samples of {samples.where} with {what}; threshold "
        f"{threshold:.6g} ({why}); {int(flags.sum())} flagged "
        f"({100 * flags.mean() if len(flags) else 0:.1f}%); wrote {args.out}"
    )
    return 0


@dataclass
class Member:
    """One checkpoint's model and its fitted score; ``reference`` is its normal data."""

    path: Path
    codec: Any
    config: dict
    shape: tuple[int, ...]
    scorer: Any
    reference: Reference | None = None
    #: the member's scores of held-out normal data, on which an ensemble standardises it
    normal_scores: np.ndarray | None = None
    #: the scaling of the model's training data (None: data used as it was)
    scaler: Any = None

    @classmethod
    def load(cls, path: Path, args: argparse.Namespace) -> Member:
        from autoencoders.assess import ModelCodec
        from autoencoders.checkpoint import load
        from autoencoders.evaluation.anomaly import make_score

        model = load(path)
        config = getattr(model, "config", None) or {}
        shape = tuple(config.get("input_shape") or getattr(model.decoder, "output_shape", ()))
        codec = ModelCodec(model, batch_size=args.batch_size)
        scaler = getattr(model, "data_scaler", None)
        return cls(path, codec, config, shape, make_score(args.score), scaler=scaler)

    def fit(self, fitted: bool, reference: Reference) -> None:
        """Fits the score on the reference data (if it is fitted) and scores its held-out rows."""
        self.reference = reference
        if fitted:
            self.scorer.fit(self.codec, reference.train, reference.held_out)
        self.normal_scores = self.score(reference.rows())

    def score(self, x: np.ndarray) -> np.ndarray:
        return self.scorer.score(self.codec, x)


@dataclass
class Ensemble:
    """One score from one or more members: a lone member's own, else their standardised mean."""

    members: list[Member]

    def score(self, x: np.ndarray) -> np.ndarray:
        from autoencoders.evaluation.anomaly import ensemble_scores

        if len(self.members) == 1:
            return self.members[0].score(x)
        return ensemble_scores(
            [m.normal_scores for m in self.members], [m.score(x) for m in self.members]
        )

    def reference_scores(self) -> np.ndarray:
        """The ensemble's scores of the first member's held-out reference rows.

        Each member scored its reference rows when it was fitted; where the members
        share one reference (the usual case), those scores are reused, not recomputed.
        """
        from autoencoders.evaluation.anomaly import ensemble_scores

        first = self.members[0]
        if len(self.members) == 1:
            return first.normal_scores
        if all(m.reference is first.reference for m in self.members):
            normal = [m.normal_scores for m in self.members]
            return ensemble_scores(normal, normal)
        return self.score(first.reference.rows())


# ------------------------------------------------------------------ checks
def _check_options(args: argparse.Namespace) -> None:
    from autoencoders.evaluation.anomaly import SCORES

    if args.score not in SCORES:
        raise ConfigError(f"unknown --score {args.score!r}; choose one of: {', '.join(SCORES)}")
    suffix = args.out.suffix.lower()
    if suffix not in (".csv", ".npy"):
        raise ConfigError(f"--out must end in .csv or .npy, got {args.out.name}")
    if args.out.is_dir():
        raise ConfigError(
            f"--out {args.out} is a folder; give a file name, e.g. {args.out / 'scores.csv'}"
        )
    if args.out.exists() and not args.overwrite:
        raise ConfigError(
            f"--out {args.out} exists; pass --overwrite to replace it, or choose another file"
        )
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.threshold is not None and not math.isfinite(args.threshold):
        raise ConfigError(f"--threshold must be a finite number, got {args.threshold}")
    for flag, value in (("--contamination", args.contamination), ("--quantile", args.quantile)):
        if value is not None and not 0.0 < value < 1.0:
            raise ConfigError(f"{flag} must lie strictly between 0 and 1, got {value}")


# ----------------------------------------------------------------- samples
@dataclass
class Samples:
    """The samples to score: an array-like of ``(N, ...)`` values, read in batches.

    ``values`` may be a memory map; each batch is copied out of it, reshaped to
    the model's input shape, divided by ``scale``, scaled by ``scaler`` (the
    model's own scaling, where it has one) and checked for NaN and infinity.
    ``rows`` are the samples' row numbers in the data (None: 0, 1, ...),
    ``labels`` their labels as the data names them and ``files`` their files.
    """

    values: Any
    shape: tuple[int, ...]
    scale: float
    where: str
    scaler: Any = None
    rows: np.ndarray | None = None
    labels: np.ndarray | None = None
    files: np.ndarray | None = None

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        for start in range(0, len(self.values), batch_size):
            raw = np.asarray(self.values[start : start + batch_size])
            batch = raw.astype(np.float32).reshape(len(raw), *self.shape)
            if self.scale != 1.0:
                batch /= self.scale
            bad = ~np.isfinite(batch.reshape(len(batch), -1))
            if self.scaler is not None and not bad.any():
                batch = self.scaler.apply(batch)
            if bad.any():
                row, col = np.argwhere(bad)[0]
                raise DataError(
                    f"{self.where}: sample {start + row} holds {batch.reshape(len(batch), -1)[row, col]} "
                    f"at position {col}; replace non-finite values or drop those samples"
                )
            yield batch


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
    from autoencoders.checkpoint import checkpoint_datamodule
    from autoencoders.cli import label_values

    dataset = getattr(args, "dataset", None)
    path = Path(dataset).expanduser() if dataset is not None else None
    split = getattr(args, "split", "all")
    if path is not None and path.suffix.lower() == ".npy" and path.is_file() and split == "all":
        try:
            values = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            raise DataError(
                f"{path}: not a readable .npy file ({err}); write it with np.save"
            ) from None
        if values.dtype.kind not in "biuf" or values.ndim < 2:
            raise DataError(
                f"{path}: expected an array of numbers of shape (N, ...), got {values.dtype} "
                f"of shape {values.shape}"
            )
        _check_shape(tuple(values.shape[1:]), shape, args, checkpoint)
        scale = 255.0 if values.dtype == np.uint8 else 1.0
        return Samples(values, shape, scale, str(path), scaler)
    dm = checkpoint_datamodule(
        checkpoint,
        config,
        scaler,
        dataset,
        getattr(args, "data_dir", None),
        label_column=getattr(args, "label_column", None),
        header=getattr(args, "header", None),
    )
    _check_shape(tuple(dm.sample_shape), shape, args, checkpoint)
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


def _check_shape(
    found: tuple[int, ...], shape: tuple[int, ...], args: argparse.Namespace, checkpoint: Path
) -> None:
    """Accepts the model's shape, or that shape without a leading channel of 1."""
    if not shape or found == shape or (shape[0] == 1 and found == shape[1:]):
        return
    raise CheckpointError(
        f"{checkpoint} takes samples of shape {shape} but {getattr(args, 'dataset', None) or 'the data'} has "
        f"{found}: score data of the shape the model was trained on"
    )


# --------------------------------------------------------------- reference
@dataclass
class Reference:
    """Normal data: rows a score is fitted on, and held-out rows for statistics."""

    train: np.ndarray
    held_out: np.ndarray | None
    where: str

    def rows(self) -> np.ndarray:
        """The rows statistics are taken on: held-out ones where there are any."""
        return self.held_out if self.held_out is not None else self.train


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
    from autoencoders.checkpoint import checkpoint_datamodule, run_settings

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
                      {k: run.get(k) for k in _DATA_KEYS}], default=str)  # fmt: skip
    if loaded is not None and key in loaded:
        return loaded[key]
    dm = checkpoint_datamodule(checkpoint, config, scaler, args.reference, data_dir)
    if tuple(dm.sample_shape) != shape:
        raise CheckpointError(
            f"{checkpoint} takes samples of shape {shape} but the reference data "
            f"{dataset} has {tuple(dm.sample_shape)}: pass --reference data of that shape"
        )
    train = dm.full_arrays("train")[0].numpy()[:MAX_REFERENCE]
    held_out = dm.full_arrays("val")[0].numpy()
    reference = Reference(train, held_out if len(held_out) else None, dataset)
    if loaded is not None:
        loaded[key] = reference
    return reference


def _threshold(
    args: argparse.Namespace, scores: np.ndarray, ensemble: Ensemble, ref: Reference | None
) -> tuple[float, str]:
    if args.threshold is not None:
        return float(args.threshold), "given"
    if args.contamination is not None:
        if not len(scores):
            return math.inf, "no samples"
        return float(np.quantile(scores, 1.0 - args.contamination)), (
            f"flags the top {args.contamination:g} of the scored samples"
        )
    assert ref is not None  # run() loads it whenever no threshold is given
    q = args.quantile
    kind = "held-out" if ref.held_out is not None else "training"
    ref_scores = ensemble.reference_scores()
    return float(np.quantile(ref_scores, q)), (
        f"the {q:g} quantile of {len(ref_scores)} {kind} scores of {ref.where}"
    )


# ------------------------------------------------------------------ output
def _write(path: Path, scores: np.ndarray, flags: np.ndarray, samples: Samples) -> None:
    from autoencoders.cli import write_csv_columns
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


__all__ = ["Reference", "Samples", "add_arguments", "open_samples", "reference_data", "run"]
