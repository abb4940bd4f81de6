"""Inspection as a user runs it: train on an MVTec-layout folder, score with maps, export, run.

Every command runs in a subprocess on a small folder of 32x32 T-shirts with
pasted squares (``conftest.mvtec_dir``); the model trains a few epochs only,
enough for maps that find squares, not a good model.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from _mvtec import write_mvtec
from PIL import Image

from _support import run_cli
from autoencoders.cli import main

autoencoders = run_cli
METRICS = ("image_auroc", "image_f1max", "pixel_auroc", "aupro")


@pytest.fixture(scope="module")
def checkpoint(mvtec_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    done = autoencoders("train", "--model", "conv", "--dataset", str(mvtec_dir), "--epochs", "3",
                        "--batch-size", "16", "--latent-dim", "16", "--threads", "1",
                        "--output", str(out), cwd=out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return next(out.glob("*/conv/checkpoints/last.ckpt"))


@pytest.fixture(scope="module")
def scored(checkpoint, mvtec_dir, tmp_path_factory) -> tuple[Path, Path, str]:
    """``score --maps`` on the layout: the scores file, the maps folder, the command's output."""
    out = tmp_path_factory.mktemp("scored")
    done = autoencoders("score", str(checkpoint), "--dataset", str(mvtec_dir), "--out",
                        str(out / "scores.csv"), "--maps", str(out / "MAPS"), cwd=out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out / "scores.csv", out / "MAPS", done.stdout


def read_scores(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_score_maps_writes_pictures_a_page_and_the_four_metrics(scored, mvtec_dir):
    scores_csv, maps, stdout = scored
    rows = read_scores(scores_csv)
    assert list(rows[0])[:4] == ["index", "file", "score", "flag"]
    files = sorted(r["file"] for r in rows)  # test/ only, as found under --dataset
    assert files == sorted(p.relative_to(mvtec_dir).as_posix()
                           for p in (mvtec_dir / "test").rglob("*.png"))  # fmt: skip
    pictures = sorted(p.name for p in maps.glob("*.png"))
    assert len(pictures) == 24 and "000068_test_dark_000.png" in pictures
    with Image.open(maps / pictures[0]) as img:  # four panels of at least 128 pixels
        assert img.width >= 4 * 128 and img.height >= 128 and img.mode == "RGB"
    page = (maps / "index.html").read_text()
    top = max(rows, key=lambda r: float(r["score"]))
    assert "Highest scores" in page and "Lowest scores" in page and top["file"] in page
    metrics = json.loads((maps / "metrics.json").read_text())
    assert set(METRICS) <= set(metrics)
    assert all(0.0 <= metrics[k] <= 1.0 for k in METRICS)
    assert metrics["pixel_auroc"] > 0.7  # bright and dark squares stand out even so
    assert "held-out" in metrics["threshold_from"]  # normal images only: no anomaly needed
    assert f"pixel_auroc {metrics['pixel_auroc']:.4f}" in stdout
    assert np.load(maps / "maps.npy").shape == (24, 32, 32)


def test_the_exported_onnx_model_scores_and_maps_as_the_score_command(
    checkpoint, scored, mvtec_dir, tmp_path
):
    ort = pytest.importorskip("onnxruntime")
    scores_csv, maps_dir, _ = scored
    out = tmp_path / "model.onnx"
    done = autoencoders("export", str(checkpoint), "--format", "onnx", "--out", str(out),
                        cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = read_scores(scores_csv)
    images = np.stack([np.asarray(Image.open(mvtec_dir / r["file"]), np.float32)[None] / 255
                       for r in rows])  # fmt: skip
    session = ort.InferenceSession(str(out))
    meta = json.loads(session.get_modelmeta().custom_metadata_map["autoencoders"])
    threshold = np.array(meta["threshold"], dtype=np.float32)
    score, amap, flag = session.run(None, {"image": images, "threshold": threshold})
    expected = np.array([float(r["score"]) for r in rows])
    maps = np.load(maps_dir / "maps.npy")
    assert np.abs(score - expected).max() < 1e-4 * np.abs(expected).max()
    assert np.abs(amap - maps).max() < 1e-4 * np.abs(maps).max()
    # the stored threshold is the score command's own, so the flags agree too
    assert flag.tolist() == [r["flag"] == "1" for r in rows]
    # another threshold flags differently, and scores the same
    lower = np.array(np.median(score), dtype=np.float32)
    score2, _, flag2 = session.run(None, {"image": images, "threshold": lower})
    np.testing.assert_array_equal(score2, score)
    assert flag2.tolist() == (score > lower).tolist() and flag2.tolist() != flag.tolist()
    # a batch of another size runs through the same graph
    one, _, _ = session.run(None, {"image": images[:1], "threshold": threshold})
    assert one.shape == (1,) and abs(one[0] - score[0]) < 1e-4 * abs(score[0])


def test_the_torchscript_export_scores_the_feature_map_as_score_does(
    checkpoint, mvtec_dir, tmp_path
):
    import torch

    done = autoencoders("export", str(checkpoint), "--format", "torchscript", "--score",
                        "map-feature", "--reduce", "topk", "--threshold", "2.5", "--out",
                        str(tmp_path / "model.pt"), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "threshold 2.5 (given)" in done.stdout
    scores_csv = tmp_path / "feature.csv"
    done = autoencoders("score", str(checkpoint), "--dataset", str(mvtec_dir), "--score",
                        "map-feature", "--reduce", "topk", "--out", str(scores_csv),
                        cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = read_scores(scores_csv)
    images = np.stack([np.asarray(Image.open(mvtec_dir / r["file"]), np.float32)[None] / 255
                       for r in rows])  # fmt: skip
    model = torch.jit.load(str(tmp_path / "model.pt"))
    score, amap, flag = model(torch.from_numpy(images), torch.tensor(2.5))
    expected = np.array([float(r["score"]) for r in rows])
    assert np.abs(score.numpy() - expected).max() < 1e-4 * np.abs(expected).max()
    assert amap.shape == (24, 32, 32) and flag.tolist() == (score > 2.5).tolist()


def test_a_validation_folder_with_anomalies_gives_the_f1_threshold(checkpoint, mvtec_dir, tmp_path):
    root = tmp_path / "shirts"
    shutil.copytree(mvtec_dir, root)
    write_mvtec(root, n_train=0, n_good=6, n_defect=4, split="validation", masks=False, seed=1)
    done = autoencoders("score", str(checkpoint), "--dataset", str(root), "--score", "map-sse",
                        "--out", str(tmp_path / "s.csv"), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"F1-optimal on 14 labelled images of {root / 'validation'}" in done.stdout


def test_a_missing_mask_is_one_line_and_nothing_is_written(checkpoint, mvtec_dir, tmp_path):
    root = tmp_path / "shirts"
    shutil.copytree(mvtec_dir, root)
    mask = root / "ground_truth" / "dark" / "004_mask.png"
    mask.unlink()
    out, maps = tmp_path / "s.csv", tmp_path / "MAPS"
    done = autoencoders("score", str(checkpoint), "--dataset", str(root), "--out", str(out),
                        "--maps", str(maps), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"{mask}: missing; the defect image {root / 'test' / 'dark' / '004.png'}" in done.stderr
    assert not out.exists() and not maps.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["shirts"]  # no hidden half-written folder


def test_maps_options_are_checked_before_any_work(checkpoint, mvtec_dir, tmp_path, capsys):
    maps = tmp_path / "MAPS"
    maps.mkdir()
    base = ["score", str(checkpoint), "--dataset", str(mvtec_dir), "--out", str(tmp_path / "s.csv")]
    assert main([*base, "--maps", str(maps)]) == 2
    assert f"--maps {maps} exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert main([*base, "--maps", str(tmp_path / "M2"), "--score", "recon-sse"]) == 2
    assert "--score recon-sse has none: pass --score map-sse" in capsys.readouterr().err
    assert main([*base, "--sigma", "2"]) == 2
    assert "--sigma, --reduce and --top-k shape a map score" in capsys.readouterr().err
    assert main([*base, "--score", "map-sse", "--top-k", "1.5"]) == 2
    assert "--top-k must lie in (0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "M2").exists()


def test_export_options_are_checked_before_any_work(checkpoint, tmp_path, capsys):
    base = ["export", str(checkpoint)]
    assert main([*base, "--out", str(tmp_path / "m.onnx"), "--score", "recon-sse"]) == 2
    assert "export writes an anomaly map score; --score recon-sse" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "m.pt")]) == 2  # onnx by default
    assert "--out must end in .onnx, got m.pt" in capsys.readouterr().err
    (tmp_path / "m.onnx").write_bytes(b"earlier")
    assert main([*base, "--out", str(tmp_path / "m.onnx")]) == 2
    assert "exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert (tmp_path / "m.onnx").read_bytes() == b"earlier"
