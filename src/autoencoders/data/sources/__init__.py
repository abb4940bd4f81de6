"""Where data comes from: named data sets and the user's own files, as one ``ArrayDataset``.

``dataset`` holds the data set and the checks every reader shares, ``named``
the named data sets (IDX downloads, digits), ``arrays``, ``tables`` and
``images`` the readers of the user's files, and ``lookup`` ``load_dataset``,
which picks one of them.
"""

from autoencoders.data.sources.dataset import USER_DATA_HELP, ArrayDataset
from autoencoders.data.sources.lookup import load_dataset
from autoencoders.data.sources.named import DATASETS, IDX_SOURCES, cache_dir

__all__ = [
    "DATASETS",
    "IDX_SOURCES",
    "USER_DATA_HELP",
    "ArrayDataset",
    "cache_dir",
    "load_dataset",
]
