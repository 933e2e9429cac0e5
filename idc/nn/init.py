"""Weight initialisation and mode handling shared by every IDC module."""
from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


def small_normal_(module: nn.Module, std: float = 1e-3) -> None:
    """Every Linear weight ~ N(0, std^2), bias 0 (use with ``Module.apply``): the official code's intent. Its own
    check (``'bias' in vars(m)``) never matches an ``nn.Linear``, so there biases keep PyTorch's default
    U(+-1/sqrt(fan_in)) and gates start near, not at, 0.5; here they start at exactly 0.5."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def mlp_block(d_in: int, d_out: int) -> list[nn.Module]:
    """Linear -> BatchNorm -> ReLU, the building block of the encoder, decoder and heads."""
    return [nn.Linear(d_in, d_out), nn.BatchNorm1d(d_out), nn.ReLU()]


@contextmanager
def evaluation_mode(*modules: nn.Module | None) -> Iterator[None]:
    """Put ``modules`` (``None`` skipped) in evaluation mode for the block, then give each its mode back."""
    present = [m for m in modules if m is not None]
    modes = [m.training for m in present]
    for m in present:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(present, modes):
            m.train(mode)
