"""``autoencoders embed``: the codes of a data set's rows, as .npy or a .csv table."""

from __future__ import annotations

import argparse

from autoencoders.cli.common import (
    add_checkpoint_data_options,
    add_out_options,
    check_out,
    datamodule_for,
    label_values,
    write_csv_columns,
)

HELP = "write the codes of a data set's images to .npy or .csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_data_options(
        parser, "all", "rows to embed (default: all, in the order of the data's rows)"
    )
    add_out_options(
        parser,
        "codes.npy (the codes, one row per sample) or codes.csv (index: the row number "
        "in the data; file, for image folders; z0, z1, ...; label, where there are labels)",
        required=True,
    )


def run(args: argparse.Namespace) -> int:
    """Writes the codes of the chosen rows to ``--out``; returns 0."""
    import numpy as np

    from autoencoders.checkpoint import load
    from autoencoders.codecs import ModelCodec
    from autoencoders.files import atomic_write

    check_out(args.out, args.overwrite, suffixes=(".npy", ".csv"), example="codes.csv")
    model = load(args.checkpoint)
    dm = datamodule_for(args, model)
    x, y, rows = dm.rows(args.split)
    z = ModelCodec(model).encode(x.numpy())
    if args.out.suffix.lower() == ".npy":
        atomic_write(args.out, lambda f: np.save(f, z))
    else:
        columns = {"index": rows.numpy()}
        if dm.files is not None:
            columns["file"] = np.asarray(dm.files, dtype=object)[rows.numpy()]
        columns.update({f"z{i}": z[:, i] for i in range(z.shape[1])})
        labels = label_values(y.numpy(), dm.classes)
        if labels is not None:
            columns["label"] = labels
        atomic_write(args.out, lambda f: write_csv_columns(f, columns))
    print(f"wrote {z.shape[0]} codes of size {z.shape[1]} ({args.split} rows) to {args.out}")
    return 0
