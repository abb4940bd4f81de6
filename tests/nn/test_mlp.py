"""The linear and MLP encoders/decoders and their shrinking widths."""

import itertools

import pytest
import torch

from autoencoders.nn import (
    LinearDecoder,
    LinearEncoder,
    MLPDecoder,
    MLPEncoder,
)
from autoencoders.shapes import shrinking_widths


def test_widths_shrink_geometrically():
    widths = shrinking_widths(1024, 20, 3)
    assert widths[0] == 1024 and widths[-1] == 20 and len(widths) == 4
    ratios = [a / b for a, b in itertools.pairwise(widths)]
    assert max(ratios) / min(ratios) < 1.05


@pytest.mark.parametrize(
    ("features", "latent", "layers", "message"),
    [
        (64, 64, 2, "not smaller than the 64 input features"),
        (64, 20, 0, "num_layers must be at least 1"),
        (24, 20, 5, "too deep"),
    ],
)
def test_widths_refuse_nets_that_cannot_shrink(features, latent, layers, message):
    with pytest.raises(ValueError, match=message):
        shrinking_widths(features, latent, layers)


def test_mlp_encoder_decoder_shapes_and_range():
    enc = MLPEncoder((1, 32, 32), 3, 20)
    dec = MLPDecoder(20, 3, (1, 32, 32))
    x = torch.rand(5, 1, 32, 32)
    h = enc(x)
    assert h.shape == (5, 20)
    out = dec(h)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert torch.allclose(torch.sigmoid(dec.decode_logits(h)), out)


def test_identity_decoder_outputs_unbounded_values():
    dec = LinearDecoder(3, (4,), output_activation="identity")
    assert torch.equal(dec(torch.ones(2, 3)), dec.decode_logits(torch.ones(2, 3)))
    with pytest.raises(ValueError, match="output_activation must be one of"):
        LinearDecoder(3, (4,), output_activation="tanh")


def test_bad_input_shape_is_named():
    with pytest.raises(ValueError, match="input_shape must be a non-empty shape"):
        LinearEncoder((1, 0, 8), 4)
