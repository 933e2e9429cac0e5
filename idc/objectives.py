"""What each stage minimises, assembled from the paper's terms in :mod:`idc.losses` for one batch of the
LightningModule (:class:`idc.module.IDCModule` steps, logs and back-propagates them).

- :func:`stage1`: the reconstruction tasks (clean, gated, input-masked, latent-noised; paper Sec. 4.2) and, once
  the gates are on, the gates' sparsity regulariser (Eq. 3-4, cosine-increasing weight) and coding rate.
- :func:`mcr`: the ``mcr`` / ``official`` heads' cluster compression loss (Eq. 5-6, Gumbel-softmax) with the balance
  prior, summed over the restarts that train side by side.
- :func:`dec`: the ``dec`` head's ``KL(P || Q)`` (Xie et al. 2016, Eq. 2) to a target refreshed every
  ``head.target_every`` stage-2 steps.

Each returns its terms with what to log once per epoch (``logged``) and the schedule weights in force
(``weights``, Python floats logged at the epoch's end). ``module`` is the :class:`idc.module.IDCModule` (its
networks, settings, schedule and frozen stage-2 inputs).
"""
from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from idc import losses, stage2

#: (loss, terms, the last head's logits or None, logged, weights)
HeadTerms = tuple[Tensor, dict[str, Tensor], "Tensor | None", dict[str, Tensor], dict[str, float]]


def stage1(module: pl.LightningModule, x: Tensor, epoch: int) -> tuple[dict[str, Tensor], dict[str, float]]:
    """Stage 1's terms at ``epoch`` (code ``ae_step``): ``gate_reg`` and ``gtcr`` once the gates are on,
    ``recon_<task>`` per task, and their weighted sum ``loss``; with the regulariser's weight of the epoch."""
    cfg = module.model_cfg
    tasks, kind, ae = cfg["tasks"], cfg["recon_loss"], module.autoencoder
    terms: dict[str, Tensor] = {}
    weights: dict[str, float] = {}
    loss = torch.zeros((), device=x.device)
    h_clean = ae.encoder(x)  # computed once, reused by the clean and latent-noise tasks
    if "clean" in tasks:
        terms["recon_clean"] = losses.reconstruction_loss(ae.decoder(h_clean), x, kind)
    if module.gating is not None and module.schedule.gates_on(epoch):
        g = module.gates_cfg
        params = module.gating(x)
        z = module.gating.sample(params)
        if "gated" in tasks:
            terms["recon_gated"] = losses.reconstruction_loss(ae(x * z), x, kind)
        reg = module.gating.regulariser(params, g["reg_reduction"])
        z_rate = z if g.get("gtcr_noise", True) else module.gating.evaluation_gates(params)
        gtcr = losses.gates_coding_rate_loss(z_rate, float(g["gtcr_eps"]), module.gtcr_projection,
                                             bool(g.get("gtcr_small_side", True)), bool(g.get("gtcr_center", False)))
        reg_weight = module.schedule.gate_reg_weight(epoch, float(g["reg_lambda"]))
        loss = loss + reg_weight * reg + float(g["gtcr_lambda"]) * gtcr
        terms.update(gate_reg=reg, gtcr=gtcr)
        weights["stage1/gate_reg_weight"] = reg_weight
    elif "gated" in tasks:  # gates all ones (warm-up, or no gating network): the clean task again
        terms["recon_gated"] = (terms["recon_clean"] if "recon_clean" in terms
                                else losses.reconstruction_loss(ae.decoder(h_clean), x, kind))
    if "masked" in tasks:
        keep = (torch.rand_like(x) >= float(cfg["mask_rate"])).to(x.dtype)
        terms["recon_masked"] = losses.reconstruction_loss(ae(x * keep), x, kind)
    if "latent" in tasks:
        # at least float32: under bf16 autocast a 1% noise around 1 would fall on a grid of a few values
        dtype = torch.promote_types(h_clean.dtype, torch.float32)
        noise = 1.0 + float(cfg["latent_noise_std"]) * torch.randn_like(h_clean, dtype=dtype)
        terms["recon_latent"] = losses.reconstruction_loss(ae.decoder(h_clean.to(dtype) * noise), x, kind)
    for name, value in terms.items():
        if name.startswith("recon_"):
            loss = loss + value
    return {**terms, "loss": loss}, weights


def mcr(module: pl.LightningModule, heads: list[nn.Module], emb: Tensor, inputs: Tensor) -> HeadTerms:
    """The compression loss (Eq. 5-6) of each training head on the frozen embeddings ``emb`` (its logits from
    ``inputs``), plus the balance prior weighted by :func:`idc.stage2.balance_weight`."""
    head_cfg = module.head_cfg
    balance = stage2.balance_weight(module)
    loss = compression = imbalance = torch.zeros((), device=emb.device)
    terms: dict[str, Tensor] = {}
    logged: dict[str, Tensor] = {}
    logits = None
    for head in heads:
        logits = head(inputs)
        probs = losses.gumbel_softmax_probs(logits, float(head_cfg["tau"]))
        compression = compression + losses.cluster_compression_loss(emb, probs, float(head_cfg["eps"]))
        if balance:
            imbalance = imbalance + stage2.balance_term(module, probs)
    if heads:
        loss = compression + balance * imbalance
        terms["compression"] = compression
        logged["stage2/compression"] = compression / len(heads)
        if balance:
            terms["imbalance"] = imbalance
            logged["stage2/imbalance"] = imbalance / len(heads)
    return loss, terms, logits, logged, {}


def dec(module: pl.LightningModule, heads: list[nn.Module], inputs: Tensor, idx: Tensor, step: int) -> HeadTerms:
    """DEC's ``KL(P || Q)`` of the batch (rows ``idx``, head inputs ``inputs``) at stage-2 step ``step``; the
    target ``P`` is refreshed from every row's soft assignments when due, and the share of rows whose cluster
    changed is reported as ``stage2/dec_changed``."""
    if not heads:
        return torch.zeros((), device=inputs.device), {}, None, {}, {}
    (head,) = heads  # restarts are refused for head=dec (idc.schema.validate)
    target = module.dec_target
    weights: dict[str, float] = {}
    if target.due(step):
        with torch.no_grad():
            q = torch.cat([head.soft_assignments(x) for x in module.frozen.head_inputs.split(stage2.CHUNK)])
        weights["stage2/dec_changed"] = target.refresh(q, step)
    logits = head(inputs)
    kl = losses.dec_kl_loss(logits, target[idx.to(target.target.device)].to(logits.device))
    return kl, {"dec_kl": kl}, logits, {"stage2/dec_kl": kl}, weights
