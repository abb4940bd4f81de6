"""A tiny bake-off on digits, end to end: every table cell, every figure, sane numbers."""

import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from autoencoders.bakeoff import PCA, Bakeoff, BakeoffConfig
from autoencoders.cli import main
from autoencoders.evaluation import roc_auc

MODELS = ("deep", "denoising")


@pytest.fixture(scope="module")
def bakeoff_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("bakeoff")
    code = main(["bakeoff", "--dataset", "digits", "--models", *MODELS, "--epochs", "30", "--latent-dim", "8",
                 "--anomaly-epochs", "30", "--batch-size", "64", "--out", str(out)])  # fmt: skip
    assert code == 0
    return out


def test_every_table_cell_is_filled_and_sane(bakeoff_dir):
    results = json.loads((bakeoff_dir / "results.json").read_text())
    assert set(results["models"]) == {PCA, *MODELS}
    for name, entry in results["models"].items():
        assert all(stage["status"] == "ok" for stage in entry.values()), (name, entry)
        ev = entry["evaluate"]
        assert 0 <= ev["probe_accuracy"] <= 1 and ev["probe_accuracy"] > 0.5
        for method in ("kmeans", "dbscan", "meanshift"):
            assert 0 <= ev[f"{method}_nmi"] <= 1
        assert ev["bce_per_image"] > 0 and ev["sse_per_image"] > 0 and 0 < ev["ssim"] <= 1
        assert ev["denoise_sse"] < ev["noisy_sse"]
        assert 0 <= entry["held-out"]["auc"] <= 1
        assert len(entry["one-class"]["per_class"]) == 10
        assert 0.5 < entry["one-class"]["mean_auc"] <= 1
    assert results["models"]["deep"]["train"]["train_seconds"] > 0
    report = (bakeoff_dir / "report.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| ") and "model" not in line]
    assert [r.split("|")[1].strip() for r in rows] == [PCA, *MODELS]
    assert all("–" not in r for r in rows), "every cell of every row must hold a number"


def test_figures_exist_and_html_embeds_them_all(bakeoff_dir):
    for name in (PCA, *MODELS):
        for fig in ("reconstructions", "latent_map", "samples", "interpolation"):
            assert (bakeoff_dir / "figures" / name / f"{fig}.png").stat().st_size > 1000
        assert Image.open(bakeoff_dir / "figures" / name / "interpolation.gif").n_frames == 10
    assert (bakeoff_dir / "figures" / "roc-held-out.png").is_file()
    page = (bakeoff_dir / "report.html").read_text()
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([^"]+)">', page)
    assert len(images) == 2 + 4 * 3
    for data in images:
        Image.open(io.BytesIO(base64.b64decode(data))).verify()
    assert 'src="http' not in page and "<script" not in page


def test_resume_skips_finished_stages_and_reruns_missing_ones(bakeoff_dir, caplog):
    (bakeoff_dir / "stages" / "deep" / "held-out.json").unlink()
    cfg = BakeoffConfig(dataset="digits", models=MODELS, epochs=30, latent_dim=8, anomaly_epochs=30,
                        batch_size=64, out=str(bakeoff_dir))  # fmt: skip
    with caplog.at_level("INFO", logger="autoencoders.bakeoff"):
        Bakeoff(cfg).run()
    started = [r.getMessage() for r in caplog.records if r.getMessage().startswith("[")]
    assert started == ["[1/1] deep: held-out (elapsed 0s)"]
    assert (bakeoff_dir / "stages" / "deep" / "held-out.json").is_file()


def test_failing_model_is_reported_and_others_go_on(tmp_path):
    cfg = BakeoffConfig(dataset="digits", models=("deep",), epochs=1, latent_dim=8, one_class=False,
                        out=str(tmp_path), model_options={"deep": {"num_layers": 40}})  # fmt: skip
    results = Bakeoff(cfg).run()
    assert results["models"]["deep"]["train"]["status"] == "failed"
    assert "too deep" in results["models"]["deep"]["train"]["error"]
    assert results["models"][PCA]["evaluate"]["status"] == "ok"
    assert "failed" in (tmp_path / "report.md").read_text()


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown model"):
        Bakeoff(BakeoffConfig(models=("nope",)))


def test_trivially_separable_anomalies_score_near_one():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(0, 1, 500), rng.normal(10, 1, 50)])
    assert roc_auc(scores, np.r_[np.zeros(500), np.ones(50)].astype(bool)) > 0.99
