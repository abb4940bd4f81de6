"""Every option is checked before any work: one rule per row, one line per message."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from autoencoders import AutoencoderTransformer
from autoencoders.config import MAX_LATENT_DIM, DeepConfig, config_from_dict
from autoencoders.errors import ConfigError
from autoencoders.models import VARIANTS, make_config
from autoencoders.models.parts import make_bottleneck
from autoencoders.options import option_constraint
from autoencoders.run_config import TrainConfig, validate_train

NAN, INF = float("nan"), float("inf")
HUGE = 2**70

# (model, options, fragments the message must hold); the first fragment is the flag
MODEL_RULES = [
    ("deep", {"latent_dim": 0}, ["--latent-dim", ">= 1", "got 0"]),
    ("deep", {"latent_dim": -3}, ["--latent-dim", ">= 1", "got -3"]),
    ("deep", {"latent_dim": 2.0}, ["--latent-dim", "an integer", "got 2.0"]),
    ("deep", {"latent_dim": "8"}, ["--latent-dim", "an integer", "got '8'"]),
    ("deep", {"latent_dim": True}, ["--latent-dim", "an integer", "got True"]),
    ("deep", {"latent_dim": HUGE}, ["--latent-dim", "64 bits"]),
    ("deep", {"latent_dim": 100_000}, ["--latent-dim", f"[1, {MAX_LATENT_DIM}]", "covariance"]),
    ("simple", {"input_shape": (1, 8, 8), "latent_dim": 257}, ["--latent-dim", "[1, 256]", "4x"]),
    ("deep", {"input_shape": (1, 8, 8), "latent_dim": 64}, ["--latent-dim", "[1, 63]", "mlp"]),
    ("vae", {"input_shape": (1, 8, 8), "latent_dim": 32}, ["--latent-dim", "[1, 31]", "2 x"]),
    ("deep", {"num_layers": 0}, ["--num-layers", ">= 1"]),
    (
        "deep",
        {"input_shape": (1, 8, 8), "latent_dim": 8, "num_layers": 40},
        ["--num-layers", "[1, "],
    ),
    ("conv", {"channels": (32, 0)}, ["--channels", "each in [1, "]),
    ("conv", {"channels": 32}, ["--channels", "list of integers", "got 32"]),
    ("conv", {"input_shape": (1, 28, 28)}, ["--channels", "(1, 28, 28)", "pad_to=32"]),
    ("conv", {"input_shape": (64,)}, ["--architecture", "(C, H, W)"]),
    ("sequence", {"architecture": "lstm", "input_shape": (1, 2, 3)}, ["--architecture", "(C, L)"]),
    ("deep", {"input_shape": (1, 0, 8)}, ["input_shape", "each >= 1"]),
    ("deep", {"input_shape": ()}, ["input_shape", "non-empty list"]),
    ("deep", {"lr": 0.0}, ["--lr", "> 0", "got 0.0"]),
    ("deep", {"lr": NAN}, ["--lr", "finite", "got nan"]),
    ("deep", {"lr": INF}, ["--lr", "finite", "got inf"]),
    ("deep", {"lr": "fast"}, ["--lr", "> 0", "got 'fast'"]),
    ("deep", {"weight_decay": -1e-4}, ["--weight-decay", ">= 0"]),
    ("deep", {"noise_ratio": -0.5}, ["--noise-ratio", "[0, 1]", "got -0.5"]),
    ("deep", {"noise_ratio": 1.5}, ["--noise-ratio", "[0, 1]", "got 1.5"]),
    ("deep", {"noise_ratio": NAN}, ["--noise-ratio", "[0, 1]", "got nan"]),
    ("denoising", {"noise_ratio": None}, ["--noise-ratio", "[0, 1]", "got None"]),
    ("sequence", {"noise_ratio": 2.0}, ["noise_ratio", "[0, 1]"]),
    ("deep", {"recon_loss": "huber"}, ["--recon-loss", "(bce, mse, rmse)", "'huber'"]),
    ("deep", {"output_activation": "tanh"}, ["--output-activation", "(sigmoid, identity)"]),
    ("deep", {"output_activation": "identity"}, ["--recon-loss", "--output-activation sigmoid"]),
    ("deep", {"noise": "blur"}, ["--noise", "(salt_pepper, gaussian, masking)"]),
    ("deep", {"architecture": "resnet"}, ["--architecture", "linear, mlp, conv, conv1d, lstm"]),
    ("deep", {"architecture": 3}, ["--architecture", "one of", "got 3"]),
    ("sparse", {"sparse_loss": "l2"}, ["--sparse-loss", "(kld, log, l1)"]),
    ("sparse", {"sparsity": 0.0}, ["--sparsity", "(0, 1)"]),
    ("sparse", {"sparsity": 1.0}, ["--sparsity", "(0, 1)"]),
    ("sparse", {"sparse_weight": -1.0}, ["--sparse-weight", ">= 0"]),
    ("vae", {"beta": -0.1}, ["--beta", ">= 0"]),
    ("vae", {"beta": INF}, ["--beta", "finite"]),
    ("vae", {"kl_warmup_steps": -1}, ["--kl-warmup-steps", ">= 0"]),
    ("vq", {"num_codes": 1}, ["--num-codes", "[2, "]),
    ("vq", {"code_dim": 0}, ["--code-dim", ">= 1"]),
    ("vq", {"latent_dim": 30}, ["--latent-dim", "multiple of code_dim", "--code-dim 4"]),
    ("vq", {"commitment": -1.0}, ["--commitment", ">= 0"]),
    ("vq", {"decay": 1.0}, ["--decay", "(0, 1)"]),
    ("vq", {"dead_after": -1}, ["--dead-after", ">= 0"]),
    ("vq", {"ema": "yes"}, ["--ema", "true or false", "'yes'"]),
    ("vq", {"ema": 1}, ["--ema", "true or false"]),
    ("contractive", {"contractive_weight": -0.1}, ["--contractive-weight", ">= 0"]),
    ("stacked", {"pretrain_epochs": -1}, ["--pretrain-epochs", ">= 0"]),
    ("stacked", {"architecture": "linear"}, ["--architecture", "use --architecture mlp"]),
    ("sequence", {"hidden_size": 0}, ["--hidden-size", "[1, "]),
]

TRAIN_RULES = [
    ({"epochs": 0}, ["--epochs", ">= 1", "got 0"]),
    ({"epochs": 1.5}, ["--epochs", "an integer"]),
    ({"batch_size": 0}, ["--batch-size", ">= 1"]),
    ({"batch_size": "64"}, ["--batch-size", "an integer", "got '64'"]),
    ({"train_size": 0}, ["--train-size", ">= 1", "or unset"]),
    ({"exclude_class": -1}, ["--exclude-class", ">= 0"]),
    ({"only_class": -1}, ["--only-class", ">= 0"]),
    ({"exclude_class": 3, "only_class": 3}, ["--exclude-class", "--only-class", "same class"]),
    ({"seed": -1}, ["--seed", "[0, 4294967295]"]),
    ({"seed": 2**32}, ["--seed", "[0, 4294967295]"]),
    ({"accelerator": "tpu"}, ["--accelerator", "(cpu, gpu, cuda, mps, auto)"]),
    ({"threads": 0}, ["--threads", ">= 1"]),
    ({"precision": "8-bit"}, ["--precision", "16-mixed", "bf16-mixed"]),
    ({"compile": "no"}, ["--compile", "true or false"]),
    ({"overwrite": 0}, ["--overwrite", "true or false"]),
    ({"steps_per_call": 0}, ["--steps-per-call", ">= 1"]),
    ({"data_kind": "audio"}, ["--data-kind", "(auto, image, signal)"]),
    ({"checkpoint_every": -5}, ["--checkpoint-every", ">= 0"]),
    ({"devices": 0}, ["--devices", ">= 1"]),
    ({"num_nodes": 0}, ["--num-nodes", ">= 1"]),
    ({"strategy": "mpi"}, ["--strategy", "ddp"]),
    ({"dataset": ""}, ["--dataset", "non-empty string"]),
    ({"output": None}, ["--output", "non-empty string"]),
    ({"data_dir": 3}, ["--data-dir", "string", "or unset"]),
]


def _assert_one_line(err: pytest.ExceptionInfo, fragments: list[str]) -> None:
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(fragments[0]) or f" {fragments[0]}" in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


@pytest.mark.parametrize(("model", "options", "fragments"), MODEL_RULES)
def test_model_option_rules(model, options, fragments):
    with pytest.raises(ConfigError) as err:
        make_config(model, **options)
    _assert_one_line(err, fragments)


@pytest.mark.parametrize(("options", "fragments"), TRAIN_RULES)
def test_train_option_rules(options, fragments):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**options).validate()
    _assert_one_line(err, fragments)
    with pytest.raises(ConfigError):
        validate_train(TrainConfig(**options))


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError, match="--noise-ratio"):
        make_config("deep", noise_ratio=-1.0)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_default_validates(name):
    cfg = VARIANTS[name].config_cls()
    cfg.validate()
    assert make_config(name) == cfg
    assert make_config(name, input_shape=cfg.input_shape) == cfg
    # encoder_features stands in for the bottleneck in the mlp rule; it must match it
    assert cfg.encoder_features() == make_bottleneck(cfg).in_features


def test_default_run_settings_validate_and_each_rule_bites():
    TrainConfig().validate()
    TrainConfig(precision="bf16-mixed", strategy="ddp", threads=2, train_size=10).validate()
    # the same fields out of their range or choices: validate() names each one
    for field, bad in [("threads", 0), ("train_size", 0), ("precision", "fp7"), ("strategy", "x")]:
        with pytest.raises(ConfigError, match="--" + field.replace("_", "-")):
            dataclasses.replace(TrainConfig(), **{field: bad}).validate()


def test_fields_of_one_name_share_one_rule():
    rules: dict[str, tuple] = {}
    for var in VARIANTS.values():
        for f in dataclasses.fields(var.config_cls):
            rule = (f.metadata.get("range"), f.metadata.get("choices"), f.type)
            assert rules.setdefault(f.name, rule) == rule, f"{f.name} differs in {var.config_cls}"


def test_shape_rules_wait_for_the_real_input_shape():
    # Without input_shape the default is a placeholder: a code wider than it is fine...
    cfg = make_config("sequence", latent_dim=300)
    assert cfg.latent_dim == 300
    # ...until the data's shape arrives, which is when the size rule applies.
    with pytest.raises(ConfigError, match=r"--latent-dim must be in \[1, 256\]"):
        dataclasses.replace(cfg).validate()
    make_config("sequence", latent_dim=300, input_shape=(1, 1024))
    # The absolute bound holds either way.
    with pytest.raises(ConfigError, match=rf"\[1, {MAX_LATENT_DIM}\]"):
        make_config("sequence", latent_dim=MAX_LATENT_DIM + 1)


def test_overcomplete_codes_are_allowed_up_to_four_times_the_input():
    assert make_config("simple", input_shape=(1, 8, 8), latent_dim=256).latent_dim == 256
    assert make_config("sparse", input_shape=(1, 8, 8), architecture="linear", latent_dim=200)


def test_accepted_values_are_normalised():
    cfg = make_config("vae", latent_dim=np.int64(4), beta=2, channels=[8, 16], lr=np.float32(0.5))
    assert type(cfg.latent_dim) is int and type(cfg.beta) is float
    assert cfg.channels == (8, 16) and type(cfg.lr) is float


def test_python_names_instead_of_flags():
    with pytest.raises(ConfigError, match=r"^noise_ratio must be a number in \[0, 1\]"):
        config_from_dict({"noise_ratio": 2.0}, DeepConfig, flags=False)
    with pytest.raises(ConfigError, match=r"^batch_size must be"):
        TrainConfig(batch_size=0).validate(flags=False)


def test_unknown_keys_are_config_errors():
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \[1, 'depth'\]"):
        config_from_dict({"depth": 3, 1: 2}, DeepConfig)


def test_constraints_read_for_help():
    fields = {f.name: f for f in dataclasses.fields(VARIANTS["vq"].config_cls)}
    assert option_constraint(fields["noise_ratio"]) == "in [0, 1]"
    assert option_constraint(fields["decay"]) == "in (0, 1)"
    assert option_constraint(fields["lr"]) == "> 0"
    assert option_constraint(fields["recon_loss"]) == "one of (bce, mse, rmse)"
    assert option_constraint(fields["ema"]) == ""


# ---------------------------------------------------------------- estimator
ESTIMATOR_RULES = [
    ({"model": "resnet"}, r"unknown model 'resnet'.*deep"),
    ({"model": ["deep"]}, r"unknown model \['deep'\]"),
    ({"latent_dim": 0}, r"^latent_dim must be an integer >= 1, got 0"),
    ({"latent_dim": 4.5}, r"^latent_dim must be an integer"),
    ({"latent_dim": 16}, r"^latent_dim must be in \[1, 15\] for architecture mlp on 16 input"),
    ({"lr": -1.0}, r"^lr must be a finite number > 0"),
    ({"batch_size": 0}, r"^batch_size must be an integer >= 1"),
    ({"batch_size": 8.0}, r"^batch_size must be an integer >= 1"),
    ({"epochs": 1.0}, r"^epochs must be an integer >= 0"),
    ({"accelerator": "tpu"}, r"^accelerator must be one of \(cpu, gpu, cuda, mps, auto\)"),
    ({"random_state": -1}, r"^random_state must be an integer in \[0, 4294967295\]"),
    ({"random_state": "seed"}, r"^random_state must be None, an integer"),
    ({"verbose": "loud"}, r"^verbose must be true, false or an integer >= 0"),
    ({"scale": ["minmax"]}, r"^scale must be one of"),
    ({"input_shape": 16}, r"^input_shape must be a non-empty list of integers"),
    ({"input_shape": (4, 0)}, r"^input_shape must be a non-empty list of integers, each >= 1"),
    ({"model_options": [("beta", 2.0)]}, r"^model_options must be a dict"),
    ({"model": "vae", "model_options": {"beta": -1.0}}, r"^beta must be a finite number >= 0"),
    ({"model_options": {"num_layers": 0}}, r"^num_layers must be an integer >= 1"),
]


@pytest.mark.parametrize(("params", "message"), ESTIMATOR_RULES)
def test_estimator_parameters_are_refused_at_fit(params, message):
    X = np.random.default_rng(0).random((8, 16))
    est = AutoencoderTransformer(**{"latent_dim": 4, "epochs": 1, **params})  # no checks yet
    with pytest.raises(ConfigError, match=message) as err:
        est.fit(X)
    assert "\n" not in str(err.value)


def test_estimator_takes_numpy_scalars_and_shapes():
    X = np.random.default_rng(0).random((8, 16))
    est = AutoencoderTransformer(
        "simple",
        latent_dim=np.int64(3),
        epochs=0,
        batch_size=np.int32(4),
        input_shape=np.array([1, 4, 4]),
        random_state=np.int64(1),
    ).fit(X)
    assert est.transform(X).shape == (8, 3) and est.input_shape_ == (1, 4, 4)


def test_every_choice_name_has_its_implementation():
    """choices.py spells the names; each must reach working code, and no code name is missing."""
    import torch

    from autoencoders import choices
    from autoencoders.losses import reconstruction_loss
    from autoencoders.models.architectures import ARCHITECTURES
    from autoencoders.nn.bottlenecks import SparseBottleneck
    from autoencoders.nn.noise import corrupt

    assert tuple(ARCHITECTURES) == choices.ARCHITECTURES
    x = torch.rand(4, 6)
    for kind in choices.RECON_LOSSES:
        assert torch.isfinite(reconstruction_loss(torch.randn(4, 6), x, kind))
    for kind in choices.NOISE_KINDS:
        assert corrupt(x, kind, 0.5, torch.Generator().manual_seed(0)).shape == x.shape
    for kind in choices.SPARSE_LOSSES:
        _, penalty = SparseBottleneck(3, kind, 0.05, 1.0)(torch.randn(4, 3))
        assert torch.isfinite(penalty)


def test_a_config_refuses_another_variants_name():
    with pytest.raises(ConfigError, match="DeepConfig describes model 'deep', got model 'vae'"):
        DeepConfig(model="vae").validate()
