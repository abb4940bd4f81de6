"""Tables (CSV, Parquet): header detection, the label column, a leading index column.

A table is always min-max scaled unless scaling is switched off (``tabular``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autoencoders.data.errors import DataError
from autoencoders.data.sources.dataset import (
    ArrayDataset,
    checked_labels,
    error_reason,
    first_nonfinite,
    nonfinite_problem,
    split_off_test,
)

# one logger for the whole package, named as when it was one module
log = logging.getLogger("autoencoders.data.sources")

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def _table_errors() -> tuple[type[BaseException], ...]:
    """What reading a damaged or unsupported table can raise."""
    errors = (OSError, ValueError, TypeError, NotImplementedError, ImportError)
    try:
        import pyarrow
    except ImportError:
        return errors
    return (*errors, pyarrow.ArrowException)


#: column names read as the label column, case-insensitively, in this order of preference
LABEL_NAMES = ("label", "target", "class", "y")
#: rows of a CSV read to decide whether its first row is a header
_HEADER_SAMPLE = 1000


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _looks_like_header(sample: Any) -> bool:
    """Whether the first row of ``sample`` (a CSV's first rows, as text) names the columns.

    It does where a column holds text above numbers. Where some column is numbers
    from its first row on, the first row is data. Where every column holds text
    (class names, say), a first row whose text never recurs below is a header.
    Empty cells decide nothing.
    """
    first, rest = sample.iloc[0], sample.iloc[1:]
    numbers_down, names = False, False
    for column in sample.columns:
        head = str(first[column]).strip()
        below = [str(v).strip() for v in rest[column] if str(v).strip()]
        below_numeric = bool(below) and all(_is_number(v) for v in below)
        if not head:
            continue
        if _is_number(head):
            numbers_down = numbers_down or below_numeric or not below
        elif below_numeric or not below:
            return True
        elif head not in below:
            names = True
    return names and not numbers_down


def _read_table(path: Path, header: bool, notes: list[str]) -> tuple[Any, bool]:
    """The table at ``path`` with string column names, and whether it had a header row.

    A CSV's header row is detected (:func:`_looks_like_header`) unless ``header``
    is false; a CSV without one gets its columns named by position, ``"0"``, ``"1"``, ....
    """
    import pandas as pd

    if path.suffix.lower() != ".csv":
        table = pd.read_parquet(path)
        table.columns = [str(c) for c in table.columns]
        return table, True
    if header:
        sample = pd.read_csv(
            path, header=None, nrows=_HEADER_SAMPLE, dtype=str, keep_default_na=False
        )
        header = _looks_like_header(sample)
        if not header:
            notes.append("no header row (the first holds numbers), columns named 0, 1, ...")
    table = pd.read_csv(path, header=0 if header else None)
    table.columns = [str(c) for c in table.columns]
    return table, header


def _drop_index_column(table: Any, header: bool, notes: list[str]) -> Any:
    """``table`` without a leading row-index column, if it has one.

    That is an unnamed first column (pandas's ``Unnamed: 0``, or the first column
    of a CSV without a header) or one named ``index``, holding 0..n-1.
    """
    import pandas as pd

    if table.shape[1] < 2:
        return table
    name = table.columns[0]
    unnamed = (
        name.startswith("Unnamed: 0") or name.lower() == "index" or (not header and name == "0")
    )
    column = table[name]
    if not unnamed or not pd.api.types.is_integer_dtype(column):
        return table
    if not np.array_equal(column.to_numpy(), np.arange(len(column))):
        return table
    notes.append(f"dropped column {name!r} (it numbers the rows 0..{len(column) - 1})")
    return table.drop(columns=[name])


def _label_column(
    table: Any, path: Path, label_column: str | None, header: bool, notes: list[str]
) -> str | None:
    """The name of the column that holds the labels, or None; says which one it took.

    ``label_column`` names it (exactly, else case-insensitively); ``"none"`` means
    no labels; ``None`` takes the first of :data:`LABEL_NAMES` the table has, else
    (in a CSV without a header) its one non-numeric column, if it has exactly one.
    """
    import pandas as pd

    columns = list(table.columns)
    lower = {c.lower(): c for c in reversed(columns)}  # the first of equal names wins
    if label_column is not None:
        if label_column.lower() == "none":
            return None
        found = label_column if label_column in columns else lower.get(label_column.lower())
        if found is None:
            shown = ", ".join(repr(c) for c in columns[:20]) + (
                ", ..." if len(columns) > 20 else ""
            )
            raise DataError(
                f"{path}: no column {label_column!r} for --label-column (columns: {shown}); "
                "give one of them, or --label-column none for unlabelled data"
            )
        notes.append(f"labels from column {found!r}")
        return found
    found = next((lower[n] for n in LABEL_NAMES if n in lower), None)
    why = "its name"
    if found is None and not header:
        # without a header no column has a name; text among numbers can only be classes
        text = [c for c in columns if not pd.api.types.is_numeric_dtype(table[c])]
        found, why = (text[0], "the one column of text") if len(text) == 1 else (None, "")
    if found is None:
        notes.append(f"unlabelled (no column named {', '.join(LABEL_NAMES)})")
    else:
        notes.append(f"labels from column {found!r} ({why}; --label-column picks another)")
    return found


def load_table(path: Path, label_column: str | None = None, header: bool = True) -> ArrayDataset:
    try:
        import pandas as pd
    except ImportError:
        raise DataError(
            f"{path}: reading tables needs pandas: pip install pandas pyarrow"
        ) from None
    notes: list[str] = []
    try:
        table, header = _read_table(path, header, notes)
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{path}: the file is empty; expected a header line of column names, then one "
            "row per sample"
        ) from None
    except _table_errors() as err:
        raise DataError(f"{path}: cannot read this table ({error_reason(err)})") from None
    if table.shape[0] == 0:
        raise DataError(f"{path}: the table has no rows; add one row per sample")
    table = _drop_index_column(table, header, notes)
    y, classes = None, None
    label = _label_column(table, path, label_column, header, notes)
    if label is not None:
        labels = table.pop(label)
        if labels.isna().any():
            row = int(np.argmax(labels.isna().to_numpy()))
            raise DataError(
                f"{path}: the label column {label!r} has empty cells (the first in row {row}, "
                "counting data rows from 0); fill or drop those rows"
            )
        if pd.api.types.is_integer_dtype(labels):
            y = labels.to_numpy(dtype=np.int64)
        else:  # class names (or float codes): number them in sorted order
            values = labels.unique()
            numeric = pd.api.types.is_numeric_dtype(labels)
            names = [str(v) for v in sorted(values)] if numeric else sorted(map(str, values))
            classes = tuple(names)
            y = labels.astype(str).map({n: i for i, n in enumerate(names)}).to_numpy()
    if table.shape[1] == 0:
        raise DataError(
            f"{path}: no feature columns besides the label {label!r}; add feature columns"
        )
    for column in table.columns:
        series = table[column]
        if pd.api.types.is_complex_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            raise DataError(
                f"{path}: column {column!r} is not numeric; drop it, or pass --label-column "
                f"{column} if it holds the class"
            )
    with np.errstate(over="ignore"):  # values beyond float32 are reported below
        values = table.to_numpy(dtype=np.float32, na_value=np.nan)
    found = first_nonfinite(values)
    if found is not None:
        count, (row, col) = found
        original = table.to_numpy(dtype=np.float64, na_value=np.nan)
        problem, value = nonfinite_problem(count, original, (row, col))
        empty = " (an empty cell reads as NaN)" if np.isnan(original[row, col]) else ""
        raise DataError(
            f"{path}: {problem}; the first is in row {row} (counting data rows from 0), "
            f"column {table.columns[col]!r} ({value}{empty}); fill or drop those rows"
        )
    x = torch.tensor(values)  # a copy: pandas may hand out a read-only view
    y_checked = checked_labels(y, len(x), path)
    # said once the table is read, so that a refused table gives one line only
    log.info("%s: %s", path, "; ".join(notes))
    return split_off_test(path.stem, x, y_checked, 1.0, classes, where=path, tabular=True)
