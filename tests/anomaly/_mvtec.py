"""Small folders of the MVTec AD layout, written from real images with pasted defects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from autoencoders.anomaly.defects import paste_defects

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def real_images(n: int) -> np.ndarray:
    """``n`` real 32x32 grey images in [0, 1], ``(n, 1, 32, 32)``: Fashion-MNIST T-shirts where
    the data set is installed, else scikit-learn's digits enlarged four times."""
    if FASHION_DIR.is_dir():
        from autoencoders.data.sources import load_dataset

        data = load_dataset("fashion-mnist", FASHION_DIR, download=False)
        x = data.train_x[data.train_y == 0][:n].numpy().astype(np.float32) / 255.0
        return np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    from sklearn.datasets import load_digits

    x = load_digits().images[:n] / 16.0
    return np.kron(x, np.ones((4, 4)))[:, None].astype(np.float32)


def save_png(path: Path, image: np.ndarray) -> None:
    """A ``(1, H, W)`` or ``(H, W)`` image in [0, 1] (or a boolean mask) as an 8-bit PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.asarray(image, dtype=np.float32).reshape(image.shape[-2:])
    Image.fromarray((pixels * 255).round().astype(np.uint8)).save(path)


def write_mvtec(
    root: Path,
    n_train: int = 60,
    n_good: int = 8,
    defects: dict[str, tuple[str, ...]] | None = None,
    n_defect: int = 8,
    masks: bool = True,
    split: str = "test",
    seed: int = 0,
) -> Path:
    """Writes ``root`` in the MVTec AD layout; returns it.

    ``train/good`` and ``<split>/good`` hold real images; each entry of ``defects``
    (folder name -> defect kinds) holds ``n_defect`` other real images with a
    pasted defect, and ``ground_truth/<defect>/<name>_mask.png`` its exact mask.
    """
    defects = defects if defects is not None else {"bright": ("bright",), "dark": ("dark",)}
    rng = np.random.default_rng(seed)
    x = real_images(n_train + n_good + n_defect * len(defects))
    if split == "test":
        for i in range(n_train):
            save_png(root / "train" / "good" / f"{i:03d}.png", x[i])
    for i in range(n_good):
        save_png(root / split / "good" / f"{i:03d}.png", x[n_train + i])
    start = n_train + n_good
    for name, kinds in defects.items():
        bad, mask = paste_defects(x[start : start + n_defect], rng, kinds, size=(5, 8))
        for i in range(n_defect):
            save_png(root / split / name / f"{i:03d}.png", bad[i])
            if masks:
                save_png(root / "ground_truth" / name / f"{i:03d}_mask.png", mask[i])
        start += n_defect
    return root
