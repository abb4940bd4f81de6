"""Property tests: whatever a config file or a caller hands in, the only refusal is a UserError.

Random values of random types go into every field of every model config, every
run setting and every estimator parameter. A value is either accepted (and the
config stays JSON data that reads back the same) or refused with a one-line
:class:`~autoencoders.errors.UserError`; any other exception fails the test.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from autoencoders import AutoencoderTransformer
from autoencoders.config import config_from_dict, config_to_dict
from autoencoders.errors import UserError
from autoencoders.models import VARIANTS, make_config
from autoencoders.run_config import TrainConfig

SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
}

#: strings a field might accept, so that accepted values are drawn too
KNOWN_STRINGS = (
    "mlp",
    "linear",
    "conv",
    "conv1d",
    "lstm",
    "bce",
    "mse",
    "rmse",
    "sigmoid",
    "identity",
    "gaussian",
    "masking",
    "kld",
    "l1",
    "cpu",
    "auto",
    "image",
    "signal",
    "16-mixed",
    "ddp",
    "deep",
    "vae",
    "minmax",
    "none",
)

ints = st.one_of(
    st.integers(min_value=-3, max_value=70),
    st.integers(),
    st.sampled_from([2**31, 2**32, 2**63 - 1, 2**63, -(2**63) - 1, 2**80]),
)
floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-2.0, max_value=2.0),
    st.sampled_from([0.0, -0.0, 1.0, 1e-300, 1e300, float("nan"), float("inf")]),
)
strings = st.one_of(st.text(max_size=12), st.sampled_from(KNOWN_STRINGS))
scalars = st.one_of(st.none(), st.booleans(), ints, floats, strings)
values = st.one_of(
    scalars,
    st.lists(ints, max_size=4),
    st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=3),
    st.lists(scalars, max_size=3),
    st.tuples(ints, ints),
    st.dictionaries(st.text(max_size=4), scalars, max_size=2),
)

MODEL_FIELDS = [
    (name, f.name) for name, var in VARIANTS.items() for f in dataclasses.fields(var.config_cls)
]
#: input shapes the data could give (None: not given, the default stays a placeholder)
SHAPES = [None, (1, 8, 8), (1, 32, 32), (3, 16, 16), (1, 64), (2, 32), (16,), (1,)]


def _refusal_is_one_line(err: UserError) -> None:
    assert str(err) and "\n" not in str(err), repr(str(err))
    event(f"refused: {type(err).__name__}")


@settings(max_examples=100, **SETTINGS)
@given(st.sampled_from(MODEL_FIELDS), values, st.sampled_from(SHAPES))
def test_any_model_option_is_accepted_or_refused_cleanly(model_field, value, shape):
    name, field_name = model_field
    options = {field_name: value}
    if shape is not None and field_name != "input_shape":
        options["input_shape"] = shape
    try:
        cfg = make_config(name, **options)
    except UserError as err:
        _refusal_is_one_line(err)
        return
    event("accepted")
    # accepted: still JSON data, which reads back as the same config (the stored form
    # holds what the config resolves from the shape, such as a conv net's depth)
    data = json.loads(json.dumps(config_to_dict(cfg)))
    assert config_to_dict(config_from_dict(data, type(cfg))) == data
    cfg.validate()


@settings(max_examples=100, **SETTINGS)
@given(st.sampled_from([f.name for f in dataclasses.fields(TrainConfig)]), values)
def test_any_run_setting_is_accepted_or_refused_cleanly(field_name, value):
    cfg = TrainConfig(**{field_name: value})
    try:
        cfg.validate()
    except UserError as err:
        _refusal_is_one_line(err)
        return
    event("accepted")
    json.dumps(dataclasses.asdict(cfg))


ESTIMATOR_VALUES = {
    "model": st.one_of(st.sampled_from(list(VARIANTS)), values),
    "latent_dim": st.one_of(st.integers(min_value=-2, max_value=20), values),
    "epochs": values,
    "batch_size": st.one_of(st.integers(min_value=-1, max_value=10**12), values),
    "lr": st.one_of(st.floats(min_value=1e-6, max_value=10.0), values),
    "input_shape": st.one_of(st.sampled_from([(16,), (1, 4, 4), (4, 4), (2, 8), (1, 16)]), values),
    "scale": values,
    "model_options": st.one_of(
        values,
        st.dictionaries(
            st.sampled_from(
                [
                    "num_layers",
                    "noise_ratio",
                    "beta",
                    "recon_loss",
                    "output_activation",
                    "architecture",
                    "weight_decay",
                    "latent_dim",
                    "no_such_option",
                ]
            ),
            values,
            max_size=2,
        ),
    ),
    "random_state": values,
    "accelerator": values,
    "verbose": values,
}


@settings(max_examples=25, **SETTINGS)
@given(st.data())
def test_any_estimator_parameter_is_accepted_or_refused_cleanly(data):
    param = data.draw(st.sampled_from(sorted(ESTIMATOR_VALUES)), label="param")
    value = data.draw(ESTIMATOR_VALUES[param], label="value")
    # A valid but long training is no validation question, only a slow test.
    assume(not (param == "epochs" and (value is None or (isinstance(value, int) and value > 2))))
    # Devices this machine may lack are checked by the trainer, not by the options' rules.
    assume(not (param == "accelerator" and value in ("gpu", "cuda", "mps")))
    X = np.random.default_rng(0).random((8, 16))
    params = {"model": "deep", "latent_dim": 2, "epochs": 1, "batch_size": 4, param: value}
    try:
        est = AutoencoderTransformer(**params).fit(X)
    except UserError as err:
        _refusal_is_one_line(err)
        return
    event(f"accepted: {param}")
    assert est.transform(X).shape == (8, est.n_components_)
