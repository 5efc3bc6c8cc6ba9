"""``standard`` equals a hand-written optimiser step; registry behaviour."""
import pytest
import torch
import torch.nn.functional as F

import algorithms

from .tiny import tiny_batch, tiny_net


def _grads(model, x, y):
    loss = F.cross_entropy(model(x), y)
    return torch.autograd.grad(loss, list(model.parameters()))


def test_sgd_momentum_with_weight_decay_matches_hand_written_steps():
    x, y = tiny_batch()
    model, ref = tiny_net(), tiny_net()
    lr, mom, beta = 0.1, 0.9, 0.01
    algo = algorithms.create("standard", model, optimizer="sgd", lr=lr, momentum=mom, weight_decay=beta)
    w = [p.detach().clone() for p in ref.parameters()]
    buf = None
    for _ in range(3):
        algo.train_step((x, y))
        with torch.no_grad():
            for p, v in zip(ref.parameters(), w):
                p.copy_(v)
        g = [gi + beta * wi for gi, wi in zip(_grads(ref, x, y), w)]  # d/dw [L + beta ||w||^2 / 2]
        buf = g if buf is None else [mom * b + gi for b, gi in zip(buf, g)]
        w = [wi - lr * b for wi, b in zip(w, buf)]
    for p, wi in zip(model.parameters(), w):
        torch.testing.assert_close(p.detach(), wi, rtol=1e-12, atol=1e-12)


def test_adam_first_step_matches_hand_written():
    x, y = tiny_batch()
    model, ref = tiny_net(), tiny_net()
    lr = 1e-3
    algo = algorithms.create("standard", model, optimizer="adam", lr=lr)
    g = _grads(ref, x, y)
    algo.train_step((x, y))
    eps = 1e-8
    for p, p0, gi in zip(model.parameters(), ref.parameters(), g):
        # bias-corrected m = g, v = g^2 on the first step
        torch.testing.assert_close(p.detach(), p0.detach() - lr * gi / (gi.abs() + eps), rtol=1e-10, atol=1e-12)


def test_registry_lists_and_rejects_clearly():
    names = algorithms.available()
    assert {"standard", "mltp", "mltp_conv", "mltp_fc", "mltp_fo"} <= set(names)
    with pytest.raises(algorithms.UnknownAlgorithmError) as e:
        algorithms.create("nope", tiny_net())
    assert "valid:" in str(e.value) and "mltp_fo" in str(e.value)
    with pytest.raises(algorithms.BadHyperparameterError, match="no hyperparameter"):
        algorithms.create("standard", tiny_net(), eta=1.0)
    with pytest.raises(algorithms.BadHyperparameterError, match="lr must be > 0"):
        algorithms.create("mltp", tiny_net(), lr=-1.0)


def test_state_dict_round_trip_restores_alpha_and_optimizer():
    x, y = tiny_batch()
    a = algorithms.create("mltp", tiny_net(), lr=1e-2)
    a.train_step((x, y))
    state = a.state_dict()
    b = algorithms.create("mltp", tiny_net(seed=5), lr=1e-2)
    b.load_state_dict(state)
    torch.testing.assert_close(b.alpha.detach(), a.alpha.detach())
    a.train_step((x, y))
    b.train_step((x, y))
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        torch.testing.assert_close(p, q)
