"""Training speed: our Trainer set-up against a hand-written loop and the machine's peak.

For each model and batch size, in one process and interleaved so machine noise
hits every contender alike, it times one training epoch over Fashion-MNIST's
55,000 training images (padded to 32x32):

* ours: ``AutoEncoder`` trained by ``autoencoders.training.make_trainer``, its
  batches grouped several optimizer steps per call as our data modules deliver them;
* hand-written: the same network in a minimal PyTorch loop over the same
  resident uint8 tensor, with default Adam (what most people write) and with
  fused Adam (the optimizer our module uses, so the ratio compares like with like);
* the model's weighted layers alone (each Linear / Conv / ConvTranspose layer run
  forward and backward on inputs of the shapes the real step gives it, with no
  batch norm, activation, loss or optimizer): the ceiling this network's shapes
  allow, whatever the training loop;
* a matrix-multiply probe of the machine's peak GFLOP/s.

Then it times the evaluation pipeline on the 10,000 test images (encode, linear
probe, k-means, UMAP on a sample). Run::

    python benchmarks/train_speed.py --repeats 3 --out benchmarks/results/train_speed.md
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date

import lightning as L
import numpy as np
import torch
from torch import nn

from autoencoders.data import FashionMNISTDataModule, TensorBatchLoader
from autoencoders.data.loader import GroupedLoader
from autoencoders.models import VARIANTS, build_model, make_config
from autoencoders.training import make_trainer


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def training_gflop(model: nn.Module, n_samples: int) -> float:
    """Multiply-adds of one epoch: forward 2 FLOP per weight use, backward twice that."""
    flops = 0
    x = torch.zeros(1, *model.config["input_shape"])

    def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal flops
        if isinstance(module, nn.Linear):
            flops += 2 * module.in_features * module.out_features
        elif isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Conv1d)):
            spatial = (
                output.shape[2:].numel()
                if isinstance(module, nn.Conv2d | nn.Conv1d)
                else inputs[0].shape[2:].numel()
            )
            flops += 2 * module.weight.numel() * spatial

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    model.eval()
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return 3 * flops * n_samples / 1e9


def ours_epoch(name: str, loader: TensorBatchLoader, seed: int) -> float:
    torch.manual_seed(seed)
    model = build_model(make_config(name, input_shape=(1, 32, 32)))
    timer = EpochTimer()
    trainer = make_trainer(
        1, progress_bar=False, limit_val_batches=0, callbacks=[timer], log_every_n_steps=50
    )
    # Grouped as our data modules deliver batches to an AutoEncoder.
    steps = model.optimizer_steps_per_call(loader.batch_size)
    trainer.fit(model, train_dataloaders=GroupedLoader(loader, steps))
    return timer.seconds


class EpochTimer(L.Callback):
    """Wall time of the training epoch alone (not the Trainer's start-up)."""

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.seconds = time.perf_counter() - self.start


def hand_epoch(name: str, loader: TensorBatchLoader, seed: int, fused: bool) -> float:
    """A minimal loop: the model's own networks and loss, nothing else."""
    torch.manual_seed(seed)
    model = build_model(make_config(name, input_shape=(1, 32, 32))).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused or None)
    start = time.perf_counter()
    for x, _ in loader:
        loss = model.compute_losses(x, noisy=True)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)


def layers_alone_epoch(name: str, loader: TensorBatchLoader, seed: int) -> float:
    """One epoch of only the weighted layers' forward and backward passes.

    Every weighted layer is recorded once during a real training step (input
    shape, memory layout, whether its input needs a gradient), then called on
    random inputs of those shapes and back-propagated with a random output
    gradient, once per batch of the epoch.
    """
    torch.manual_seed(seed)
    model = build_model(make_config(name, input_shape=(1, 32, 32))).train()
    seen: list[tuple[nn.Module, torch.Tensor]] = []

    def record(module: nn.Module, inputs: tuple) -> None:
        x = inputs[0]
        layout = (
            torch.channels_last
            if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
            else torch.contiguous_format
        )
        fake = torch.randn(x.shape).to(memory_format=layout).requires_grad_(x.requires_grad)
        seen.append((module, fake))

    hooks = [
        m.register_forward_pre_hook(record) for m in model.modules() if isinstance(m, WEIGHTED)
    ]
    batch = next(iter(loader))[0]
    model.compute_losses(batch, noisy=True)["loss"].backward()
    for h in hooks:
        h.remove()
    work = [(m, x, torch.randn_like(m(x))) for m, x in seen]
    sizes = [len(x) for x, _ in loader]
    start = time.perf_counter()
    for size in sizes:
        for module, x, grad in work:
            # the last batch of an epoch can be smaller: slice to its size
            module(x[:size]).backward(grad[:size])
    return time.perf_counter() - start


def bench_training(
    names: list[str], batch_sizes: list[int], repeats: int, dm: FashionMNISTDataModule
) -> list[dict]:
    rows = []
    n = len(dm.train_set)
    for name in names:
        gflop = training_gflop(build_model(make_config(name, input_shape=(1, 32, 32))), n)
        for bs in batch_sizes:
            times: dict[str, list[float]] = {"ours": [], "hand": [], "hand_fused": [], "layers": []}
            peaks = []
            for r in range(repeats):
                loader = TensorBatchLoader(dm.train_set, bs, shuffle=True, seed=r)
                times["hand"].append(hand_epoch(name, loader, r, fused=False))
                times["hand_fused"].append(hand_epoch(name, loader, r, fused=True))
                times["ours"].append(ours_epoch(name, loader, r))
                times["layers"].append(layers_alone_epoch(name, loader, r))
                peaks.append(matmul_peak_gflops())
                print(
                    f"  {name} bs={bs} repeat {r + 1}: "
                    + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()),
                    file=sys.stderr,
                    flush=True,
                )
            ratios = [h / o for h, o in zip(times["hand_fused"], times["ours"], strict=True)]
            ratios_default = [h / o for h, o in zip(times["hand"], times["ours"], strict=True)]
            ours_med = statistics.median(times["ours"])
            rows.append({
                "model": name, "batch": bs, "n": n, "gflop": gflop, "peak": statistics.median(peaks),
                "ours_min": min(times["ours"]), "ours_med": ours_med,
                "hand_med": statistics.median(times["hand"]), "hand_fused_med": statistics.median(times["hand_fused"]),
                "ratio_fused": statistics.median(ratios), "ratio_default": statistics.median(ratios_default),
                "achieved": gflop / ours_med,
                "hand_fused_achieved": gflop / statistics.median(times["hand_fused"]),
                "layers_achieved": gflop / statistics.median(times["layers"]),
            })  # fmt: skip
    return rows


def bench_evaluation(dm: FashionMNISTDataModule) -> dict[str, float]:
    from autoencoders.codecs import ModelCodec
    from autoencoders.evaluation import cluster_scores, linear_probe, project_2d

    torch.manual_seed(0)
    model = build_model(make_config("deep", input_shape=(1, 32, 32)))
    x_test, y_test = dm.full_arrays("test")
    x_train, y_train = dm.full_arrays("train")
    codec = ModelCodec(model)
    out = {}
    start = time.perf_counter()
    z_test = codec.encode(x_test.numpy())
    z_train = codec.encode(x_train[:5000].numpy())
    out["encode 15,000 images"] = time.perf_counter() - start
    out["linear probe (550 labels)"] = _timed(
        lambda: linear_probe(z_train, y_train[:5000].numpy(), z_test, y_test.numpy())
    )
    out["k-means (10,000 codes)"] = _timed(
        lambda: cluster_scores(z_test, y_test.numpy(), methods=("kmeans",))
    )
    out["UMAP (5,000-code sample)"] = _timed(lambda: project_2d(z_test, "umap", max_samples=5000))
    return out


def markdown(rows: list[dict], evaluation: dict[str, float], command: str) -> str:
    lines = [
        "# Training speed",
        "",
        f"- command: `{command}`",
        f"- date: {date.today().isoformat()}",
        f"- machine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, Python {platform.python_version()}",
        "- one epoch of 55,000 Fashion-MNIST images (32x32), validation off, medians of the repeats;",
        "  ratios are taken per repeat (same model, same batches, back to back) and then the median.",
        "",
        "| model | batch | ours (s) | hand-written, fused Adam (s) | hand-written, default Adam (s) "
        "| ours / hand fused | ours / hand default | GFLOP/s achieved | matmul peak | % of peak "
        "| hand fused, % of peak | weighted layers alone, % of peak |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['ours_med']:.2f} | {r['hand_fused_med']:.2f} | {r['hand_med']:.2f} "
            f"| {r['ratio_fused']:.3f} | {r['ratio_default']:.3f} | {r['achieved']:.0f} | {r['peak']:.0f} "
            f"| {100 * r['achieved'] / r['peak']:.0f}% | {100 * r['hand_fused_achieved'] / r['peak']:.0f}% "
            f"| {100 * r['layers_achieved'] / r['peak']:.0f}% |"
        )
    lines += [
        "",
        "'ours / hand' is hand-written time divided by ours: above 1 means ours is faster.",
        "Training FLOPs count 2 per multiply-add in the forward pass and twice that backward",
        "(the usual model-FLOPs convention: the first layer's input gradient, which no one",
        "computes, is counted too). 'Weighted layers alone' runs only the Linear and Conv",
        "layers' forward and backward passes at the step's shapes: no loop can beat it.",
        "",
        "## Evaluation pipeline (10,000 test images)",
        "",
        "| step | seconds |",
        "|---|---:|",
        *[f"| {k} | {v:.2f} |" for k, v in evaluation.items()],
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["deep", "conv", "vae"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[32, 256])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None, help="also write the markdown table here")
    parser.add_argument(
        "--no-eval", action="store_true", help="skip the evaluation-pipeline timing"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dm = FashionMNISTDataModule(batch_size=256)
    dm.setup("fit")
    dm.setup("test")
    names = [m for m in args.models if m in VARIANTS]
    rows = bench_training(names, args.batch_sizes, args.repeats, dm)
    evaluation = {} if args.no_eval else bench_evaluation(dm)
    text = markdown(
        rows, evaluation, "python benchmarks/train_speed.py " + " ".join(argv or sys.argv[1:])
    )
    print(text)
    if args.out:
        from autoencoders.files import atomic_write

        atomic_write(args.out, lambda f: f.write(text.encode()))
    np.set_printoptions()
    return 0


if __name__ == "__main__":
    sys.exit(main())
