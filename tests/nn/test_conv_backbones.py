"""The 2-D and 1-D convolutional encoders/decoders and the LSTM pair."""

import pytest
import torch

from autoencoders.nn.decoders import Conv1dDecoder, ConvDecoder, LSTMDecoder
from autoencoders.nn.encoders import Conv1dEncoder, ConvEncoder, LSTMEncoder

CHANNELS = (32, 64, 128)


@pytest.mark.parametrize("shape", [(1, 32, 32), (1, 8, 8), (3, 16, 24)])
def test_conv_pair_restores_the_exact_input_shape(shape):
    torch.manual_seed(0)
    enc = ConvEncoder(shape, CHANNELS, 10)
    dec = ConvDecoder(10, CHANNELS, shape)
    x = torch.rand(4, *shape)
    h = enc(x)
    assert h.shape == (4, 10)
    out = dec(h)
    assert out.shape == x.shape
    assert out.min() >= 0 and out.max() <= 1  # sigmoid output


def test_conv_decoder_identity_output_is_unbounded_logits():
    torch.manual_seed(0)
    dec = ConvDecoder(4, [8], (1, 4, 4), output_activation="identity")
    z = 100 * torch.randn(3, 4)
    torch.testing.assert_close(dec(z), dec.decode_logits(z))


@pytest.mark.parametrize("cls", [ConvEncoder, ConvDecoder])
def test_conv_odd_shape_names_the_shape_and_the_fixes(cls):
    args = ((1, 28, 28), CHANNELS, 8) if cls is ConvEncoder else (8, CHANNELS, (1, 28, 28))
    with pytest.raises(ValueError) as err:
        cls(*args)
    message = str(err.value)
    assert "(1, 28, 28)" in message
    assert "28x28 to 32x32" in message and "pad_to=32" in message
    assert "at most 2 stride-2 layers" in message  # 28 = 4 * 7 halves twice


def test_conv1d_length_must_halve():
    with pytest.raises(ValueError, match=r"\(1, 30\).*pad"):
        Conv1dEncoder((1, 30), (8, 16), 4)


@pytest.mark.parametrize("pair", ["conv1d", "lstm"])
def test_signal_pairs_map_signals_to_codes_and_back(pair):
    torch.manual_seed(0)
    if pair == "conv1d":
        enc, dec = Conv1dEncoder((2, 64), (8, 16, 32), 5), Conv1dDecoder(5, (8, 16, 32), (2, 64))
    else:
        enc, dec = LSTMEncoder((2, 64), 16, 5), LSTMDecoder(5, 16, (2, 64))
    x = torch.randn(4, 2, 64)
    z = enc(x)
    assert z.shape == (4, 5)
    assert dec(z).shape == x.shape


def test_conv_pair_keeps_weights_channels_last_with_unchanged_results():
    torch.manual_seed(0)
    shape = (3, 16, 16)
    enc, dec = ConvEncoder(shape, (8, 16), 6), ConvDecoder(6, (8, 16), shape)
    convs = [
        m for m in [*enc.modules(), *dec.modules()] if isinstance(m, torch.nn.modules.conv._ConvNd)
    ]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    # The same weights in the default layout compute the same codes and images.
    plain_enc = ConvEncoder(shape, (8, 16), 6)
    plain_dec = ConvDecoder(6, (8, 16), shape)
    for src, dst in ((enc, plain_enc), (dec, plain_dec)):
        dst.load_state_dict(src.state_dict())
        dst.to(memory_format=torch.contiguous_format)
    x = torch.rand(5, *shape)
    enc.eval(), dec.eval(), plain_enc.eval(), plain_dec.eval()
    torch.testing.assert_close(enc(x), plain_enc(x), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(dec(enc(x)), plain_dec(plain_enc(x)), rtol=1e-4, atol=1e-5)
