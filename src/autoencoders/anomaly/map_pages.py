"""The ``--maps`` folder of ``autoencoders score``: one picture per image, a page, the metrics.

Each picture is a row of four panels: the input, its reconstruction, the
anomaly map (dark: as normal images; bright: the most anomalous values of the
set) and the map over the input, with the defect mask's outline in green where
there is a mask. All maps share one colour scale (zero to the 99.9th percentile
of every map value), so a bright spot means the same in every picture.
``index.html`` shows the highest- and the lowest-scored images with their
scores; ``metrics.json`` holds the detection metrics where there are labels.

The folder is written beside its final place and moved there when complete,
so an interrupted run leaves no half-written folder, and an existing one is
replaced only when asked to (and only once the new one is complete).
"""

from __future__ import annotations

import contextlib
import html
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autoencoders.files import write_json
from autoencoders.images import image_rows, save_grid_image

#: images shown in each of the page's two lists (highest and lowest scores)
PAGE_IMAGES = 24
#: how many times pictures are enlarged: small images are otherwise hard to see
MIN_PICTURE_SIDE = 128
#: the overlay's share of the map's colour
OVERLAY_ALPHA = 0.5


@dataclass
class MapRecord:
    """What the page says about one image: its picture, row, file, score, flag and label."""

    picture: str
    row: int
    file: str | None
    score: float
    flag: bool
    label: str | None


@contextlib.contextmanager
def maps_folder(path: Path) -> Iterator[Path]:
    """Yields an empty hidden folder beside ``path``; on success it becomes ``path``.

    An existing ``path`` (the caller allowed replacing it) is removed only after
    the new folder is complete; on an error the new folder is removed instead.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old."))
            path.rename(old / path.name)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def colour_scale(maps: np.ndarray) -> float:
    """The map value drawn brightest: the 99.9th percentile of all values (1 if all are 0)."""
    if not maps.size:
        return 1.0
    top = float(np.quantile(maps, 0.999))
    return top if top > 0 else 1.0


def picture(
    image: np.ndarray, recon: np.ndarray, amap: np.ndarray, top: float, mask: np.ndarray | None
) -> torch.Tensor:
    """The four panels of one image (``(C, H, W)`` in [0, 1], its ``(H, W)`` map) as one RGB row."""
    from matplotlib import colormaps

    rgb = _rgb(image)
    coloured = torch.from_numpy(
        colormaps["inferno"](np.clip(amap / top, 0.0, 1.0))[..., :3].astype(np.float32)
    ).permute(2, 0, 1)
    overlay = (1 - OVERLAY_ALPHA) * rgb + OVERLAY_ALPHA * coloured
    if mask is not None and mask.any():
        edge = torch.from_numpy(_outline(mask))
        overlay[:, edge] = torch.tensor([0.0, 1.0, 0.0])[:, None]
    return image_rows([torch.stack([rgb, _rgb(recon), coloured, overlay])], gap=1)


def _rgb(image: np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(image, dtype=np.float32)).clamp(0, 1)
    return x.expand(3, -1, -1).clone() if x.shape[0] == 1 else x[:3].clone()


def _outline(mask: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` that touch a pixel outside it (4-neighbours): its outline."""
    from scipy import ndimage

    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def picture_name(row: int, file: str | None) -> str:
    """A file name for the picture of row ``row``: its number, then its file's path, flattened."""
    if file is None:
        return f"{row:06d}.png"
    stem = Path(file).with_suffix("").as_posix().replace("/", "_")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
    return f"{row:06d}_{safe}.png"


def write_pictures(
    folder: Path,
    images: np.ndarray,
    recons: np.ndarray,
    maps: np.ndarray,
    masks: np.ndarray | None,
    names: list[str],
    top: float,
) -> None:
    """One picture per image into ``folder``, enlarged to at least :data:`MIN_PICTURE_SIDE`."""
    side = max(1, -(-MIN_PICTURE_SIDE // max(1, images.shape[-1])))
    for i, name in enumerate(names):
        mask = None if masks is None else masks[i]
        grid = picture(images[i], recons[i], maps[i], top, mask)
        save_grid_image(grid, folder / name, scale=side)


def write_index(folder: Path, records: list[MapRecord], title: str, threshold: float) -> None:
    """``index.html``: the highest- and the lowest-scored images, with score, flag and label."""
    ranked = sorted(records, key=lambda r: r.score, reverse=True)
    lists = [
        ("Highest scores", ranked[:PAGE_IMAGES]),
        ("Lowest scores", ranked[::-1][:PAGE_IMAGES]),
    ]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:1em}figure{display:inline-block;margin:.4em;"
        "font-size:80%}img{image-rendering:pixelated;display:block}.flag{color:#b00}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
        f"<p>{len(records)} images; threshold {threshold:.6g}; each picture: input, "
        "reconstruction, anomaly map, map over the input (mask outline in green).</p>",
    ]
    for heading, chosen in lists:
        parts.append(f"<h2>{heading}</h2>")
        for r in chosen:
            what = html.escape(r.file if r.file is not None else f"row {r.row}")
            label = f" ({html.escape(r.label)})" if r.label is not None else ""
            flag = " <span class='flag'>flagged</span>" if r.flag else ""
            parts.append(
                f"<figure><img src='{html.escape(r.picture)}' alt='{what}'>"
                f"<figcaption>{what}{label}<br>score {r.score:.6g}{flag}</figcaption></figure>"
            )
    parts.append("</body></html>\n")
    (folder / "index.html").write_text("\n".join(parts), encoding="utf-8")


def write_metrics(folder: Path, metrics: dict[str, Any]) -> None:
    """``metrics.json``: the metrics and how the threshold was chosen."""
    write_json(folder / "metrics.json", metrics)
