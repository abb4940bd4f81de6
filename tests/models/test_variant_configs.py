"""Defaults of the conv, contractive and VQ variants and what their configs hand to the model."""

import pytest
import torch

from autoencoders.models import build_model, make_config
from autoencoders.models.parts import loss_terms
from autoencoders.nn.bottlenecks import VectorQuantizer
from autoencoders.nn.decoders import ConvDecoder
from autoencoders.nn.encoders import ConvEncoder


def test_conv_variant_uses_the_conv_backbone():
    model = build_model(make_config("conv", input_shape=(1, 32, 32)))
    assert isinstance(model.encoder, ConvEncoder) and isinstance(model.decoder, ConvDecoder)
    assert model.encoder.channels == [32, 64, 128]


def test_conv_variant_refuses_unpadded_28x28_images():
    with pytest.raises(ValueError, match=r"\(1, 28, 28\).*pad_to=32"):
        build_model(make_config("conv", input_shape=(1, 28, 28)))


def test_contractive_variant_adds_the_jacobian_penalty():
    torch.manual_seed(0)
    cfg = make_config("contractive", input_shape=(1, 8, 8))
    [term] = [t for t in loss_terms(cfg) if t.name == "contractive"]
    assert term.weight == cfg.contractive_weight > 0
    model = build_model(cfg)
    out = model.compute_losses(torch.rand(16, 1, 8, 8), noisy=True)
    assert float(out["contractive"].detach()) > 0
    expected = out["recon"] + out["bottleneck"] + cfg.contractive_weight * out["contractive"]
    torch.testing.assert_close(out["loss"], expected)


def test_vq_variant_defaults():
    model = build_model(make_config("vq", input_shape=(1, 8, 8)))
    vq = model.bottleneck
    assert isinstance(vq, VectorQuantizer)
    assert vq.num_codes == 512 and vq.latent_dim % vq.code_dim == 0
    with pytest.raises(ValueError, match="multiple of code_dim"):
        build_model(make_config("vq", input_shape=(1, 8, 8), latent_dim=30))
