"""MLTP gradients (w and alpha) against finite differences of eq. (4) and against
independent formulas; MLTP_FO against its first-order definition."""
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

import algorithms
from algorithms.inner import parameter_groups

from .tiny import tiny_batch, tiny_net

ETA = 0.7


def captured_grads(name: str, model, x, y, **hp):
    """Run one train_step with the optimiser step disabled; return (w grads, alpha grad, alpha)."""
    algo = algorithms.create(name, model, eta=ETA, alpha_mean=0.3, alpha_std=0.1, **hp)
    algo.optimizer.step = lambda *a, **k: None
    algo.train_step((x, y))
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    return grads, algo.alpha.grad.detach().clone(), algo.alpha.detach().clone(), algo


def objective(model, params: dict, alpha: torch.Tensor, x, y, group: str, beta: float = 0.0):
    """Eq. (4)/(6) written out directly: J = L_i(w) + eta L_j(w - alpha g_i) + beta ||w||^2/2."""
    h = len(y) // 2
    xi, yi, xj, yj = x[:h], y[:h], x[h:], y[h:]
    layers = parameter_groups(model, group)
    loss_i = F.cross_entropy(functional_call(model, params, (xi,)), yi)
    names = [n for ns in layers.values() for n in ns]
    g = torch.autograd.grad(loss_i, [params[n] for n in names], create_graph=True)
    fast = dict(params)
    for li, (_layer, ns) in enumerate(layers.items()):
        for n in ns:
            fast[n] = params[n] - alpha[li] * g[names.index(n)]
    loss_j = F.cross_entropy(functional_call(model, fast, (xj,)), yj)
    reg = 0.5 * sum((p * p).sum() for p in params.values())
    return loss_i + ETA * loss_j + beta * reg


def finite_difference(model, alpha, x, y, group, beta=0.0, eps=1e-6):
    params = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters()}

    def J(ps, a):
        return objective(model, ps, a, x, y, group, beta).item()

    grads = {}
    for n, p in params.items():
        gr = torch.zeros_like(p)
        flat = p.detach().view(-1)
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + eps
            up = J(params, alpha)
            flat[i] = old - eps
            down = J(params, alpha)
            flat[i] = old
            gr.view(-1)[i] = (up - down) / (2 * eps)
        grads[n] = gr
    ga = torch.zeros_like(alpha)
    for i in range(alpha.numel()):
        a_up, a_dn = alpha.clone(), alpha.clone()
        a_up[i] += eps
        a_dn[i] -= eps
        ga[i] = (J(params, a_up) - J(params, a_dn)) / (2 * eps)
    return grads, ga


@pytest.mark.parametrize("name,group", [("mltp", "all"), ("mltp_conv", "conv"), ("mltp_fc", "fc")])
def test_second_order_gradients_match_finite_differences(name, group):
    model = tiny_net()
    x, y = tiny_batch()
    grads, galpha, alpha, _ = captured_grads(name, model, x, y)
    fd_w, fd_alpha = finite_difference(model, alpha, x, y, group)
    for n in grads:
        torch.testing.assert_close(grads[n], fd_w[n], rtol=1e-5, atol=1e-7, msg=f"dJ/d{n}")
    torch.testing.assert_close(galpha, fd_alpha, rtol=1e-5, atol=1e-7)


def test_weight_decay_is_beta_times_R():
    model = tiny_net()
    x, y = tiny_batch()
    grads, _, alpha, _ = captured_grads("mltp", model, x, y, weight_decay=0.05)
    fd_w, _ = finite_difference(model, alpha, x, y, "all", beta=0.05)
    for n in grads:
        torch.testing.assert_close(grads[n], fd_w[n], rtol=1e-5, atol=1e-7)


def test_second_order_matches_hessian_vector_formula():
    """Independent formula: dJ/dw = g_i + eta (I - alpha H_i) g_j(w'), H_i v from autograd.functional.hvp."""
    model = tiny_net()
    x, y = tiny_batch()
    grads, galpha, alpha, algo = captured_grads("mltp", model, x, y)
    h = len(y) // 2
    names = [n for n, _ in model.named_parameters()]
    p0 = [p.detach().clone() for _, p in model.named_parameters()]
    a_per = torch.stack([alpha[algo.layer_index[n]] for n in names])

    def L(batch_x, batch_y, *ps):
        return F.cross_entropy(functional_call(model, dict(zip(names, ps)), (batch_x,)), batch_y)

    g_i = torch.autograd.grad(L(x[:h], y[:h], *[p.requires_grad_(True) for p in p0]), p0)
    fast = [(p - a * g).detach().requires_grad_(True) for p, a, g in zip(p0, a_per, g_i)]
    g_j = torch.autograd.grad(L(x[h:], y[h:], *fast), fast)
    _, hv = torch.autograd.functional.hvp(lambda *ps: L(x[:h], y[:h], *ps), tuple(p.detach() for p in p0),
                                          tuple(a * v for a, v in zip(a_per, g_j)))
    for n, gi, gj, hvn in zip(names, g_i, g_j, hv):
        torch.testing.assert_close(grads[n], gi + ETA * (gj - hvn), rtol=1e-7, atol=1e-9)
    agreement = torch.stack([sum((g_i[k] * g_j[k]).sum() for k, n in enumerate(names) if algo.layer_index[n] == li)
                             for li in range(len(alpha))])
    torch.testing.assert_close(galpha, -ETA * agreement, rtol=1e-7, atol=1e-9)


def test_first_order_matches_definition():
    """MLTP_FO: dJ/dw = g_i + eta g_j(w'), dJ/dalpha_l = -eta g_i,l . g_j,l(w'), w' = w - alpha g_i."""
    model = tiny_net()
    x, y = tiny_batch()
    grads, galpha, alpha, algo = captured_grads("mltp_fo", model, x, y)
    h = len(y) // 2
    params = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters()}
    li = F.cross_entropy(functional_call(model, params, (x[:h],)), y[:h])
    g_i = dict(zip(params, torch.autograd.grad(li, list(params.values()))))
    fast = {n: (params[n] - alpha[algo.layer_index[n]] * g_i[n]).detach().requires_grad_(True) for n in params}
    lj = F.cross_entropy(functional_call(model, fast, (x[h:],)), y[h:])
    g_j = dict(zip(fast, torch.autograd.grad(lj, list(fast.values()))))
    for n in params:
        torch.testing.assert_close(grads[n], g_i[n] + ETA * g_j[n], rtol=1e-10, atol=1e-12)
    for idx in sorted(set(algo.layer_index.values())):
        expect = -ETA * sum((g_i[n] * g_j[n]).sum() for n in params if algo.layer_index[n] == idx)
        torch.testing.assert_close(galpha[idx], expect, rtol=1e-10, atol=1e-12)


def test_first_order_differs_from_second_order():
    x, y = tiny_batch()
    g_fo, _, _, _ = captured_grads("mltp_fo", tiny_net(), x, y)
    g_so, _, _, _ = captured_grads("mltp", tiny_net(), x, y)
    assert any(not torch.allclose(g_fo[n], g_so[n], rtol=1e-6) for n in g_fo)


@pytest.mark.parametrize("name,expected", [
    ("mltp", ["conv1", "conv2", "fc1", "fc2"]), ("mltp_conv", ["conv1", "conv2"]),
    ("mltp_fc", ["fc1", "fc2"]), ("mltp_fo", ["conv1", "conv2", "fc1", "fc2"]),
])
def test_variants_adapt_only_their_layer_group(name, expected):
    algo = algorithms.create(name, tiny_net())
    assert list(algo.layers) == expected
    assert algo.alpha.shape == (len(expected),)
    assert set(algo.adapt) == {f"{layer}.{p}" for layer in expected for p in ("weight", "bias")}


def test_non_adapted_layers_take_no_inner_step():
    """In mltp_conv the fc layers of the fast weights are the plain weights: its gradient
    equals eq. (4) with the inner step restricted to conv layers, and differs from full MLTP."""
    model = tiny_net()
    x, y = tiny_batch()
    grads, _, alpha, _ = captured_grads("mltp_conv", model, x, y)
    params = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters()}
    J = objective(model, params, alpha, x, y, "conv")
    expect = dict(zip(params, torch.autograd.grad(J, list(params.values()))))
    for n in grads:
        torch.testing.assert_close(grads[n], expect[n], rtol=1e-9, atol=1e-11)
    full_alpha = torch.cat([alpha, alpha])  # the same step sizes for conv, plus fc ones
    J_all = objective(model, params, full_alpha, x, y, "all")
    g_all = dict(zip(params, torch.autograd.grad(J_all, list(params.values()))))
    assert not torch.allclose(g_all["fc1.weight"], grads["fc1.weight"])


def test_alpha_moves_and_fix_alpha_keeps_it():
    x, y = tiny_batch(16)
    algo = algorithms.create("mltp", tiny_net(), lr=1e-2)
    a0 = algo.alpha.detach().clone()
    for _ in range(3):
        algo.train_step((x, y))
    assert not torch.allclose(algo.alpha.detach(), a0)
    fixed = algorithms.create("mltp", tiny_net(), lr=1e-2, fix_alpha=True)
    f0 = fixed.alpha.detach().clone()
    w0 = [p.detach().clone() for p in fixed.model.parameters()]
    for _ in range(3):
        fixed.train_step((x, y))
    torch.testing.assert_close(fixed.alpha.detach(), f0, rtol=0, atol=0)
    assert any(not torch.equal(p, q) for p, q in zip(fixed.model.parameters(), w0))


def test_alpha_is_initialised_from_normal():
    torch.manual_seed(3)
    from torch import nn

    model = nn.Sequential(*[nn.Linear(4, 4) for _ in range(2000)])
    algo = algorithms.create("mltp_fo", model, alpha_mean=0.01, alpha_std=0.002)
    a = algo.alpha.detach()
    assert a.shape == (2000,)
    assert abs(a.mean().item() - 0.01) < 3 * 0.002 / 2000**0.5 + 1e-5
    assert abs(a.std().item() - 0.002) < 0.0002


def test_step_reports_gradient_agreement():
    x, y = tiny_batch()
    model = tiny_net()
    algo = algorithms.create("mltp_fo", model, eta=ETA)
    algo.optimizer.step = lambda *a, **k: None
    stats = algo.train_step((x, y))
    assert stats["grad_agreement"] == pytest.approx(-algo.alpha.grad.sum().item() / ETA)
    assert set(stats) >= {"loss", "train_loss", "loss_j", "grad_agreement", "alpha_weighted_agreement"}
