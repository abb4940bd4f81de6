"""Property test: whatever array a user saves, loading it either works or says why in one line.

Hypothesis writes random arrays (any shape of 0-4 dimensions, many dtypes, NaN,
infinities, huge and negative values) as .npy, .npz or .csv files. Each one is
loaded as the CLI would load it and trained on for one batch; the only error
allowed is a DataError whose single-line message names the file, and a
success must give finite float32 batches.
"""

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autoencoders.data import ArrayDataModule, DataError, load_dataset

DTYPES = [
    np.dtype(np.uint8),
    np.dtype(np.int8),
    np.dtype(np.int32),
    np.dtype(np.int64),
    np.dtype(np.uint64),
    np.dtype(np.float16),
    np.dtype(np.float32),
    np.dtype(np.float64),
    np.dtype(np.bool_),
    np.dtype(np.complex64),
    np.dtype(np.complex128),
    np.dtype("<U3"),
    np.dtype("m8[s]"),
    np.dtype(object),
]
#: any shape of 0-4 dimensions, or (as often) one the loader can take: 2-4 dimensions, none empty
shapes = st.one_of(
    hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
    hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=6),
)


@st.composite
def arrays(draw, shape=None):
    """An array of a random dtype and shape, including NaN, inf, huge and negative values."""
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(shapes) if shape is None else shape
    if dtype.kind == "O":  # np.save pickles these; the loader must refuse them
        values = draw(hnp.arrays(np.float64, shape))
        return values.astype(object)
    return draw(hnp.arrays(dtype, shape))


@st.composite
def labels(draw, n):
    """None, or labels of about the right length and of any dtype."""
    if draw(st.booleans()):
        return None
    length = draw(st.sampled_from([n, n, n, max(n - 1, 0), n + 1]))
    return draw(arrays(shape=(length,)))


@st.composite
def saved_files(draw):
    """A (writer, file name) pair: the writer saves a random data set to the path it gets."""
    form = draw(st.sampled_from(["npy", "npz", "csv"]))
    if form == "npy":
        x = draw(arrays())
        return (lambda path: np.save(path, x, allow_pickle=True)), "data.npy"
    if form == "npz":
        x = draw(arrays())
        n = x.shape[0] if x.ndim else 1
        parts = {"x": x, "y": draw(labels(n))}
        if draw(st.booleans()):
            parts["x_test"] = draw(arrays())
            n_test = parts["x_test"].shape[0] if parts["x_test"].ndim else 1
            parts["y_test"] = draw(labels(n_test))
        parts = {k: v for k, v in parts.items() if v is not None}
        return (lambda path: np.savez(path, **parts, allow_pickle=True)), "data.npz"
    table = draw(arrays(shape=draw(hnp.array_shapes(min_dims=2, max_dims=2, max_side=6))))
    frame = pd.DataFrame(table, columns=[f"c{i}" for i in range(table.shape[1])])
    y = draw(labels(len(frame)))
    if y is not None and len(y) == len(frame):
        frame["label"] = y
    return (lambda path: frame.to_csv(path, index=False)), "data.csv"


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(saved=saved_files(), kind=st.sampled_from(["auto", "signal"]))
def test_any_saved_array_loads_or_raises_a_data_error(saved, kind):
    write, name = saved
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        write(path)
        with warnings.catch_warnings():
            # a cast that warns (complex to real, NaN to int, overflow) would corrupt data quietly
            warnings.simplefilter("error", RuntimeWarning)
            try:
                data = load_dataset(path, kind=kind)
                dm = ArrayDataModule(data, batch_size=4, val_size=0.2)
                dm.setup("fit")
                x, y = next(iter(dm.train_dataloader()))
                test_x, _ = dm.full_arrays("test")
            except DataError as err:
                message = str(err)
                assert "\n" not in message, message
                assert name in message, message
                return
    assert x.dtype == torch.float32 and len(x) >= 1
    assert torch.isfinite(x).all() and torch.isfinite(test_x).all()
    assert y.dtype == torch.int64 and len(y) == len(x)
    assert x.shape[1:] == test_x.shape[1:] == data.sample_shape
