"""A tiny bake-off on digits, end to end: every table cell, every figure, sane numbers."""

import base64
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from _support import run_cli
from autoencoders.bakeoff import PCA, Bakeoff, BakeoffConfig
from autoencoders.bakeoff.parallel import task_chains
from autoencoders.bakeoff.report import UNLABELLED_NOTE
from autoencoders.checkpoint import load
from autoencoders.cli import main
from autoencoders.evaluation import roc_auc

MODELS = ("deep", "denoising")
SEED = "42"


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
    for name, by_seed in results["models"].items():
        assert list(by_seed) == [SEED]
        entry = by_seed[SEED]
        assert all(stage["status"] == "ok" for stage in entry.values()), (name, entry)
        ev = entry["evaluate"]
        assert 0 <= ev["probe_accuracy"] <= 1 and ev["probe_accuracy"] > 0.5
        for method in ("kmeans", "hdbscan"):
            assert 0 <= ev[f"{method}_nmi"] <= 1
        assert ev["hdbscan_clusters"] >= 2 and 0 <= ev["hdbscan_noise"] < 1
        assert ev["bce_per_image"] > 0 and ev["sse_per_image"] > 0 and 0 < ev["ssim"] <= 1
        assert ev["denoise_sse"] < ev["noisy_sse"]
        assert 0 <= entry["held-out"]["auc"] <= 1
        assert len(entry["one-class"]["per_class"]) == 10
        assert 0.5 < entry["one-class"]["mean_auc"] <= 1
    train = results["models"]["deep"][SEED]["train"]
    assert train["train_seconds"] > 0 and train["epochs"] == 30
    assert train["stop_reason"] == "trained the fixed --epochs 30"
    report = (bakeoff_dir / "report.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| ") and "model" not in line]
    assert [r.split("|")[1].strip() for r in rows] == [PCA, *MODELS]
    assert all("–" not in r for r in rows[1:]), "every cell of every model row must hold a number"
    assert "- deep seed 42: 30 epochs; trained the fixed --epochs 30" in report


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
    markdown = (bakeoff_dir / "report.md").read_text()
    for name in MODELS:  # each model's explorer page, linked from both reports
        explorer = bakeoff_dir / "figures" / name / "explore.html"
        assert "<canvas" in explorer.read_text() or "<svg" in explorer.read_text()
        assert f'href="figures/{name}/explore.html"' in page
        assert f"(figures/{name}/explore.html)" in markdown
    assert not (bakeoff_dir / "figures" / PCA / "explore.html").exists()


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def test_markdown_and_html_tell_the_same_story(bakeoff_dir):
    """Both come from one report structure: every sentence and finding of one is in the other."""
    markdown = (bakeoff_dir / "report.md").read_text()
    parser = _Text()
    parser.feed((bakeoff_dir / "report.html").read_text())
    page = " ".join(" ".join(parser.parts).split())
    intro = markdown.split("\n\n")[1].splitlines()
    findings = [line[2:] for line in markdown.split("## Findings")[1].split("##")[0].splitlines()
                if line.startswith("- ")]  # fmt: skip
    assert len(intro) >= 6 and findings
    for sentence in [*intro, *findings]:
        assert " ".join(sentence.split()) in page, sentence
    assert "Held-out anomaly: class 1 left out" in page


def test_resume_skips_finished_stages_and_reruns_missing_ones(bakeoff_dir, caplog):
    (bakeoff_dir / "stages" / "deep" / f"seed-{SEED}" / "held-out.json").unlink()
    cfg = BakeoffConfig(dataset="digits", models=MODELS, epochs=30, latent_dim=8, anomaly_epochs=30,
                        batch_size=64, out=str(bakeoff_dir))  # fmt: skip
    with caplog.at_level("INFO", logger="autoencoders.bakeoff"):
        Bakeoff(cfg).run()
    started = [r.getMessage() for r in caplog.records if r.getMessage().startswith("[")]
    assert started == ["[1/1] deep: held-out (elapsed 0s)"]
    assert (bakeoff_dir / "stages" / "deep" / f"seed-{SEED}" / "held-out.json").is_file()


def test_several_seeds_give_mean_and_std(tmp_path):
    out = tmp_path / "seeds"
    code = main(["bakeoff", "--dataset", "digits", "--models", "simple", "--epochs", "3", "--latent-dim", "4",
                 "--seeds", "2", "--no-one-class", "--out", str(out)])  # fmt: skip
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    by_seed = results["models"]["simple"]
    assert list(by_seed) == ["42", "43"]
    probes = [by_seed[s]["evaluate"]["probe_accuracy"] for s in ("42", "43")]
    assert probes[0] != probes[1], "each seed trains its own model"
    report = (out / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| simple "))
    mean, std = np.mean(probes), np.std(probes, ddof=1)
    assert f"{mean:.3f} ± {std:.3f}" in row
    assert "over 2 seeds" in report


def test_failing_model_is_reported_and_others_go_on(tmp_path):
    cfg = BakeoffConfig(dataset="digits", models=("deep",), epochs=1, latent_dim=8, one_class=False,
                        out=str(tmp_path), model_options={"deep": {"num_layers": 40}})  # fmt: skip
    results = Bakeoff(cfg).run()
    assert results["models"]["deep"][SEED]["train"]["status"] == "failed"
    assert "too deep" in results["models"]["deep"][SEED]["train"]["error"]
    assert results["models"][PCA][SEED]["evaluate"]["status"] == "ok"
    assert "failed" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("seeds", 0, r"--seeds must be an integer >= 1"),
     ("one_class_score", "nope", r"--one-class-score must be one of")],
)  # fmt: skip
def test_bad_options_are_refused_before_any_work(tmp_path, option, value, message):
    with pytest.raises(ValueError, match=message):
        Bakeoff(BakeoffConfig(out=str(tmp_path / "b"), **{option: value}))
    assert not (tmp_path / "b").exists()


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown model"):
        Bakeoff(BakeoffConfig(models=("nope",)))


def test_trivially_separable_anomalies_score_near_one():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(0, 1, 500), rng.normal(10, 1, 50)])
    assert roc_auc(scores, np.r_[np.zeros(500), np.ones(50)].astype(bool)) > 0.99


def test_one_class_protocol_takes_any_registered_score(tmp_path):
    out = tmp_path / "combined"
    code = main(["bakeoff", "--dataset", "digits", "--models", "simple", "--epochs", "3", "--latent-dim", "4",
                 "--one-class-score", "combined", "--out", str(out)])  # fmt: skip
    assert code == 0
    entry = json.loads((out / "results.json").read_text())["models"]["simple"][SEED]
    assert entry["one-class"]["status"] == "ok" and entry["one-class"]["mean_auc"] > 0.6
    assert "scored by code density plus squared error" in (out / "report.md").read_text()


def _bakeoff_cli(out, *options):
    """``autoencoders bakeoff`` in its own process: (the stages it ran, results.json, report.md)."""
    command = [sys.executable, "-m", "autoencoders.cli", "bakeoff", "--dataset", "digits",
               "--models", "simple", "--no-one-class", "--batch-size", "128", "--out", str(out),
               *options]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    ran = re.findall(r"^\[\d+/\d+\] (\S+): (\S+) \(", done.stderr, flags=re.MULTILINE)
    results = json.loads((out / "results.json").read_text())
    return set(ran), results, (out / "report.md").read_text()


def test_a_rerun_under_new_settings_retrains_and_reports_only_them(tmp_path):
    out = tmp_path / "bo"
    ran, _, _ = _bakeoff_cli(out, "--epochs", "2", "--latent-dim", "4", "--anomaly-epochs", "1")
    assert ran == {("pca", "evaluate"), ("pca", "held-out"), ("simple", "train"),
                   ("simple", "evaluate"), ("simple", "held-out")}  # fmt: skip

    # other epochs and code size: every stage that depends on them runs again; PCA's
    # held-out protocol (2-unit code, no training) depends on neither and is kept
    ran, results, report = _bakeoff_cli(out, "--epochs", "3", "--latent-dim", "5",
                                        "--anomaly-epochs", "1")  # fmt: skip
    assert ran == {("pca", "evaluate"), ("simple", "train"), ("simple", "evaluate")}
    simple = results["models"]["simple"][SEED]
    assert simple["train"]["epochs"] == 3 and simple["train"]["settings"]["latent_dim"] == 5
    assert simple["evaluate"]["settings"]["epochs"] == 3
    header = report.split("\n\n")[1]
    assert "latent size 5" in header and "exactly 3 epochs" in header
    assert "- simple seed 42: 3 epochs; trained the fixed --epochs 3" in report
    assert "2 epochs" not in report
    row = next(line for line in report.splitlines() if line.startswith("| simple "))
    assert f"{simple['evaluate']['probe_accuracy']:.3f}" in row
    assert f"{simple['held-out']['auc']:.3f}" in row
    config = json.loads((out / "models" / "simple" / f"seed-{SEED}" / "config.json").read_text())
    assert config["latent_dim"] == 5

    # only the anomaly models' epochs: only the held-out model trains again
    ran, results, _ = _bakeoff_cli(out, "--epochs", "3", "--latent-dim", "5",
                                   "--anomaly-epochs", "2")  # fmt: skip
    assert ran == {("simple", "held-out")}
    assert results["models"]["simple"][SEED]["held-out"]["epochs"] == 2

    # the same settings again: nothing runs, and the report is the same
    before = (out / "report.md").read_text()
    ran, _, report = _bakeoff_cli(out, "--epochs", "3", "--latent-dim", "5",
                                  "--anomaly-epochs", "2")  # fmt: skip
    assert ran == set() and report == before


def test_umap_numba_functions_are_cached_on_disk():
    """UMAP's compilation (~30 s a process) is paid once per install, not in every bake-off."""
    from autoencoders.evaluation.embedding import load_umap

    module = load_umap()
    assert load_umap() is module
    from umap import layouts, umap_

    for fn in (umap_.smooth_knn_dist, layouts._nb_optimize_layout_euclidean_single_epoch):
        assert type(fn._cache).__name__ != "NullCache", fn


def _wine_bakeoff(tmp_path, labelled: bool):
    """A tiny bake-off on the wine table (with or without its ``target`` column): (run, out)."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    if not labelled:
        frame = frame.drop(columns="target")
    frame.to_csv(tmp_path / "wine.csv", index=False)
    done = run_cli("bakeoff", "--dataset", "wine.csv", "--models", "simple", "--epochs", "2",
                   "--anomaly-epochs", "1", "--latent-dim", "4", "--out", "bo", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done, tmp_path / "bo"


def _table(report: str) -> tuple[list[str], dict[str, list[str]]]:
    """The report's table: its headings, and each model's cells by name."""
    lines = [line for line in report.splitlines() if line.startswith("| ")]
    heading = [c.strip() for c in lines[0].split("|")[2:-1]]
    rows = {cells[1].strip(): [c.strip() for c in cells[2:-1]]
            for cells in (line.split("|") for line in lines[1:])}  # fmt: skip
    return heading, rows


def test_a_table_is_scored_per_sample_without_image_metrics(tmp_path):
    _, out = _wine_bakeoff(tmp_path, labelled=True)
    report = (out / "report.md").read_text()
    for word in ("SSIM", "PSNR", "per image", "/img"):
        assert word not in report, word
    heading, rows = _table(report)
    assert heading[:2] == ["recon BCE/sample ↓", "SSE/sample ↓"]
    assert "linear probe ↑" in heading and "one-class AUROC ↑" in heading
    for name in (PCA, "simple"):
        assert all(cell != "–" for cell in rows[name][:2]), rows[name]
        figure = out / "figures" / name / "reconstructions.png"
        assert Image.open(figure).size[0] > 200, "a per-sample reconstruction figure"
        assert f"(figures/{name}/reconstructions.png)" in report
    evaluate = json.loads((out / "results.json").read_text())["models"]["simple"][SEED]["evaluate"]
    assert evaluate["bce_per_sample"] > 0 and "ssim" not in evaluate and "psnr" not in evaluate


def test_an_unlabelled_table_gets_the_label_free_scores_and_a_note(tmp_path):
    done, out = _wine_bakeoff(tmp_path, labelled=False)
    assert "Traceback" not in done.stderr
    report = (out / "report.md").read_text()
    assert report.count(UNLABELLED_NOTE) == 1 and "Failures" not in report
    heading, rows = _table(report)
    assert heading[:2] == ["recon BCE/sample ↓", "SSE/sample ↓"]
    assert not any(word in h for h in heading for word in ("probe", "NMI", "AUROC", "HDBSCAN"))
    results = json.loads((out / "results.json").read_text())
    assert results["data"] == {"image": False, "labelled": False}
    for name in (PCA, "simple"):
        evaluate = results["models"][name][SEED]["evaluate"]
        assert f"{evaluate['bce_per_sample']:.3f}" == rows[name][0]
        assert f"{evaluate['sse_per_sample']:.3f}" == rows[name][1]
        # the stages that need classes are skipped, neither failed nor missing
        assert set(results["models"][name][SEED]) <= {"train", "evaluate"}
        assert "probe_accuracy" not in evaluate
    assert "held-out" not in re.findall(r"^\[\d+/\d+\] \S+: (\S+)", done.stderr, re.MULTILINE)


def test_models_in_two_processes_give_the_one_process_results(tmp_path):
    args = ["--dataset", "digits", "--models", "deep", "--epochs", "3",
            "--latent-dim", "4", "--no-one-class", "--batch-size", "64"]  # fmt: skip
    done = run_cli("bakeoff", *args, "--workers", "2", "--out", str(tmp_path / "two"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 models in 2 processes" in done.stderr
    # one line per stage as each ends, counted to the whole (PCA: 2, deep: 3)
    assert re.search(r"\[5/5\] \S+: \S+ done in", done.stderr), done.stderr
    assert main(["bakeoff", *args, "--out", str(tmp_path / "one")]) == 0
    two = json.loads((tmp_path / "two" / "results.json").read_text())["models"]
    one = json.loads((tmp_path / "one" / "results.json").read_text())["models"]
    for name in (PCA, "deep"):
        a, b = two[name][SEED], one[name][SEED]
        assert all(stage["status"] == "ok" for stage in a.values()), (name, a)
        assert a.keys() == b.keys()
        # the same training, up to float rounding of other thread counts
        for metric in ("bce_per_image", "probe_accuracy", "kmeans_nmi"):
            assert a["evaluate"][metric] == pytest.approx(b["evaluate"][metric], rel=0.02), metric
    assert two["deep"][SEED]["train"]["epochs"] == 3
    assert (tmp_path / "two" / "report.html").is_file()
    # a rerun finds every stage done: nothing to hand to the workers
    again = run_cli(
        "bakeoff", *args, "--workers", "2", "--out", str(tmp_path / "two"), cwd=tmp_path
    )
    assert again.returncode == 0 and "processes" not in again.stderr, again.stderr


def test_ctrl_c_stops_every_worker_in_one_line_and_keeps_their_checkpoints(tmp_path):
    out = tmp_path / "bo"
    command = [sys.executable, "-m", "autoencoders", "bakeoff", "--dataset", "digits",
               "--models", "deep", "simple", "--epochs", "500", "--latent-dim", "4",
               "--no-one-class", "--batch-size", "64", "--workers", "2", "--out", str(out)]  # fmt: skip
    # a terminal's Ctrl-C: SIGINT to the whole process group, parent and workers
    process = subprocess.Popen(
        command, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"},
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        # both models in training: each has saved a checkpoint
        while len(list(out.glob("models/*/seed-*/checkpoints/last.ckpt"))) < 2:
            assert process.poll() is None and time.monotonic() < deadline, "training never began"
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=120)  # it hung here with a Pool
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 128 + signal.SIGINT, stderr
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == (
        "autoencoders bakeoff: stopped by SIGINT; run the same bakeoff command again to go on "
        "from there"
    )
    # no worker outlives the bake-off (multiprocessing's resource tracker, also in the
    # group, ends by itself once the workers' ends of its pipe are closed)
    deadline = time.monotonic() + 10
    with pytest.raises(ProcessLookupError):
        while time.monotonic() < deadline:
            os.killpg(process.pid, 0)
            time.sleep(0.1)
    for name in ("deep", "simple"):
        run = out / "models" / name / f"seed-{SEED}"
        # unfinished: no stage result, so the rerun goes on from the checkpoint
        assert not (out / "stages" / name / f"seed-{SEED}" / "train.json").exists()
        assert load(run / "checkpoints" / "last.ckpt") is not None


def test_a_models_stages_that_train_their_own_models_are_tasks_of_their_own():
    todo = [("conv", 1, stage) for stage in ("train", "evaluate", "held-out", "one-class")]
    assert task_chains(todo) == {
        ("conv", 1, "train"): ["train", "evaluate"],  # evaluate reads what train saved
        ("conv", 1, "held-out"): ["held-out"],
        ("conv", 1, "one-class"): ["one-class"],
    }
    # with training done already, evaluate is a task alone
    assert task_chains([("conv", 1, "evaluate"), ("deep", 1, "train")]) == {
        ("conv", 1, "evaluate"): ["evaluate"],
        ("deep", 1, "train"): ["train"],
    }
