"""Size rules of the networks, torch-free: configs check them before anything is built.

The encoders and decoders (:mod:`autoencoders.nn`) build their layers from the
same functions, so a config that passes validation always builds.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence


def shrinking_widths(in_features: int, latent_dim: int, num_layers: int) -> list[int]:
    """Layer widths that shrink geometrically from ``in_features`` to ``latent_dim``.

    The result has ``num_layers + 1`` entries, the first being ``in_features`` and
    the last ``latent_dim``; each step divides the width by the same factor
    ``(in_features / latent_dim) ** (1 / num_layers)``.

    Raises:
        ValueError: if the layers cannot shrink (``latent_dim >= in_features``) or a
            layer would end up with fewer units than the code (too many layers).
    """
    if num_layers < 1:
        raise ValueError(f"num_layers must be at least 1, got {num_layers}")
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be at least 1, got {latent_dim}")
    if latent_dim >= in_features:
        raise ValueError(
            f"latent_dim={latent_dim} is not smaller than the {in_features} input features: "
            "a deep autoencoder must shrink; choose a smaller latent_dim"
        )
    ratio = (in_features / latent_dim) ** (1.0 / num_layers)
    widths = [round(in_features / ratio**i) for i in range(num_layers)] + [latent_dim]
    for i in range(1, len(widths)):
        if widths[i] >= widths[i - 1]:
            most = int(math.log2(in_features / latent_dim))
            raise ValueError(
                f"num_layers={num_layers} is too deep for {in_features} features and "
                f"latent_dim={latent_dim}: layer {i} would not shrink ({widths[i - 1]} -> "
                f"{widths[i]} units); use at most {max(most, 1)} layers"
            )
    return widths


def check_halvable(
    spatial: Sequence[int], num_layers: int, what: str, shape: Sequence[int]
) -> None:
    """Checks that every spatial size survives ``num_layers`` exact halvings.

    Args:
        spatial: the spatial sizes, e.g. ``(H, W)`` or ``(L,)``.
        num_layers: number of stride-2 layers.
        what: the module's name, for the message.
        shape: the whole sample shape, for the message.

    Raises:
        ValueError: naming the shape and saying how to fix it (pad, or fewer layers).
    """
    if num_layers < 1:
        raise ValueError(f"{what} needs at least one entry in channels, got {num_layers}")
    factor = 2**num_layers
    if all(s % factor == 0 for s in spatial):
        return
    most = min((s & -s).bit_length() - 1 for s in spatial)
    sizes = "x".join(str(s) for s in spatial)
    padded = "x".join(str(-(-s // factor) * factor) for s in spatial)
    advice = f"or use at most {most} stride-2 layers (fewer channels)" if most else ""
    raise ValueError(
        f"{what} with {num_layers} stride-2 layers needs sizes divisible by {factor}, but the "
        f"input shape {tuple(shape)} has {sizes}: pad the input (e.g. {sizes} to {padded}, "
        f"like 28x28 to 32x32 with pad_to=32) {advice}".rstrip()
    )


#: The automatic conv net halves a picture until its smaller side is at most this:
#: 32x32 -> 4x4 in 3 stages (the network the conv model always had), 8x8 -> 4x4 in 1,
#: 64x64 -> 4x4 in 4, 128x128 -> 4x4 in 5.
FEATURE_SIDE = 4
#: Channels of the first automatic stage; each further stage doubles them, up to
#: WIDEST_CHANNELS (wider feature maps at 4x4 cost memory and time, not quality).
FIRST_CHANNELS = 32
WIDEST_CHANNELS = 256


def conv_stages(spatial: Sequence[int]) -> int:
    """Stride-2 stages that bring the smaller side to at most :data:`FEATURE_SIDE` (at least 1).

    The count does not check divisibility: :func:`check_halvable` does, so a size
    that cannot be halved that often (28x28) is refused with advice to pad.
    """
    smallest, stages = min(int(s) for s in spatial), 1
    while FEATURE_SIDE * 2**stages < smallest:
        stages += 1
    return stages


def auto_conv_channels(spatial: Sequence[int]) -> tuple[int, ...]:
    """The channels of an automatic conv net for pictures of ``spatial`` ``(H, W)`` size.

    One entry per stage of :func:`conv_stages`: 32, 64, 128, 256, 256, ...
    """
    return tuple(min(FIRST_CHANNELS * 2**i, WIDEST_CHANNELS) for i in range(conv_stages(spatial)))


def is_image_shape(shape: object) -> bool:
    """Whether ``shape`` is a well-formed ``(C, H, W)`` of positive integers."""
    return (
        isinstance(shape, Sequence)
        and len(shape) == 3
        and all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in shape
        )
    )
