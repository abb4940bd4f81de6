"""Input corruption for denoising autoencoders, done in torch on the batch's device."""

from __future__ import annotations

import torch

from autoencoders.choices import NOISE_KINDS


def corrupt(
    x: torch.Tensor, kind: str, ratio: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Returns a corrupted copy of ``x`` (values in [0, 1]).

    Args:
        x: a batch of any shape.
        kind: ``"salt_pepper"`` sets a ``ratio`` fraction of values to 0 or 1 with
            equal odds; ``"gaussian"`` adds noise of standard deviation ``ratio``
            and clips to [0, 1]; ``"masking"`` sets a ``ratio`` fraction to 0.
        ratio: strength of the corruption; 0 returns ``x`` unchanged.
        generator: where the random numbers come from, on ``x``'s device
            (default: torch's generator for that device, so seeding torch makes
            the corruption reproducible); a generator of its own leaves torch's
            global random state alone (the evaluation's fixed noisy test set).
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"noise must be one of {NOISE_KINDS}, got {kind!r}")
    if ratio < 0 or (kind != "gaussian" and ratio > 1):
        raise ValueError(f"noise_ratio must lie in [0, 1] for {kind} noise, got {ratio}")
    if ratio == 0:
        return x
    gaussian = kind == "gaussian"
    if generator is None:  # `*_like` keeps x's memory layout (channels_last batches)
        u = torch.randn_like(x) if gaussian else torch.rand_like(x)
    else:
        draw = torch.randn if gaussian else torch.rand
        u = draw(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    if gaussian:
        return (x + ratio * u).clamp_(0.0, 1.0)
    hit = u < ratio
    if kind == "masking":
        return x.masked_fill(hit, 0.0)
    # One uniform draw decides both: u < ratio hits a value, and half of those
    # (u < ratio / 2) become salt, so P(salt | hit) = 1/2 without a second draw.
    return torch.where(hit, (u < 0.5 * ratio).to(x.dtype), x)
