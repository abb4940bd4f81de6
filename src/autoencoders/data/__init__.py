"""Data: IDX files, named data sets, the user's own files, and data modules over resident or memory-mapped samples.

Example:
    >>> from autoencoders.data import ArrayDataModule
    >>> dm = ArrayDataModule("digits", batch_size=64)
    >>> dm.setup("fit")
    >>> x, y = next(iter(dm.train_dataloader()))
    >>> tuple(x.shape), float(x.max()) <= 1.0
    ((64, 1, 8, 8), True)
"""

from autoencoders.data.datamodule import ArrayDataModule
from autoencoders.data.download import fetch, file_checksum
from autoencoders.data.errors import DataError
from autoencoders.data.idx import read_idx, read_idx_pair
from autoencoders.data.lecture_modules import (
    DigitsDataModule,
    FashionMNISTDataModule,
    KMNISTDataModule,
    MNISTDataModule,
)
from autoencoders.data.loader import TensorBatchLoader, TensorImageDataset
from autoencoders.data.sources import (
    DATASETS,
    IDX_SOURCES,
    USER_DATA_HELP,
    ArrayDataset,
    cache_dir,
    load_dataset,
)

__all__ = [
    "DATASETS",
    "IDX_SOURCES",
    "USER_DATA_HELP",
    "ArrayDataModule",
    "ArrayDataset",
    "DataError",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "KMNISTDataModule",
    "MNISTDataModule",
    "TensorBatchLoader",
    "TensorImageDataset",
    "cache_dir",
    "fetch",
    "file_checksum",
    "load_dataset",
    "read_idx",
    "read_idx_pair",
]
