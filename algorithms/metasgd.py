"""Meta-SGD (Li et al. 2017): MAML with a learned step size for every parameter entry.

The inner step is ``theta' = theta - alpha (.) grad L_support(theta)`` where ``alpha``
has the shape of ``theta`` (one rate per weight, initialised to ``inner_lr``) and is
meta-learned with ``theta`` by the outer optimiser (second order through the inner
steps, as in the paper). The rates are part of the algorithm's checkpointed state.
"""
from __future__ import annotations

import torch

from .maml import MAMLBase, MAMLHparams
from .optim import build_optimizer


class MetaSGD(MAMLBase):
    """MAML with per-parameter learned inner learning rates."""

    Hparams = MAMLHparams
    first_order, second_order = False, True

    def __init__(self, model, hparams: MAMLHparams, train_classes: int | None = None) -> None:
        super().__init__(model, hparams, train_classes)
        named = dict(model.named_parameters())
        self.alpha = {n: torch.full_like(named[n], hparams.inner_lr).requires_grad_(True) for n in self.adapt_names}
        # the rates share the outer optimiser but not weight decay (add_weight_decay gets self.params only)
        self.optimizer = build_optimizer(self.params + list(self.alpha.values()), hparams)

    def _step_size(self, name: str) -> torch.Tensor:
        return self.alpha[name]

    def query_logits(self, task):
        # the learned rates are constants at test time
        saved, self.alpha = self.alpha, {n: a.detach() for n, a in self.alpha.items()}
        try:
            return super().query_logits(task)
        finally:
            self.alpha = saved

    def metrics(self) -> dict[str, float]:
        flat = torch.cat([a.detach().flatten() for a in self.alpha.values()])
        return {"alpha_mean": flat.mean().item(), "alpha_std": flat.std().item(),
                "alpha_abs_max": flat.abs().max().item()}

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {f"alpha.{n}": a for n, a in self.alpha.items()}
