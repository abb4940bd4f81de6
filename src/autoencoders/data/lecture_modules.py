"""The lecture's data modules: named data sets with the interface the lecture's notebook uses."""

from __future__ import annotations

from pathlib import Path

from autoencoders.data.datamodule import ArrayDataModule
from autoencoders.data.loader import TensorImageDataset


class MNISTDataModule(ArrayDataModule):
    """MNIST padded to 32x32, split 55,000 / 5,000 / 10,000 (the lecture's data module).

    ``MNISTDataModule(data_dir, batch_size, train_size)``; the splits are
    ``.mnist_train``, ``.mnist_val`` and ``.mnist_test``, whose items are
    ``(image, label)`` with images of shape ``(1, 32, 32)`` in [0, 1].
    """

    dataset_name = "mnist"

    def __init__(
        self,
        data_dir: str | Path = "./dataset/",
        batch_size: int = 32,
        train_size: int | None = None,
        **kwargs: object,
    ) -> None:
        kwargs.setdefault("pad_to", 32)
        super().__init__(
            self.dataset_name,
            data_dir,
            batch_size,
            train_size,
            **kwargs,  # type: ignore[arg-type]
        )

    @property
    def mnist_train(self) -> TensorImageDataset:
        return self.train_set

    @property
    def mnist_val(self) -> TensorImageDataset:
        return self.val_set

    @property
    def mnist_test(self) -> TensorImageDataset:
        return self.test_set


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST with the same interface as :class:`MNISTDataModule`."""

    dataset_name = "fashion-mnist"


class KMNISTDataModule(MNISTDataModule):
    """KMNIST with the same interface as :class:`MNISTDataModule`."""

    dataset_name = "kmnist"


class DigitsDataModule(ArrayDataModule):
    """scikit-learn's bundled 8x8 digits: works offline, always."""

    def __init__(self, batch_size: int = 128, **kwargs: object) -> None:
        super().__init__("digits", batch_size=batch_size, **kwargs)  # type: ignore[arg-type]


__all__ = ["DigitsDataModule", "FashionMNISTDataModule", "KMNISTDataModule", "MNISTDataModule"]
