"""``autoencoders evaluate``: a checkpoint's metrics beside PCA's of the same code size."""

from __future__ import annotations

import argparse

from autoencoders.cli.common import (
    StageProgress,
    add_checkpoint_data_options,
    add_out_options,
    at_least,
    check_out,
    datamodule_for,
)

HELP = "score a checkpoint beside PCA on a data set's test split"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_data_options(
        parser, "test", "rows the metrics are taken on (the probe trains on the train split)"
    )
    parser.add_argument(
        "--n-labels", type=int, default=550, help="labelled codes for the linear probe"
    )
    add_out_options(parser, "also write the metrics as JSON here")


def run(args: argparse.Namespace) -> int:
    """Prints the model's and PCA's metrics (and writes them to ``--out``); returns 0."""
    from autoencoders.checkpoint import load
    from autoencoders.codecs import ModelCodec, PCACodec
    from autoencoders.evaluation.suite import (
        EvalData,
        evaluate_codec,
        evaluation_stages,
        metrics_for_samples,
    )

    at_least(args.n_labels, 1, "--n-labels")
    if args.out is not None:
        check_out(args.out, args.overwrite, example="metrics.json")
    model = load(args.checkpoint)
    dm = datamodule_for(args, model)
    data = EvalData.from_datamodule(dm, split=args.split)
    image = len(dm.sample_shape) == 3
    pca_name = f"PCA-{model.latent_dim}"
    # the model and PCA go through the same stages, and PCA is fitted first
    progress = StageProgress("evaluate", 2 * evaluation_stages(data) + 1)
    try:
        ours = metrics_for_samples(
            evaluate_codec(
                ModelCodec(model),
                data,
                n_labels=args.n_labels,
                progress=progress.prefixed("model"),
            ),
            image,
        )
        progress(f"{pca_name}: fitting on {len(data.x_train):,} training samples")
        pca_codec = PCACodec(model.latent_dim).fit(data.x_train)
        pca = metrics_for_samples(
            evaluate_codec(
                pca_codec, data, n_labels=args.n_labels, progress=progress.prefixed(pca_name)
            ),
            image,
        )
    finally:
        progress.close()
    _print_table(ours, pca, model.latent_dim)
    if args.out:
        from autoencoders.files import write_json

        write_json(args.out, {"model": ours, "pca": pca, "checkpoint": str(args.checkpoint)})
    return 0


def _print_table(ours: dict, pca: dict, latent_dim: int) -> None:
    """The metrics side by side on stdout, and the note a metric set may carry."""
    keys = [k for k in ours if isinstance(ours[k], float)]
    width = max(len(k) for k in keys)
    print(f"{'metric':<{width}}  {'model':>10}  {'PCA-' + str(latent_dim):>10}")
    for k in keys:
        print(f"{k:<{width}}  {ours[k]:>10.4f}  {pca[k]:>10.4f}")
    if "note" in ours:
        print(f"note: {ours['note']}")
