"""What a bake-off compares, on what data, and how long it trains (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autoencoders.options import at_least, option
from autoencoders.run_config import CHANNELS_MODES

PCA = "pca"
STAGES = ("train", "evaluate", "held-out", "one-class")
#: the stage each stage reads the result of; the others train models of their own
BUILDS_ON = {"evaluate": "train"}


@dataclass
class BakeoffConfig:
    """What to compare, on what, and how long to train.

    By default every model trains until its validation loss stops improving
    (``patience`` epochs without a better one, after at least ``min_steps``
    optimizer steps), and the best epoch's weights are the ones scored. A fixed
    ``epochs`` trains exactly that many epochs instead.
    """

    dataset: str = option("digits", "data set name or path")
    data_dir: str | None = option(None, "folder holding or receiving data files")
    image_size: str | None = option(
        None, "resize a folder's images to N (square) or HxW (shorter side, then the centre)"
    )
    channels_mode: str = option(
        "auto", "channels of a folder's images: auto, rgb or grey", choices=CHANNELS_MODES
    )
    patch_size: int = option(16, "side of the photo-patches data sets' patches", range=(1, 427))
    models: tuple[str, ...] = option(
        ("simple", "deep", "denoising", "sparse"),
        "models to compare, or 'all'; PCA is always included",
    )
    epochs: int | None = option(
        None, "train exactly this many epochs (default: until the validation loss stops improving)",
        range=at_least(1),
    )  # fmt: skip
    max_epochs: int = option(500, "most epochs when stopping early", range=at_least(1))
    patience: int = option(
        10, "epochs without improvement before stopping early", range=at_least(1)
    )
    min_steps: int = option(
        1000, "optimizer steps before a model may stop early", range=at_least(0)
    )
    max_steps: int | None = option(None, "budget in optimizer steps per model", range=at_least(1))
    latent_dim: int = option(20, "code size of every model and of PCA", range=at_least(1))
    batch_size: int = option(256, "training batch size", range=at_least(1))
    lr: float = option(1e-3, "Adam learning rate", range=at_least(0))
    seed: int = option(42, "first random seed", range=at_least(0))
    seeds: int = option(1, "seeds per model (seed, seed+1, ...): mean ± std", range=at_least(1))
    n_labels: int = option(550, "labelled training images of the linear probe", range=at_least(1))
    anomaly_class: int = option(
        1, "class left out by the held-out anomaly protocol", range=at_least(0)
    )
    anomaly_latent_dim: int = option(
        2, "code size of the held-out anomaly models", range=at_least(1)
    )
    anomaly_epochs: int | None = option(
        None, "fixed epochs of the anomaly models (default: as the main models)", range=at_least(1)
    )
    one_class: bool = option(True, "run the one-class protocol (one small model per class)")
    one_class_score: str = option(
        "recon-sse",
        "one-class anomaly score: recon-sse, recon-bce, density, combined (code density + "
        "squared error) or feature (RaPP: error in the encoder's hidden layers)",
        choices=("recon-sse", "recon-bce", "density", "combined", "feature"),
    )
    max_eval_train: int = option(10_000, "most training images scored", range=at_least(1))
    embed_samples: int = option(2000, "points in each latent map", range=at_least(1))
    out: str = option("bakeoff", "output folder; an existing one is resumed")
    workers: int = option(
        1,
        "processes that train and score models at once, each with an equal share of the "
        "CPU threads (2 on a 2-core machine: small models use one core badly)",
        range=at_least(1),
    )
    verbose: bool = option(False, "a progress bar for every model's training")
    model_options: dict[str, Any] = field(default_factory=dict)

    @property
    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]
