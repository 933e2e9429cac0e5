"""Stage-2 heads: the clustering head on embeddings and the auxiliary classifier on gated inputs."""
from __future__ import annotations

from torch import Tensor, nn

from idc.nn.init import mlp_block, small_normal_


class _MLPHead(nn.Module):
    def __init__(self, d_in: int, hidden_dim: int, n_clusters: int, init_std: float = 1e-3):
        super().__init__()
        self.net = nn.Sequential(*mlp_block(d_in, hidden_dim), nn.Linear(hidden_dim, n_clusters))
        self.net.apply(lambda m: small_normal_(m, init_std))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ClusteringHead(_MLPHead):
    """Cluster logits from the bottleneck embedding: ``bottleneck -> hidden (BN, ReLU) -> K``."""


class AuxiliaryClassifier(_MLPHead):
    """Predicts the head's pseudo-label from ``x * z * z^G``: ``D -> hidden (BN, ReLU) -> K``; it exists only
    to train the global gates and is discarded at inference."""
