"""The (denoising) autoencoder of stage 1: an MLP encoder to a bottleneck and its mirror image, optionally with a
linear shortcut beside each MLP."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from idc.nn.init import mlp_block, small_normal_


class Shortcut(nn.Module):
    """``deep(x) + linear(x)``: an MLP with a linear map beside it, so that the map can keep what PCA keeps where
    the table has too few rows for the MLP's weights (``model.linear_path``)."""

    def __init__(self, deep: nn.Module, linear: nn.Linear):
        super().__init__()
        self.deep, self.linear = deep, linear

    def forward(self, x: Tensor) -> Tensor:
        return self.deep(x) + self.linear(x)


class Autoencoder(nn.Module):
    """Encoder ``D -> hidden[0] -> ... -> hidden[-1] -> bottleneck`` (Linear+BN+ReLU blocks, linear output)
    and the mirrored decoder ``bottleneck -> hidden[-1] -> ... -> hidden[0] -> D`` (paper App. B). With
    ``linear_path`` (and hidden layers) each side adds a linear map ``D -> bottleneck`` (``bottleneck -> D``)
    to its MLP's output (:class:`Shortcut`)."""

    def __init__(self, n_features: int, hidden: Sequence[int], bottleneck: int, init_std: float = 1e-3,
                 linear_path: bool = False):
        super().__init__()
        dims = [n_features, *hidden]
        enc: list[nn.Module] = []
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            enc += mlp_block(d_in, d_out)
        enc.append(nn.Linear(dims[-1], bottleneck))
        back = [bottleneck, *reversed(hidden)]
        dec: list[nn.Module] = []
        for d_in, d_out in zip(back[:-1], back[1:]):
            dec += mlp_block(d_in, d_out)
        dec.append(nn.Linear(back[-1], n_features))
        self.encoder: nn.Module = nn.Sequential(*enc)
        self.decoder: nn.Module = nn.Sequential(*dec)
        if linear_path and hidden:
            self.encoder = Shortcut(self.encoder, nn.Linear(n_features, bottleneck))
            self.decoder = Shortcut(self.decoder, nn.Linear(bottleneck, n_features))
        self.apply(lambda m: small_normal_(m, init_std))

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


def decoder_metric(weight: Tensor) -> Tensor:
    """``R`` (b x b, upper triangular) with ``R^T R = W^T W`` for the weight ``W`` (D x b) of a linear decoder
    ``z -> W z + c``,
    so that ``||R (z_i - z_j)|| = ||W z_i - W z_j||``: k-means on ``z R^T`` partitions the reconstructions. A linear
    autoencoder learns the principal subspace in arbitrary coordinates (any invertible ``A`` gives the same
    reconstructions with ``A z`` and ``W A^-1``), and k-means on the raw code depends on them; this metric does
    not. ``head.metric=decoder`` (:func:`idc.stage2.check_options` refuses it without a linear decoder); not in the
    paper."""
    weight = weight.detach()
    return torch.linalg.qr(weight if weight.dtype == torch.float64 else weight.float(), mode="r").R
