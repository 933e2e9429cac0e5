"""Weight initialisation and mode handling shared by every IDC module."""
from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


def small_normal_(module: nn.Module, std: float = 1e-3) -> None:
    """Official-code initialisation: every Linear weight ~ N(0, std^2), bias 0 (use with ``Module.apply``)."""
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
