"""The lecture notebook's training helpers: ``build_logger``, ``_train`` and ``Runner``.

Run as a script to train one of the lecture's four models::

    python -m autoencoders.scripts.run --model denoising --dataset digits --epochs 2
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger

from autoencoders.module import AutoEncoder
from autoencoders.nn.bottlenecks import IdentityBottleneck, SparseBottleneck
from autoencoders.nn.decoders import LinearDecoder, MLPDecoder
from autoencoders.nn.encoders import LinearEncoder, MLPEncoder
from autoencoders.training import fit


def build_logger(
    model_type: str, datamodule_name: str, task: str | None = None, root: str | Path = "logs"
) -> TensorBoardLogger:
    """A TensorBoard logger writing under ``<root>/<datamodule_name>/<model_type>_<task>``.

    Each call starts a new ``version_N`` folder, so repeated runs do not mix.
    """
    return TensorBoardLogger(
        str(Path(root) / datamodule_name), name=f"{model_type}_{task or 'featureExtraction'}"
    )


def _train(
    model: AutoEncoder,
    logger: TensorBoardLogger,
    datamodule: L.LightningDataModule,
    epochs: int = 60,
) -> str:
    """Trains ``model`` and returns the path of its last checkpoint.

    The checkpoint and ``config.json`` go into the logger's run folder.
    """
    return str(fit(model, datamodule, epochs, logger=logger).checkpoint)


class Runner:
    """Trains the lecture's four models on one data set with one call each.

    Args:
        batch_size: training batch size.
        training_size: use only this many training images (``None``: all).
        seed: seed for the split, the initialisation and the noise.
        dataset: data set name (``"mnist"`` in the lecture).
        data_dir: folder holding the data (torchvision's layout works).
    """

    def __init__(
        self,
        batch_size: int = 32,
        training_size: int | None = None,
        seed: int = 42,
        dataset: str = "mnist",
        data_dir: str | Path = "./dataset/",
    ) -> None:
        from autoencoders.config import TrainConfig
        from autoencoders.runs import make_datamodule

        L.seed_everything(seed, workers=True, verbose=False)
        self.dataset_name = dataset
        run = TrainConfig(
            dataset=dataset,
            data_dir=str(data_dir),
            batch_size=batch_size,
            train_size=training_size,
            seed=seed,
        )
        self.dataset = make_datamodule(run)
        self.dataset.prepare_data()
        self.dataset.setup("fit")
        self.input_shape = tuple(self.dataset.sample_shape)
        self.latent_dim = 20

    def _run(self, name: str, model: AutoEncoder, epochs: int) -> str:
        logger = build_logger(name, self.dataset_name, "reconstruction")
        return _train(model, logger, self.dataset, epochs)

    def train_simple_autoencoder(self, lr: float = 1e-3, epochs: int = 20) -> str:
        model = AutoEncoder(
            LinearEncoder(self.input_shape, self.latent_dim),
            IdentityBottleneck(self.latent_dim),
            LinearDecoder(self.latent_dim, self.input_shape),
            lr=lr,
        )
        return self._run("simpleautoencoder", model, epochs)

    def _deep(
        self, depth: int, bottleneck: IdentityBottleneck | SparseBottleneck, **kw: object
    ) -> AutoEncoder:
        return AutoEncoder(
            MLPEncoder(self.input_shape, depth, self.latent_dim),
            bottleneck,
            MLPDecoder(self.latent_dim, depth, self.input_shape),
            **kw,  # type: ignore[arg-type]
        )

    def train_deep_autoencoder(self, depth: int = 3, lr: float = 1e-3, epochs: int = 20) -> str:
        model = self._deep(depth, IdentityBottleneck(self.latent_dim), lr=lr)
        return self._run("deepautoencoder", model, epochs)

    def train_denoising_autoencoder(
        self, depth: int = 3, lr: float = 1e-3, epochs: int = 20, noise_ratio: float = 0.25
    ) -> str:
        model = self._deep(
            depth, IdentityBottleneck(self.latent_dim), lr=lr, noise_ratio=noise_ratio
        )
        return self._run("denoisingautoencoder", model, epochs)

    def train_sparse_autoencoder(
        self, depth: int = 3, lr: float = 1e-3, epochs: int = 20, sparsity_loss: str = "kld"
    ) -> str:
        model = self._deep(depth, SparseBottleneck(self.latent_dim, sparsity_loss), lr=lr)
        return self._run("sparseautoencoder", model, epochs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autoencoders.scripts.run", description=__doc__)
    parser.add_argument(
        "--model", choices=("simple", "deep", "denoising", "sparse"), default="deep"
    )
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default="./dataset/")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--training-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    runner = Runner(args.batch_size, args.training_size, args.seed, args.dataset, args.data_dir)
    train = getattr(runner, f"train_{args.model}_autoencoder")
    print(train(lr=args.lr, epochs=args.epochs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
