"""ANIL, Meta-SGD, Matching Networks, Baseline++ and the linear probe against independent
computations of their definitions (issue 15)."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

import algorithms
from algorithms.linear_probe import probe_logits
from algorithms.matching import matching_log_probs

from .test_fewshot_algorithms import grads_of
from .tiny_episodic import tiny_model, toy_task

TASKS = [toy_task(s) for s in range(3)]
HEAD = ("head.weight", "head.bias")


def explicit_anil_gradient(model, tasks, inner_lr, steps):
    """MAML written out with the body's inner updates removed: the whole network runs at
    every inner step (as MAML does), only the head's weights change."""
    names = [n for n, _ in model.named_parameters()]
    theta = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters()}
    total = 0
    for t in tasks:
        w = dict(theta)
        for _ in range(steps):
            loss = F.cross_entropy(functional_call(model, w, (t.support_x,)), t.support_y)
            g = torch.autograd.grad(loss, [w[n] for n in HEAD], create_graph=True)
            w = {**w, **{n: w[n] - inner_lr * gi for n, gi in zip(HEAD, g)}}
        total = total + F.cross_entropy(functional_call(model, w, (t.query_x,)), t.query_y)
    grads = torch.autograd.grad(total / len(tasks), [theta[n] for n in names])
    return dict(zip(names, grads))


@pytest.mark.parametrize("steps", [1, 3])
def test_anil_meta_gradient_equals_maml_without_body_inner_updates(steps):
    ours, _ = grads_of("anil", tiny_model(), TASKS, inner_lr=0.3, inner_steps=steps)
    ref = explicit_anil_gradient(tiny_model(), TASKS, 0.3, steps)
    maml_head, _ = grads_of("maml", tiny_model(), TASKS, inner_lr=0.3, inner_steps=steps, adapt="head")
    for n in ours:
        torch.testing.assert_close(ours[n], ref[n], rtol=1e-9, atol=1e-11)
        torch.testing.assert_close(ours[n], maml_head[n], rtol=1e-9, atol=1e-11)
    # the body's gradient is not zero (the body is meta-learned through the head's adaptation)
    assert any(ours[n].abs().sum() > 0 for n in ours if not n.startswith("head."))


def _meta_loss(model, params, task, inner_lr, steps, alpha=None):
    """Query loss after ``steps`` head-only (alpha None) or per-parameter-rate steps, no graph kept."""
    w = {n: v.clone().requires_grad_(True) for n, v in params.items()}
    adapt = HEAD if alpha is None else list(w)
    for _ in range(steps):
        loss = F.cross_entropy(functional_call(model, w, (task.support_x,)), task.support_y)
        g = torch.autograd.grad(loss, [w[n] for n in adapt])
        w = {**w, **{n: w[n] - (inner_lr if alpha is None else alpha[n]) * gi for n, gi in zip(adapt, g)}}
    with torch.no_grad():
        return F.cross_entropy(functional_call(model, w, (task.query_x,)), task.query_y).item()


def _fd_pairs(grad, tensor, loss, eps=1e-6, points=5):
    """(analytic, central finite difference) at a few entries of ``tensor``."""
    flat, out = tensor.view(-1), []
    for i in range(0, flat.numel(), max(1, flat.numel() // points)):
        old = flat[i].item()
        flat[i] = old + eps
        up = loss()
        flat[i] = old - eps
        down = loss()
        flat[i] = old
        out.append((grad.view(-1)[i].item(), (up - down) / (2 * eps)))
    return out


def test_anil_meta_gradient_matches_finite_differences():
    model = tiny_model()
    ours, _ = grads_of("anil", model, TASKS[:1], inner_lr=0.3, inner_steps=2)
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    for n in base:
        for got, fd in _fd_pairs(ours[n], base[n], lambda: _meta_loss(model, base, TASKS[0], 0.3, 2)):
            assert got == pytest.approx(fd, rel=1e-4, abs=1e-7), n


def test_anil_refuses_other_layers():
    with pytest.raises(algorithms.BadHyperparameterError, match="adapt=head"):
        algorithms.make_hparams("anil", adapt="all")


def test_metasgd_gradients_wrt_rates_and_weights_match_finite_differences():
    model = tiny_model()
    algo = algorithms.create("metasgd", model, inner_lr=0.2, inner_steps=2)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # rates that differ per entry, so a shared rate would be caught
        for a in algo.alpha.values():
            a.copy_(0.05 + 0.3 * torch.rand(a.shape, generator=g, dtype=a.dtype))
    algo.optimizer.step = lambda *a, **k: None
    algo.train_step(TASKS[:1])
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    alpha = {n: a.detach().clone() for n, a in algo.alpha.items()}
    loss = lambda: _meta_loss(model, base, TASKS[0], None, 2, alpha=alpha)  # noqa: E731
    for n in alpha:
        assert algo.alpha[n].grad is not None and algo.alpha[n].grad.abs().sum() > 0
        pairs = _fd_pairs(algo.alpha[n].grad, alpha[n], loss) + _fd_pairs(dict(model.named_parameters())[n].grad, base[n], loss)
        for got, fd in pairs:
            assert got == pytest.approx(fd, rel=1e-4, abs=1e-7), n


def test_metasgd_rates_start_at_inner_lr_and_are_checkpointed():
    algo = algorithms.create("metasgd", tiny_model(), inner_lr=0.07)
    assert all(torch.all(a == 0.07) for a in algo.alpha.values())
    algo.train_step(TASKS)
    state = algo.state_dict()
    other = algorithms.create("metasgd", tiny_model(seed=3), inner_lr=0.07)
    other.load_state_dict(state)
    for n in algo.alpha:
        assert torch.equal(other.alpha[n], algo.alpha[n].detach())
    # the rates were meta-learned (a conv bias before batch norm has zero gradient, so its rates stay)
    assert not torch.all(algo.alpha["head.weight"] == 0.07)


def test_matching_net_output_equals_the_attention_formula_by_hand():
    torch.manual_seed(0)
    support = torch.randn(4, 3, dtype=torch.float64)
    labels = torch.tensor([0, 1, 1, 2])
    query = torch.randn(2, 3, dtype=torch.float64)
    for scale in (1.0, 7.0):
        ours = matching_log_probs(query, support, labels, 3, scale).exp()
        for q in range(2):
            cos = [float(query[q] @ support[i] / (query[q].norm() * support[i].norm())) for i in range(4)]
            e = [math.exp(scale * c) for c in cos]
            attn = [v / sum(e) for v in e]
            expected = [attn[0], attn[1] + attn[2], attn[3]]
            for k in range(3):
                assert ours[q, k].item() == pytest.approx(expected[k], rel=1e-12)
    torch.testing.assert_close(ours.sum(1), torch.ones(2, dtype=torch.float64))


def test_matching_net_trains_on_episodes_and_ignores_the_head():
    model = tiny_model()
    algo = algorithms.create("matching_net", model)
    head = model.head.weight.detach().clone()
    out = algo.train_step(TASKS)
    assert out["loss"] > 0 and torch.equal(model.head.weight, head)
    assert algo.query_logits(TASKS[0]).shape == (6, 3)


def _weight_normed_linear(weight):
    """torch's own WeightNorm (dim=0) on an nn.Linear without bias: CloserLookFewShot's distLinear.L."""
    lin = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(weight)
    return torch.nn.utils.parametrizations.weight_norm(lin, "weight", dim=0)


def _chen_scores(lin, feats, classes):
    x = feats / (torch.norm(feats, p=2, dim=1).unsqueeze(1) + 0.00001)
    return (2 if classes <= 200 else 10) * lin(x)


def test_baseline_pp_pretraining_head_is_chens_distlinear():
    """Fixed scale (2 up to 200 classes, 10 above), class-wise WeightNorm, against torch's weight_norm."""
    for classes, scale in ((7, 2.0), (250, 10.0)):
        model = tiny_model()
        algo = algorithms.create("baseline_pp", model, train_classes=classes)
        head = algo.global_head
        assert head.scale == scale and not isinstance(head.scale, torch.Tensor)  # fixed, not learned
        feats = model.embed(TASKS[0].support_x)
        lin = _weight_normed_linear(head.weight_v.detach())
        torch.testing.assert_close(head(feats), _chen_scores(lin, feats, classes))
    algo.train_step(TASKS)
    assert head.weight_g.grad is not None and head.weight_v.grad is not None  # the class norms are learned
    assert "class_norm_mean" in algo.metrics()


def test_baseline_pp_test_head_is_chens_baselinefinetune():
    """A new distLinear from nn.Linear's initialisation, 100 epochs of batch 4, SGD lr 0.01, momentum 0.9,
    dampening 0.9, weight decay 1e-3 (baselinefinetune.py), written out with torch's WeightNorm and SGD."""
    from algorithms.baseline_pp import linear_init

    model = tiny_model()
    algo = algorithms.create("baseline_pp", model, train_classes=7)
    t = toy_task(0)
    model.eval()
    with torch.no_grad():
        fs, fq = model.embed(t.support_x), model.embed(t.query_x)
    g = torch.Generator().manual_seed(algo.test_seed)
    ways = int(t.support_y.max()) + 1
    lin = _weight_normed_linear(linear_init(ways, fs.shape[1], g, fs))
    opt = torch.optim.SGD(lin.parameters(), lr=0.01, momentum=0.9, dampening=0.9, weight_decay=0.001)
    for _ in range(100):
        order = torch.randperm(len(fs), generator=g)
        for i in range(0, len(fs), 4):
            idx = order[i: i + 4]
            opt.zero_grad()
            F.cross_entropy(_chen_scores(lin, fs[idx], ways), t.support_y[idx]).backward()
            opt.step()
    with torch.no_grad():
        expected = _chen_scores(lin, fq, ways)
    torch.testing.assert_close(algo.query_logits(t), expected)
    torch.testing.assert_close(algo.query_logits(t), expected)  # deterministic: the same episode scores the same


def test_baseline_pp_fits_a_new_head_with_the_body_frozen():
    model = tiny_model()
    algo = algorithms.create("baseline_pp", model, train_classes=7, finetune_epochs=300, finetune_lr=0.5)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    t = TASKS[0]
    # the support set itself is classified correctly by its own fitted head
    from types import SimpleNamespace
    self_task = SimpleNamespace(support_x=t.support_x, support_y=t.support_y, query_x=t.support_x, query_y=t.support_y)
    model.eval()
    assert algo.evaluate(self_task) == 1.0
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())


def test_linear_probe_on_separable_features_reaches_100_percent():
    g = torch.Generator().manual_seed(0)
    centres = 5 * torch.randn(5, 16, generator=g)
    support = centres.repeat_interleave(1, 0) + 0.1 * torch.randn(5, 16, generator=g)
    query = centres.repeat_interleave(20, 0) + 0.1 * torch.randn(100, 16, generator=g)
    scores = probe_logits(support, torch.arange(5), query, C=1.0, max_iter=1000)
    assert scores.shape == (100, 5)
    assert (scores.argmax(1) == torch.arange(5).repeat_interleave(20)).float().mean().item() == 1.0
    two = probe_logits(support[:2], torch.arange(2), query[:40], C=1.0, max_iter=1000)  # binary: two columns
    assert (two.argmax(1) == torch.arange(2).repeat_interleave(20)).all()


def test_linear_probe_uses_the_transfer_pretraining():
    model = tiny_model()
    algo = algorithms.create("linear_probe", model, train_classes=7)
    ref = algorithms.create("transfer", tiny_model(), train_classes=7)
    a, b = algo.train_step(TASKS), ref.train_step(TASKS)
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-12)
