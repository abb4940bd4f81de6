"""The user's own files: every problem they can have is one single-line DataError naming the file."""

import struct
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from idx_helpers import write_idx_set
from PIL import Image

from autoencoders.data import ArrayDataModule, DataError, TensorBatchLoader, load_dataset
from autoencoders.data.sources import arrays as array_files
from autoencoders.data.sources.arrays import as_samples
from autoencoders.errors import ConfigError


def refused(path, match, **kwargs):
    """Loads ``path``, expecting a one-line DataError that names the file and matches."""
    with pytest.raises(DataError, match=match) as info:
        load_dataset(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message, message
    assert path.name in message, message
    return message


# ---------------------------------------------------------------- NaN and inf


def test_nan_and_inf_in_npy_images_give_count_and_first_position(tmp_path):
    x = np.random.default_rng(0).random((10, 3, 4)).astype(np.float32)
    x[2, 1, 3] = np.nan
    x[5, 0, 0] = np.inf
    x[7, 2, 2] = -np.inf
    np.save(tmp_path / "bad.npy", x)
    message = refused(tmp_path / "bad.npy", "3 values are NaN or infinite")
    assert "the first is sample 2, position (1, 3) within it (value nan)" in message
    assert "replace those values or drop those samples" in message


def test_one_inf_in_npy_features_names_the_feature(tmp_path):
    x = np.zeros((20, 5))
    x[4, 2] = -np.inf
    np.save(tmp_path / "features.npy", x)
    refused(
        tmp_path / "features.npy",
        r"1 value is NaN or infinite; the first is sample 4, position 2 within it \(value -inf\)",
    )


def test_float64_beyond_float32_is_refused_as_too_large(tmp_path):
    x = np.zeros((6, 4))
    x[3, 1] = 1e300
    np.save(tmp_path / "huge.npy", x)
    message = refused(tmp_path / "huge.npy", "1 value is NaN, infinite or too large for float32")
    assert "sample 3, position 1 within it (value 1e+300)" in message


def test_nan_in_npz_test_set_names_the_array(tmp_path):
    x_test = np.ones((4, 2, 2), dtype=np.float16)
    x_test[1, 0, 1] = np.nan
    np.savez(tmp_path / "d.npz", x=np.ones((8, 2, 2), dtype=np.float16), x_test=x_test)
    refused(
        tmp_path / "d.npz",
        r"d\.npz, array 'x_test': 1 value is NaN or infinite; the first is sample 1, "
        r"position \(0, 1\)",
    )


def test_position_of_a_signal_is_that_of_the_saved_array(tmp_path):
    x = np.zeros((5, 30), dtype=np.float32)
    x[3, 7] = np.nan
    x[4, 0] = np.nan
    np.save(tmp_path / "sig.npy", x)
    refused(
        tmp_path / "sig.npy",
        "2 values are NaN or infinite; the first is sample 3, position 7",
        kind="signal",
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_nan_and_inf_cells_in_tables_give_row_and_column(tmp_path, suffix):
    frame = pd.DataFrame({"a": np.arange(6.0), "b": np.ones(6), "label": [0, 1] * 3})
    frame.loc[3, "b"] = np.nan
    frame.loc[4, "a"] = np.inf
    frame.loc[5, "b"] = 1e300
    path = tmp_path / f"t{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    message = refused(path, "3 values are NaN, infinite or too large for float32")
    assert "the first is in row 3 (counting data rows from 0), column 'b' (value nan" in message


def test_empty_csv_cell_counts_as_nan(tmp_path):
    (tmp_path / "gap.csv").write_text("a,b\n1,2\n3,\n5,6\n")
    refused(
        tmp_path / "gap.csv",
        r"1 value is NaN or infinite; the first is in row 1 .* column 'b' "
        r"\(value nan \(an empty cell reads as NaN\)\)",
    )


def test_finite_floats_and_integers_load(tmp_path):
    np.save(tmp_path / "f.npy", np.full((10, 3), -1e30))
    np.save(tmp_path / "i.npy", np.full((10, 3), np.iinfo(np.int64).max))
    for name in ("f.npy", "i.npy"):
        data = load_dataset(tmp_path / name)
        assert data.train_x.dtype == torch.float32 and torch.isfinite(data.train_x).all()


def test_finite_check_is_quick_on_mnist_sized_arrays():
    x = np.zeros((70_000, 784), dtype=np.float32)
    start = time.perf_counter()
    tensor, scale = as_samples(x, Path("mnist.npy"), "auto")
    assert time.perf_counter() - start < 2.0, "the check must stay one vectorised pass"
    assert tensor.shape == (70_000, 784) and scale == 1.0
    x[69_999, 783] = np.nan
    with pytest.raises(DataError, match=r"mnist\.npy: 1 value .* sample 69999, position 783"):
        as_samples(x, Path("mnist.npy"), "auto")


# ------------------------------------------------------- corrupt image files


def image_folder(tmp_path, n=3):
    for cls in ("a", "b"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(n):
            pixels = np.random.default_rng(i).integers(0, 256, (40, 40), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "imgs" / cls / f"{i}.png")
    return tmp_path / "imgs"


def test_png_truncated_halfway_is_named(tmp_path):
    folder = image_folder(tmp_path)
    whole = (folder / "b" / "1.png").read_bytes()
    (folder / "b" / "1.png").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError) as info:
        load_dataset(folder)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{folder / 'b' / '1.png'}: cannot read this image (")
    assert "truncated" in message and "replace or remove it" in message


def test_file_with_image_suffix_that_is_no_image_is_named(tmp_path):
    folder = image_folder(tmp_path)
    (folder / "a" / "notes.jpg").write_text("not a picture")
    with pytest.raises(DataError, match=r"notes\.jpg: cannot read this image"):
        load_dataset(folder)


# ------------------------------------------------- everything else that can go wrong


def save_npy(array, allow_pickle=False):
    return lambda path: np.save(path, array, allow_pickle=allow_pickle)


def save_npz(**arrays):
    return lambda path: np.savez(path, **arrays)


def write_bytes(data):
    return lambda path: path.write_bytes(data)


def truncated_copy(save):
    def write(path):
        save(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])

    return write


ONES = np.ones((6, 3), dtype=np.float32)
CASES = {
    # name: (file name, writer, expected message, kind)
    "object npy": (
        "obj.npy",
        save_npy(np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True),
        r"cannot read it without unpickling objects \(dtype object\)",
    ),
    "object array in npz": (
        "obj.npz",
        save_npz(x=ONES, y=np.array([None] * 6, dtype=object)),
        r"cannot read array 'y' without unpickling objects",
    ),
    "garbage npy": ("junk.npy", write_bytes(b"hello there"), "not a NumPy .npy or .npz file"),
    "empty npy": ("empty.npy", write_bytes(b""), r"not a NumPy .npy or .npz file \(it is empty\)"),
    "truncated npy": (
        "cut.npy",
        truncated_copy(save_npy(np.arange(600.0).reshape(100, 6))),
        r"cannot read it \(.*\); the file is truncated or corrupt: save it again",
    ),
    "truncated npz": (
        "cut.npz",
        truncated_copy(lambda p: np.savez_compressed(p, x=np.arange(6000.0).reshape(1000, 6))),
        "the file is truncated or corrupt",
    ),
    "strings": ("s.npy", save_npy(np.array([["a", "b"]] * 4)), "expected numbers, got dtype <U1"),
    "complex": ("c.npy", save_npy(np.ones((4, 2), dtype=complex)), "holds complex numbers"),
    "structured": (
        "rec.npy",
        save_npy(np.zeros((4, 2), dtype=[("a", "f4"), ("b", "i4")])),
        "expected numbers, got dtype",
    ),
    "timedelta": ("td.npy", save_npy(np.ones((4, 2), dtype="m8[s]")), "expected numbers"),
    "no samples": ("none.npy", save_npy(np.zeros((0, 5))), r"holds no samples \(shape \(0, 5\)\)"),
    "empty samples": ("thin.npy", save_npy(np.zeros((5, 0))), "its samples hold no values"),
    "1-D": ("flat.npy", save_npy(np.zeros(5)), r"x\.reshape\(-1, 1\)"),
    "0-D": ("scalar.npy", save_npy(np.float32(3)), r"got \(\)"),
    "5-D": ("deep.npy", save_npy(np.zeros((2, 1, 1, 1, 1))), "reshape the array"),
    "4-D signal": (
        "sig.npy",
        save_npy(np.zeros((2, 1, 1, 3))),
        r"signals must have shape \(N, L\) or \(N, C, L\)",
        "signal",
    ),
    "one sample": ("one.npy", save_npy(np.zeros((1, 3))), "needs at least 2 samples"),
    "npz without x": ("nox.npz", save_npz(images=ONES), "an .npz needs an array named 'x'"),
    "labels too few": ("few.npz", save_npz(x=ONES, y=np.zeros(5)), "6 samples but 5 labels"),
    "negative labels": (
        "neg.npz",
        save_npz(x=ONES, y=np.array([0, 1, -1, 0, 1, 0])),
        "labels must be 0 or more",
    ),
    "fractional labels": (
        "frac.npz",
        save_npz(x=ONES, y=np.array([0, 1, 0.5, 0, 1, 0])),
        "label 2 is 0.5",
    ),
    "NaN label": ("nanlab.npz", save_npz(x=ONES, y=np.full(6, np.nan)), "label 0 is nan"),
    "string labels": (
        "names.npz",
        save_npz(x=ONES, y=np.array(["cat", "dog"] * 3)),
        r"array 'y': labels must be whole numbers from 0 up, got dtype <U3",
    ),
    "test shape differs": (
        "shapes.npz",
        save_npz(x=ONES, x_test=np.ones((2, 4), dtype=np.float32)),
        r"samples of 'x' have shape \(3,\) but those of 'x_test' \(4,\)",
    ),
    "test dtype differs": (
        "types.npz",
        save_npz(x=np.ones((6, 3), dtype=np.uint8), x_test=np.ones((2, 3))),
        "'x' is uint8 but 'x_test' is float64",
    ),
    "empty test set": (
        "notest.npz",
        save_npz(x=ONES, x_test=np.ones((0, 3))),
        "array 'x_test': holds no samples",
    ),
    "test labels wrong length": (
        "tl.npz",
        save_npz(x=ONES, x_test=ONES, y_test=np.zeros(2)),
        "array 'y_test': 6 samples but 2 labels",
    ),
    "empty csv": ("empty.csv", write_bytes(b""), "the file is empty; expected a header line"),
    "csv header only": ("head.csv", write_bytes(b"a,b\n"), "the table has no rows"),
    "csv label only": ("lab.csv", write_bytes(b"label\n1\n2\n"), "no feature columns"),
    "csv text column": ("txt.csv", write_bytes(b"a,b\n1,x\n2,y\n"), "column 'b' is not numeric"),
    "csv negative label": (
        "neg.csv",
        write_bytes(b"a,label\n1,0\n2,-1\n3,1\n"),
        "labels must be 0 or more",
    ),
    "csv unreadable bytes": ("bin.csv", write_bytes(b"a,b\n\xff\xfe\x00\n"), "cannot read"),
    "parquet garbage": ("t.parquet", write_bytes(b"not parquet"), "cannot read this table"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_file_is_one_clear_data_error(tmp_path, case):
    name, write, match, *kind = CASES[case]
    write(tmp_path / name)
    refused(tmp_path / name, match, kind=kind[0] if kind else "auto")


def test_bool_arrays_load_as_zeros_and_ones(tmp_path):
    np.save(tmp_path / "mask.npy", np.eye(4, dtype=bool)[[0, 1, 2, 3] * 3])
    data = load_dataset(tmp_path / "mask.npy")
    assert data.train_x.dtype == torch.float32 and data.scale == 1.0
    assert set(torch.cat([data.train_x, data.test_x]).unique().tolist()) == {0.0, 1.0}


def test_a_folder_named_like_an_image_is_skipped(tmp_path):
    folder = image_folder(tmp_path)
    (folder / "a" / "odd.png").mkdir()
    assert len(load_dataset(folder).train_x) + len(load_dataset(folder).test_x) == 6


def write_typed_idx(path, array, type_code):
    """An uncompressed IDX file of another type than uint8 (``array`` already big-endian)."""
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    path.write_bytes(header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes())


def test_idx_float_images_and_negative_labels_are_refused(tmp_path):
    write_idx_set(tmp_path / "f", compress=False)
    images = np.zeros((60, 28, 28), ">f4")
    write_typed_idx(tmp_path / "f" / "train-images-idx3-ubyte", images, 0x0D)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: holds images of type float32"):
        load_dataset(tmp_path / "f")
    write_idx_set(tmp_path / "n", compress=False)
    write_typed_idx(tmp_path / "n" / "t10k-labels-idx1-ubyte", np.full(20, -1, np.int8), 0x09)
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: labels must be 0 or more"):
        load_dataset(tmp_path / "n")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"batch_size": 0}, "batch_size must be at least 1, got 0"),
        ({"eval_batch_size": -3}, "eval_batch_size must be at least 1, got -3"),
        ({"val_size": 1.5}, r"val_size as a fraction must be in \[0, 1\), got 1.5"),
        ({"val_size": -1}, "val_size must be 0 or more"),
        ({"train_size": 0}, "train_size must be at least 1"),
        ({"pad_to": 0}, "pad_to must be at least 1"),
        ({"kind": "sound"}, "kind must be one of auto, image, signal, got 'sound'"),
    ],
)
def test_options_out_of_range_are_config_errors(options, match):
    with pytest.raises(ConfigError, match=match):
        ArrayDataModule("digits", **options)


def test_loader_and_load_dataset_refuse_bad_options(tmp_path):
    with pytest.raises(ConfigError, match="batch_size must be at least 1"):
        TensorBatchLoader(None, 0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="kind must be one of"):
        load_dataset("digits", kind="images")
    np.save(tmp_path / "imgs.npy", np.zeros((10, 4, 4), dtype=np.uint8))
    assert load_dataset(tmp_path / "imgs.npy", kind="image").sample_shape == (1, 4, 4)


def test_only_class_that_matches_nothing_says_so(tmp_path):
    np.savez(tmp_path / "l.npz", x=np.ones((20, 2)), y=np.arange(20) % 2)
    dm = ArrayDataModule(tmp_path / "l.npz", only_class=7)
    with pytest.raises(DataError, match=r"no training samples left .*only_class=7"):
        dm.setup("fit")


def test_file_that_cannot_be_opened_is_named(tmp_path, monkeypatch):
    np.save(tmp_path / "locked.npy", ONES)

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(array_files, "open", denied, raising=False)
    refused(tmp_path / "locked.npy", r"cannot open it \(.*Permission denied")


def test_folder_that_cannot_be_listed_is_named(tmp_path, monkeypatch):
    folder = image_folder(tmp_path)
    listdir = Path.iterdir

    def iterdir(self):
        if self.name == "b":
            raise PermissionError(13, "Permission denied", str(self))
        return listdir(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    with pytest.raises(DataError) as info:
        load_dataset(folder)
    assert str(info.value) == (
        f"{folder / 'b'}: cannot read it (Permission denied); check that it exists and is readable"
    )
