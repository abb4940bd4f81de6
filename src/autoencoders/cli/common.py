"""What the commands that read a checkpoint and write a file share.

The checkpoint and data options, the data a checkpoint reads (its run's own by
default) with the one input-shape check, the one ``--out``/``--overwrite`` rule
of every command that writes a file, labels and CSV columns as the outputs
write them, and the stage progress of a long command. Heavy modules are
imported inside the functions, so that ``--help`` stays free of torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoencoders.errors import CheckpointError, UsageError

if TYPE_CHECKING:
    from autoencoders.data import ArrayDataModule

#: what --split may name; "all" is every row of the data, in its own order
SPLITS = ("all", "train", "val", "test")


# ----------------------------------------------------------------- options
#: how a checkpoint argument is described in every command's help
CHECKPOINT_HELP = "a run folder written by `autoencoders train`, or one of its .ckpt files"


def checkpoint_file(text: str) -> Path:
    """A checkpoint argument as a file: a run folder stands for its best (else last) checkpoint.

    People give the folder that ``train`` printed; anything else is left as given,
    for the loader to name what is wrong with it.
    """
    path = Path(text)
    if path.is_dir():
        for name in ("best.ckpt", "last.ckpt"):
            if (path / "checkpoints" / name).is_file():
                return path / "checkpoints" / name
    return path


def add_checkpoint_data_options(
    parser: argparse.ArgumentParser, split: str | None = None, split_help: str = ""
) -> None:
    """The checkpoint and the data options of a command that reads data for a model."""
    parser.add_argument("checkpoint", type=checkpoint_file, help=CHECKPOINT_HELP)
    add_data_options(parser)
    if split is not None:
        parser.add_argument("--split", choices=SPLITS, default=split, help=split_help)


def add_data_options(
    parser: argparse.ArgumentParser,
    dataset_help: str = "data set name or path (default: the data the checkpoint was trained "
    "on, from run.json in its run folder)",
    label_help: str = "a table's label column (default: the run's, else the first named "
    "label, target, class or y; none: no labels)",
) -> None:
    """``--dataset``, ``--data-dir``, ``--label-column`` and ``--header``."""
    parser.add_argument("--dataset", default=None, help=dataset_help)
    parser.add_argument("--data-dir", default=None, help="folder holding or receiving data files")
    parser.add_argument("--label-column", default=None, metavar="NAME", help=label_help)
    parser.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a CSV's first row names its columns (default: the run's setting; detected)",
    )


def add_out_options(
    parser: argparse.ArgumentParser,
    help: str,
    *,
    required: bool = False,
    default: Path | None = None,
) -> None:
    """``--out`` and the ``--overwrite`` that lets it replace an existing file."""
    parser.add_argument("--out", type=Path, required=required, default=default, help=help)
    parser.add_argument(
        "--overwrite", action="store_true", help="replace --out if it exists instead of refusing"
    )


# ------------------------------------------------------------------ checks
def check_out(
    path: Path, overwrite: bool, *, suffixes: Sequence[str] = (), example: str = "out.png"
) -> Path:
    """Refuses an ``--out`` of another suffix than ``suffixes``, a folder, or an existing file.

    The one rule of every command that writes a file, checked before any work, so
    that a mistake costs nothing; ``example`` is the file name a folder is told to use.
    """
    if suffixes and path.suffix.lower() not in suffixes:
        raise UsageError(f"--out must end in {' or '.join(suffixes)}, got {path.name}")
    if path.is_dir():
        raise UsageError(f"--out {path} is a folder; give a file name, e.g. {path / example}")
    refuse_existing(path, overwrite)
    return path


def refuse_existing(path: Path, overwrite: bool, what: str = "--out") -> None:
    """Refuses to replace file ``path`` (``what`` names it) unless ``overwrite``."""
    if path.exists() and not overwrite:
        raise UsageError(
            f"{what} {path} exists; pass --overwrite to replace it, or choose another file"
        )


def at_least(value: int, minimum: int, flag: str, why: str = "") -> int:
    """``value``, refused if below ``minimum`` (``why``: the reason, in parentheses)."""
    if value < minimum:
        reason = f" ({why})" if why else ""
        raise UsageError(f"{flag} must be at least {minimum}{reason}, got {value}")
    return value


def check_input_shape(
    checkpoint: Path,
    expected: tuple[int, ...],
    found: tuple[int, ...],
    data: str,
    fix: str = "pass the --dataset the model was trained on",
    *,
    channel_optional: bool = False,
) -> None:
    """Refuses data (named ``data``) whose samples are not of the model's shape.

    ``channel_optional`` accepts the model's shape without its leading channel of 1,
    for a command that reshapes each batch itself. An unknown ``expected`` (empty)
    accepts anything.

    Raises:
        CheckpointError: naming both shapes and ``fix``.
    """
    if not expected or found == expected:
        return
    if channel_optional and expected[0] == 1 and found == expected[1:]:
        return
    raise CheckpointError(
        f"{checkpoint} takes samples of shape {expected} but {data} has {found}: {fix}"
    )


# -------------------------------------------------------------------- data
def model_input_shape(model: Any) -> tuple[int, ...]:
    """The shape of one sample ``model`` takes (empty where it does not say)."""
    config = getattr(model, "config", None) or {}
    return tuple(config.get("input_shape") or getattr(model.decoder, "output_shape", ()))


def data_for(
    args: argparse.Namespace,
    checkpoint: Path,
    config: dict[str, Any],
    scaler: Any,
    shape: tuple[int, ...],
    *,
    fix: str = "pass the --dataset the model was trained on",
    channel_optional: bool = False,
) -> ArrayDataModule:
    """The data the command reads (``--dataset``, else the run's own), checked against ``shape``.

    ``config`` and ``scaler`` are the checkpoint's model config and data scaling;
    see :func:`check_input_shape` for ``fix`` and ``channel_optional``.
    """
    from autoencoders.data.run_data import checkpoint_datamodule

    dataset = getattr(args, "dataset", None)
    dm = checkpoint_datamodule(
        checkpoint,
        config,
        scaler,
        dataset,
        getattr(args, "data_dir", None),
        label_column=getattr(args, "label_column", None),
        header=getattr(args, "header", None),
    )
    found = tuple(dm.sample_shape)
    data = dataset or dm.name
    check_input_shape(checkpoint, shape, found, data, fix, channel_optional=channel_optional)
    return dm


def datamodule_for(args: argparse.Namespace, model: Any) -> ArrayDataModule:
    """The data a one-checkpoint command reads for ``model`` (``args.checkpoint``'s)."""
    config = getattr(model, "config", None) or {}
    scaler = getattr(model, "data_scaler", None)
    return data_for(args, args.checkpoint, config, scaler, model_input_shape(model))


# ----------------------------------------------------------------- outputs
def label_values(y: Any, classes: Sequence[str] | None) -> Any:
    """Labels as the data had them: class names where it has them; None where it has none."""
    import numpy as np

    y = np.asarray(y)
    if not len(y) or (y < 0).all():
        return None
    if classes is None:
        return y
    names = np.asarray([*classes, ""], dtype=object)
    return names[np.where(y >= 0, y, len(classes))]


def write_csv_columns(f: Any, columns: dict[str, Any], float_format: str = ".6g") -> None:
    """Writes named columns of equal length to binary file ``f`` as a CSV.

    Floats are written with ``float_format``; text is quoted where needed.
    """
    import csv
    import io

    import numpy as np

    text = io.TextIOWrapper(f, encoding="utf-8", newline="")
    writer = csv.writer(text)
    writer.writerow(list(columns))
    cells = []
    for values in columns.values():
        values = np.asarray(values)
        if values.dtype.kind == "f":
            cells.append([format(v, float_format) for v in values])
        else:
            cells.append([str(v) for v in values])
    writer.writerows(zip(*cells, strict=True))
    text.flush()
    text.detach()  # the caller's file stays open (atomic_write closes it)


# ---------------------------------------------------------------- progress
class StageProgress:
    """The stages of a long command on stderr: a bar on a terminal, else a line per stage.

    stdout keeps the results alone, so that they can be piped or redirected; a
    log file (stderr not a terminal) gets plain lines, not bar redraws.
    """

    def __init__(self, command: str, total: int) -> None:
        self.command, self.total, self.started = command, total, 0
        self.bar: Any = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                file=sys.stderr,
                leave=False,
                dynamic_ncols=True,
                bar_format="{desc} {bar} {n_fmt}/{total_fmt} stages [{elapsed}]",
            )

    def __call__(self, stage: str) -> None:
        """Says that ``stage`` begins (and so that the one before it is done)."""
        if self.bar is not None:
            if self.started:
                self.bar.update(1)
            self.bar.set_description_str(f"{self.command}: {stage}")
        else:
            print(f"{self.command}: {stage}...", file=sys.stderr, flush=True)
        self.started += 1

    def prefixed(self, prefix: str) -> Callable[[str], None]:
        """The same progress, each stage named after ``prefix`` (which model it is about)."""
        return lambda stage: self(f"{prefix}: {stage}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
