"""Concrete autoencoder feature selection + K-means (Abid, Balin & Zou, "Concrete Autoencoders: Differentiable
Feature Selection and Reconstruction", ICML 2019), the "CAE+KM" row of the paper's real-data table."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from torch import Tensor, nn


class ConcreteSelector(nn.Module):
    """``k`` Concrete (Gumbel-softmax) samples over the ``D`` features: ``m_j = softmax((a_j + g_j) / T)``;
    the encoder's output is ``M x`` (k values), at evaluation the argmax feature of each ``a_j``."""

    def __init__(self, n_features: int, n_selected: int):
        super().__init__()
        self.logits = nn.Parameter(0.01 * torch.randn(n_selected, n_features))

    def forward(self, x: Tensor, temperature: float) -> Tensor:
        if self.training:
            u = torch.rand_like(self.logits).clamp_(1e-10, 1.0 - 1e-7)
            weights = torch.softmax((self.logits - torch.log(-torch.log(u))) / temperature, dim=1)
        else:
            weights = nn.functional.one_hot(self.logits.argmax(1), self.logits.shape[1]).to(x.dtype)
        return x @ weights.T

    def selected(self) -> np.ndarray:
        return self.logits.argmax(1).detach().cpu().numpy()


def temperature(epoch: int, epochs: int, start: float, end: float) -> float:
    """Exponential annealing ``T(e) = T0 (T_end / T0)^(e / E)`` (Abid et al., Sec. 3)."""
    return start * (end / start) ** (epoch / max(epochs - 1, 1))


class ConcreteAutoencoderKMeans(ClusterMixin, BaseEstimator):
    """K-means on the features a Concrete autoencoder selects (``selected_``: their sorted unique indices).

    The decoder is ``k -> hidden (LeakyReLU) -> D`` trained by MSE with Adam; the table stays on ``device``
    and batches are drawn by index.
    """

    def __init__(self, n_clusters: int = 8, n_selected: int = 50, epochs: int = 300, batch_size: int = 256,
                 lr: float = 1e-3, hidden: int = 256, start_temp: float = 10.0, end_temp: float = 0.01,
                 n_init: int = 10, random_state: int | None = None, device: str = "auto"):
        self.n_clusters = n_clusters
        self.n_selected = n_selected
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.hidden = hidden
        self.start_temp = start_temp
        self.end_temp = end_temp
        self.n_init = n_init
        self.random_state = random_state
        self.device = device

    def fit(self, X: np.ndarray, y: None = None) -> ConcreteAutoencoderKMeans:
        X = np.asarray(X, dtype=np.float32)
        n, d = X.shape
        k = min(int(self.n_selected), d)
        device = ("cuda" if torch.cuda.is_available() else "cpu") if self.device == "auto" else self.device
        gen = torch.Generator().manual_seed(0 if self.random_state is None else int(self.random_state))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=gen)))
            selector = ConcreteSelector(d, k).to(device)
            decoder = nn.Sequential(nn.Linear(k, self.hidden), nn.LeakyReLU(0.2), nn.Linear(self.hidden, d)).to(device)
            table = torch.as_tensor(X, device=device)
            opt = torch.optim.Adam([*selector.parameters(), *decoder.parameters()], lr=self.lr)
            batch = min(int(self.batch_size), n)
            for epoch in range(int(self.epochs)):
                temp = temperature(epoch, int(self.epochs), self.start_temp, self.end_temp)
                for idx in torch.randperm(n, generator=gen).to(device).split(batch):
                    x = table[idx]
                    loss = nn.functional.mse_loss(decoder(selector(x, temp)), x)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
        self.selected_ = np.unique(selector.selected())
        km = KMeans(self.n_clusters, n_init=self.n_init, random_state=self.random_state)
        self.labels_ = km.fit_predict(X[:, self.selected_])
        return self
