"""The ``autoencoders`` command line.

Sub-commands register themselves in ``COMMANDS`` below; each is a pair of
functions: one adds its arguments to a parser, one runs it and returns an exit
code. Model options are generated from the config dataclasses, so a new field in
a config is a new flag with no CLI code.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from autoencoders import explore
from autoencoders.config import ModelConfig, TrainConfig
from autoencoders.errors import ConfigError, TrainingStopped, UserError

log = logging.getLogger(__name__)


class UsageError(ConfigError):
    """A mistake in the command line or config file; printed without a traceback."""


# --------------------------------------------------------------- option tables
def _field_type(f: dataclasses.Field) -> tuple[Callable[[str], Any] | None, str | None]:
    """(argparse type, nargs) for a config field, read from its default value."""
    default = f.default
    if isinstance(default, bool):
        return None, None
    if isinstance(default, tuple):
        return (type(default[0]) if default else int), "+"
    if default is None:
        # an optional field: its annotation ("int | None", "str | None") names the type
        return (int if str(f.type).startswith("int") else str), None
    return type(default), None


def model_fields() -> dict[str, tuple[dataclasses.Field, list[str]]]:
    """Every command-line model option across all variants, with the models that use it."""
    from autoencoders.models import VARIANTS

    found: dict[str, tuple[dataclasses.Field, list[str]]] = {}
    for name, var in VARIANTS.items():
        for f in dataclasses.fields(var.config_cls):
            if not f.metadata.get("cli", True):
                continue
            found.setdefault(f.name, (f, []))[1].append(name)
    return found


def _add_dataclass_options(
    parser: argparse.ArgumentParser, fields: Sequence[tuple[dataclasses.Field, str]]
) -> None:
    for f, extra in fields:
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata.get('help', '')}{extra}"
        if isinstance(f.default, bool):
            parser.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=f"{help_text} (default: {f.default})",
            )
            continue
        arg_type, nargs = _field_type(f)
        parser.add_argument(
            flag,
            type=arg_type,
            nargs=nargs,
            default=argparse.SUPPRESS,
            metavar=f.name.upper(),
            help=f"{help_text} (default: {f.default})",
        )


def add_train_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``train`` (also used by commands that train, like ``bakeoff``)."""
    from autoencoders.models import VARIANTS

    parser.add_argument(
        "--model",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help=f"model variant, one of: {', '.join(VARIANTS)} (default: deep)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="YAML or JSON file of option values (keys as the long options, with _ for -); "
        "command-line options override it",
    )
    train = parser.add_argument_group("run options")
    _add_dataclass_options(train, [(f, "") for f in dataclasses.fields(TrainConfig)])
    model = parser.add_argument_group("model options")
    n_models = len(VARIANTS)
    _add_dataclass_options(
        model,
        [
            (f, "" if len(users) == n_models else f" [models: {', '.join(users)}]")
            for f, users in model_fields().values()
        ],
    )


def read_config_file(path: Path | None) -> dict[str, Any]:
    """Option values from a YAML or JSON file (empty without a file)."""
    if path is None:
        return {}
    if not path.is_file():
        raise UsageError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as err:
        raise UsageError(f"cannot parse config file {path}: {err}") from err
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must hold a mapping of option: value")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def resolve_options(args: argparse.Namespace) -> tuple[TrainConfig, ModelConfig]:
    """Merges defaults, the config file and command-line flags into the two configs.

    With ``--resume``, the model's config comes from the run being resumed and
    its run settings from that run's ``run.json``; flags may change run settings
    (``--epochs`` to train longer, ``--threads``, ...) but not the model.

    Raises:
        UsageError: for an unknown model, an unknown key, or an option the chosen
            model does not have.
    """
    from autoencoders.models import VARIANTS

    given = read_config_file(getattr(args, "config", None))
    given.update({k: v for k, v in vars(args).items() if k not in ("command", "config", "func")})
    train_names = {f.name for f in dataclasses.fields(TrainConfig)}
    if given.get("resume"):
        return _resumed_options(given, train_names)
    model_name = str(given.pop("model", "deep"))
    if model_name not in VARIANTS:
        raise UsageError(f"unknown model {model_name!r}; choose one of: {', '.join(VARIANTS)}")
    train_values = {k: v for k, v in given.items() if k in train_names}
    model_values = {k: v for k, v in given.items() if k not in train_names}
    config_cls = VARIANTS[model_name].config_cls
    model_names = {f.name for f in dataclasses.fields(config_cls) if f.metadata.get("cli", True)}
    wrong = sorted(set(model_values) - model_names)
    if wrong:
        flags = ", ".join("--" + w.replace("_", "-") for w in wrong)
        raise UsageError(
            f"option(s) {flags} do not apply to model {model_name!r}; "
            "see `autoencoders train --help` for which models use which options"
        )
    defaults = config_cls()
    for k, v in list(model_values.items()):
        if isinstance(getattr(defaults, k), tuple) and isinstance(v, (list, tuple)):
            model_values[k] = tuple(v)
    return TrainConfig(**train_values), dataclasses.replace(defaults, **model_values)


def _resumed_options(
    given: dict[str, Any], train_names: set[str]
) -> tuple[TrainConfig, ModelConfig]:
    from autoencoders.checkpoint import read_checkpoint
    from autoencoders.models import make_config
    from autoencoders.runs import checkpoint_in

    model_flags = sorted(k for k in given if k not in train_names)
    if model_flags:
        flags = ", ".join("--" + k.replace("_", "-") for k in model_flags)
        raise UsageError(
            f"{flags}: a resumed run keeps its model's options; leave them out, or start a new run"
        )
    run_dir, ckpt = checkpoint_in(given["resume"])
    stored_run = run_dir / "run.json"
    run_values: dict[str, Any] = {}
    if stored_run.is_file():
        try:
            run_values = json.loads(stored_run.read_text())
        except ValueError as err:
            raise UsageError(f"{stored_run} is not valid JSON ({err}); fix or remove it") from None
    run_values = {k: v for k, v in run_values.items() if k in train_names}
    run_values.update(given, overwrite=False)
    config = read_checkpoint(ckpt).get("autoencoder_config")
    if not isinstance(config, dict):
        raise UsageError(f"{ckpt} holds no model config, so it cannot be resumed from the CLI")
    config = dict(config)
    return TrainConfig(**run_values), make_config(str(config.pop("model")), **config)


# ------------------------------------------------------------------- commands
def _train_parser(parser: argparse.ArgumentParser) -> None:
    add_train_options(parser)


def _train(args: argparse.Namespace) -> int:
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    from autoencoders.runs import train_run

    run_cfg, model_cfg = resolve_options(args)
    result = train_run(run_cfg, model_cfg)
    if rank_zero_only.rank == 0:  # one summary, not one per process
        print(result.summary())
    return 0


def _list_models_parser(parser: argparse.ArgumentParser) -> None:
    pass


def _list_models(args: argparse.Namespace) -> int:
    from autoencoders.models import VARIANTS

    width = max(len(n) for n in VARIANTS)
    for name, var in VARIANTS.items():
        print(f"{name:<{width}}  {var.description}")
    return 0


def _list_datasets_parser(parser: argparse.ArgumentParser) -> None:
    pass


def _list_datasets(args: argparse.Namespace) -> int:
    from autoencoders.data import DATASETS

    width = max(len(n) for n in DATASETS)
    for name, info in DATASETS.items():
        print(f"{name:<{width}}  {info.description}")
    print("\nor a path: a folder of IDX files, .npy/.npz, .csv/.parquet, or a folder of images")
    return 0


def _bakeoff_parser(parser: argparse.ArgumentParser) -> None:
    from autoencoders.bakeoff import BakeoffConfig

    d = BakeoffConfig()
    parser.add_argument(
        "--dataset", default=d.dataset, help=f"data set name or path (default: {d.dataset})"
    )
    parser.add_argument("--data-dir", default=None, help="folder holding or receiving data files")
    parser.add_argument(
        "--models", nargs="+", default=list(d.models), metavar="NAME",
        help="models to compare, or 'all' (default: %(default)s); PCA is always included",
    )  # fmt: skip
    for name in (
        "epochs",
        "latent_dim",
        "batch_size",
        "seed",
        "n_labels",
        "anomaly_class",
        "anomaly_latent_dim",
    ):
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=getattr(d, name),
            help=f"(default: {getattr(d, name)})",
        )
    parser.add_argument(
        "--lr", type=float, default=d.lr, help=f"Adam learning rate (default: {d.lr})"
    )
    parser.add_argument(
        "--anomaly-epochs",
        type=int,
        default=None,
        help="epochs of the anomaly models (default: --epochs)",
    )
    parser.add_argument(
        "--one-class",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the one-class anomaly protocol (10 small models per model)",
    )
    parser.add_argument(
        "--out", default=d.out, help=f"output folder; an existing one is resumed (default: {d.out})"
    )


def _bakeoff(args: argparse.Namespace) -> int:
    from autoencoders.bakeoff import Bakeoff, BakeoffConfig
    from autoencoders.models import VARIANTS

    names = [n for item in args.models for n in item.split(",") if n]
    models = tuple(VARIANTS) if "all" in names else tuple(names)
    values = {k: v for k, v in vars(args).items() if k not in ("command", "func", "models")}
    bakeoff = Bakeoff(BakeoffConfig(models=models, **values))
    results = bakeoff.run()
    failed = [
        n
        for n, e in results["models"].items()
        if any(s.get("status") == "failed" for s in e.values())
    ]
    print(f"report: {Path(args.out) / 'report.md'}  and  {Path(args.out) / 'report.html'}")
    if failed:
        print(f"failed: {', '.join(failed)} (see the report)")
    return 1 if failed else 0


def _checkpoint_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint", type=Path, help="a .ckpt file written by `autoencoders train`"
    )
    parser.add_argument(
        "--dataset", default="digits", help="data set name or path (default: digits)"
    )
    parser.add_argument("--data-dir", default=None, help="folder holding or receiving data files")


def _datamodule_for(args: argparse.Namespace, model: Any):
    """The data set named on the command line, checked against ``model``'s input shape."""
    from autoencoders.errors import CheckpointError
    from autoencoders.runs import make_datamodule

    config = getattr(model, "config", None) or {}
    dm = make_datamodule(
        TrainConfig(dataset=args.dataset, data_dir=args.data_dir), model=config.get("model")
    )
    dm.setup()
    expected = tuple(config.get("input_shape") or getattr(model.decoder, "output_shape", ()))
    if expected and tuple(dm.sample_shape) != expected:
        raise CheckpointError(
            f"{args.checkpoint} takes samples of shape {expected} but {args.dataset} has "
            f"{tuple(dm.sample_shape)}: pass the --dataset the model was trained on"
        )
    return dm


def _positive(value: int, flag: str) -> int:
    if value < 1:
        raise UsageError(f"{flag} must be at least 1, got {value}")
    return value


def _evaluate_parser(parser: argparse.ArgumentParser) -> None:
    _checkpoint_data_options(parser)
    parser.add_argument(
        "--n-labels", type=int, default=550, help="labelled codes for the linear probe"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="also write the metrics as JSON here"
    )


def _evaluate(args: argparse.Namespace) -> int:
    from autoencoders.assess import EvalData, ModelCodec, PCACodec, evaluate_codec
    from autoencoders.checkpoint import load

    _positive(args.n_labels, "--n-labels")
    model = load(args.checkpoint)
    data = EvalData.from_datamodule(_datamodule_for(args, model))
    ours = evaluate_codec(ModelCodec(model), data, n_labels=args.n_labels)
    pca = evaluate_codec(PCACodec(model.latent_dim).fit(data.x_train), data, n_labels=args.n_labels)
    keys = [k for k in ours if isinstance(ours[k], float)]
    width = max(len(k) for k in keys)
    print(f"{'metric':<{width}}  {'model':>10}  {'PCA-' + str(model.latent_dim):>10}")
    for k in keys:
        print(f"{k:<{width}}  {ours[k]:>10.4f}  {pca[k]:>10.4f}")
    if args.out:
        from autoencoders.files import write_json

        write_json(args.out, {"model": ours, "pca": pca, "checkpoint": str(args.checkpoint)})
    return 0


def _embed_parser(parser: argparse.ArgumentParser) -> None:
    _checkpoint_data_options(parser)
    parser.add_argument("--split", choices=("train", "val", "test"), default="test")
    parser.add_argument(
        "--out", type=Path, required=True, help="codes.npy or codes.csv (labels in the last column)"
    )


def _embed(args: argparse.Namespace) -> int:
    import numpy as np

    from autoencoders.assess import ModelCodec
    from autoencoders.checkpoint import load
    from autoencoders.files import atomic_write

    suffix = args.out.suffix.lower()
    if suffix not in (".npy", ".csv"):
        raise UsageError(f"--out must end in .npy or .csv, got {args.out.name}")
    _refuse_folder(args.out)
    model = load(args.checkpoint)
    x, y = _datamodule_for(args, model).full_arrays(args.split)
    z = ModelCodec(model).encode(x.numpy())
    if suffix == ".npy":
        atomic_write(args.out, lambda f: np.save(f, z))
    elif suffix == ".csv":
        header = ",".join([f"z{i}" for i in range(z.shape[1])] + ["label"])
        table = np.column_stack([z, y.numpy()])
        atomic_write(
            args.out,
            lambda f: np.savetxt(f, table, delimiter=",", header=header, comments="", fmt="%.6g"),
        )
    else:
        raise UsageError(f"--out must end in .npy or .csv, got {args.out.name}")
    print(f"wrote {z.shape[0]} codes of size {z.shape[1]} to {args.out}")
    return 0


def _generate_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint", type=Path, help="a .ckpt file written by `autoencoders train`"
    )
    parser.add_argument("--n", type=int, default=64, help="number of samples (default: 64)")
    parser.add_argument(
        "--out", type=Path, default=Path("samples.png"), help="PNG grid of the samples"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed of the samples")
    parser.add_argument(
        "--interpolate",
        action="store_true",
        help="also write a strip (PNG) and an animation (GIF) morphing between two test images",
    )
    parser.add_argument(
        "--steps", type=int, default=10, help="images in the interpolation (default: 10)"
    )
    parser.add_argument(
        "--dataset",
        default="digits",
        help="data set of the interpolation's test images, of the model's input shape "
        "(default: digits)",
    )
    parser.add_argument("--data-dir", default=None, help="folder holding or receiving data files")


def _generate(args: argparse.Namespace) -> int:
    import torch

    from autoencoders.checkpoint import load
    from autoencoders.generation import save_interpolation, save_sample_grid

    _positive(args.n, "--n")
    if args.steps < 2:
        raise UsageError(f"--steps must be at least 2 (the two end images), got {args.steps}")
    _refuse_folder(args.out)
    model = load(args.checkpoint)
    if len(getattr(model.decoder, "output_shape", ())) != 3:
        raise UsageError("generate writes pictures, so it needs a model of images (C, H, W)")
    generator = torch.Generator().manual_seed(args.seed) if args.seed is not None else None
    path = save_sample_grid(model, args.n, args.out, generator=generator)
    print(f"wrote {args.n} samples to {path}")
    if args.interpolate:
        x, y = _datamodule_for(args, model).full_arrays("test")
        # Two test images of different classes where labels allow: a more telling morph.
        other = int(torch.nonzero(y != y[0])[0]) if bool((y != y[0]).any()) else 1
        png = args.out.with_name(args.out.stem + "-interpolation.png")
        gif = png.with_suffix(".gif")
        save_interpolation(model, x[0], x[other], png, gif, steps=args.steps)
        print(f"wrote the interpolation to {png} and {gif}")
    return 0


def _refuse_folder(path: Path) -> None:
    if path.is_dir():
        raise UsageError(f"--out {path} is a folder; give a file name, e.g. {path / 'out.png'}")


#: name -> (help, add-arguments, run)
COMMANDS: dict[
    str,
    tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]],
] = {
    "train": ("train a model and save its checkpoint", _train_parser, _train),
    "list-models": ("list the registered models", _list_models_parser, _list_models),
    "list-datasets": ("list the named data sets", _list_datasets_parser, _list_datasets),
    "evaluate": (
        "score a checkpoint beside PCA on a data set's test split",
        _evaluate_parser,
        _evaluate,
    ),
    "embed": ("write the codes of a data set's images to .npy or .csv", _embed_parser, _embed),
    "bakeoff": ("train and compare models beside PCA; write a report", _bakeoff_parser, _bakeoff),
    "generate": (
        "write samples (and optionally an interpolation) of a checkpoint",
        _generate_parser,
        _generate,
    ),
    "explore": (explore.HELP, explore.add_arguments, explore.run),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoencoders",
        description="Train, evaluate and compare autoencoders.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(command)
        command.set_defaults(func=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``autoencoders`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    func = args.func
    if not args.verbose:
        _quiet_libraries()
    del args.verbose
    try:
        return func(args)
    except TrainingStopped as err:
        _say(f"autoencoders {args.command}: {err}")
        return err.exit_code
    except UserError as err:
        _say(f"autoencoders {args.command}: error: {err}")
        return err.exit_code
    except OSError as err:
        if err.filename is None:  # not about a path the user gave: a bug, keep its traceback
            raise
        _say(f"autoencoders {args.command}: error: {err.filename}: {err.strerror or err}")
        return 2


def _quiet_libraries() -> None:
    """Keeps Lightning's banners and tips and known third-party deprecation notes off stderr."""
    import warnings

    import lightning.pytorch  # noqa: F401  (it sets its logger's level when imported)

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")


def _say(message: str) -> None:
    """One line on stderr, whatever line breaks the message holds."""
    print(" ".join(message.split()), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
