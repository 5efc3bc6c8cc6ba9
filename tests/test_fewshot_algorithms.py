"""Few-shot algorithms against independent computations of their definitions."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

import algorithms
from algorithms.protonet import proto_logits, prototypes

from .tiny_episodic import tiny_model, toy_task

TASKS = [toy_task(s) for s in range(3)]


def grads_of(name, model, tasks, **hp):
    algo = algorithms.create(name, model, **hp)
    algo.optimizer.step = lambda *a, **k: None
    algo.train_step(tasks)
    return {n: p.grad.detach().clone() for n, p in model.named_parameters()}, algo


def explicit_maml_gradient(model, tasks, inner_lr, steps, create_graph):
    """Independent MAML: an explicit torch.autograd.grad(create_graph=...) loop over tasks."""
    names = [n for n, _ in model.named_parameters()]
    theta = [p.detach().clone().requires_grad_(True) for _, p in model.named_parameters()]
    total = 0
    for t in tasks:
        w = list(theta)
        for _ in range(steps):
            loss = F.cross_entropy(functional_call(model, dict(zip(names, w)), (t.support_x,)), t.support_y)
            g = torch.autograd.grad(loss, w, create_graph=create_graph)
            w = [wi - inner_lr * gi for wi, gi in zip(w, g)]
        total = total + F.cross_entropy(functional_call(model, dict(zip(names, w)), (t.query_x,)), t.query_y)
    return dict(zip(names, torch.autograd.grad(total / len(tasks), theta)))


def maml_query_loss(model, params, task, inner_lr, steps) -> float:
    """MAML's meta-loss by its definition: ``steps`` SGD steps on the support set from ``params``, then the query loss."""
    fast = {n: v.clone().requires_grad_(True) for n, v in params.items()}
    for _ in range(steps):
        loss = F.cross_entropy(functional_call(model, fast, (task.support_x,)), task.support_y)
        g = torch.autograd.grad(loss, list(fast.values()))
        fast = {n: fast[n] - inner_lr * gi for n, gi in zip(fast, g)}
    with torch.no_grad():
        return F.cross_entropy(functional_call(model, fast, (task.query_x,)), task.query_y).item()


@pytest.mark.parametrize("steps", [1, 2])
def test_maml_meta_gradient_equals_explicit_second_order(steps):
    model = tiny_model()
    ours, _ = grads_of("maml", model, TASKS, inner_lr=0.3, inner_steps=steps)
    ref = explicit_maml_gradient(model, TASKS, 0.3, steps, create_graph=True)
    for n in ours:
        torch.testing.assert_close(ours[n], ref[n], rtol=1e-9, atol=1e-11)


def test_maml_meta_gradient_matches_finite_differences():
    model = tiny_model()
    ours, _ = grads_of("maml", model, TASKS[:1], inner_lr=0.3, inner_steps=2)
    names = [n for n, _ in model.named_parameters()]
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    t = TASKS[0]

    def meta_loss(params):
        return maml_query_loss(model, params, t, 0.3, 2)

    eps = 1e-6
    for n in names:
        flat = base[n].view(-1)
        for i in range(0, flat.numel(), max(1, flat.numel() // 5)):
            old = flat[i].item()
            flat[i] = old + eps
            up = meta_loss(base)
            flat[i] = old - eps
            down = meta_loss(base)
            flat[i] = old
            assert ours[n].view(-1)[i].item() == pytest.approx((up - down) / (2 * eps), rel=1e-4, abs=1e-7)


def test_fomaml_equals_first_order_definition():
    """FOMAML meta-gradient = mean over tasks of dL_query/dtheta' at theta' (no Hessian)."""
    model = tiny_model()
    ours, _ = grads_of("fomaml", model, TASKS, inner_lr=0.3, inner_steps=2)
    ref = explicit_maml_gradient(model, TASKS, 0.3, 2, create_graph=False)
    for n in ours:
        torch.testing.assert_close(ours[n], ref[n], rtol=1e-9, atol=1e-11)
    so, _ = grads_of("maml", tiny_model(), TASKS, inner_lr=0.3, inner_steps=2)
    assert any(not torch.allclose(ours[n], so[n], rtol=1e-4) for n in ours)


def test_reptile_update_equals_formula():
    eps, inner_lr, steps = 0.7, 0.1, 3
    model = tiny_model()
    theta = {n: p.detach().clone() for n, p in model.named_parameters()}
    algo = algorithms.create("reptile", model, lr=eps, inner_lr=inner_lr, inner_steps=steps, inner_optimizer="sgd",
                             inner_batch=0, train_shots=0)
    algo.train_step(TASKS)
    ref_model = tiny_model()
    expect = {n: torch.zeros_like(v) for n, v in theta.items()}
    for t in TASKS:  # plain SGD on the task's data, by hand
        m = copy.deepcopy(ref_model)
        x, y = torch.cat([t.support_x, t.query_x]), torch.cat([t.support_y, t.query_y])
        for _ in range(steps):
            m.zero_grad()
            F.cross_entropy(m(x), y).backward()
            with torch.no_grad():
                for p in m.parameters():
                    p -= inner_lr * p.grad
        for n, p in m.named_parameters():
            expect[n] += (p.detach() - theta[n]) / len(TASKS)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), theta[n] + eps * expect[n], rtol=1e-9, atol=1e-11)


def test_reptile_with_the_authors_inner_loop_equals_adam_beta1_0_on_mini_batches():
    """openai/supervised-reptile: Adam (beta1 = 0, TF defaults otherwise) on mini-batches
    drawn without replacement from a stream of reshuffles (12 examples in batches of 5: the
    third batch wraps into the next shuffle); its second moments carry over from task to task."""
    lr, eps, steps, batch = 0.01, 0.5, 4, 5
    model = tiny_model()
    theta = {n: p.detach().clone() for n, p in model.named_parameters()}
    algo = algorithms.create("reptile", model, lr=eps, inner_lr=lr, inner_steps=steps, inner_batch=batch, lr_final=-1)
    ref = tiny_model()
    torch.manual_seed(5)
    algo.train_step(TASKS)
    torch.manual_seed(5)
    v = {n: torch.zeros_like(p) for n, p in ref.named_parameters()}
    t = 0
    expect = {n: torch.zeros_like(p) for n, p in theta.items()}
    for task in TASKS:
        m = copy.deepcopy(ref)
        x, y = torch.cat([task.support_x, task.query_x]), torch.cat([task.support_y, task.query_y])
        stream = []  # supervised_reptile.reptile._mini_batches: shuffles, one after another, cut into batches
        while len(stream) < steps * batch:
            stream += torch.randperm(len(y)).tolist()
        for i in range(steps):
            idx = torch.tensor(stream[i * batch: (i + 1) * batch])
            m.zero_grad()
            F.cross_entropy(m(x[idx]), y[idx]).backward()
            t += 1
            with torch.no_grad():
                for n, p in m.named_parameters():
                    v[n] = 0.999 * v[n] + 0.001 * p.grad ** 2
                    p -= lr * (1 - 0.999 ** t) ** 0.5 * p.grad / (v[n].sqrt() + 1e-8)
        for n, p in m.named_parameters():
            expect[n] += (p.detach() - theta[n]) / len(TASKS)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), theta[n] + eps * expect[n], rtol=1e-7, atol=1e-9)


def test_reptile_outer_step_is_annealed_linearly_and_trains_on_train_shots():
    algo = algorithms.create("reptile", tiny_model(), lr=1.0, lr_final=0.0, train_shots=12)
    for step, want in ((0, 1.0), (25, 0.75), (100, 0.0)):
        algo.progress(step, 100)
        assert algo.optimizer.param_groups[0]["lr"] == pytest.approx(want)
    assert algo.train_task(5, 1, 15) == (5, 11, 1)  # 12 training examples per class, tested at 1 shot
    assert algorithms.create("reptile", tiny_model(), train_shots=0).train_task(5, 1, 15) == (5, 1, 15)


def test_protonet_logits_are_negative_squared_distances_to_class_means():
    emb = torch.randn(6, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    q = torch.randn(5, 4, dtype=torch.float64)
    protos = prototypes(emb, y, 3)
    for c in range(3):
        torch.testing.assert_close(protos[c], emb[y == c].mean(0))
    logits = proto_logits(q, protos)
    for i in range(5):
        for c in range(3):
            assert logits[i, c].item() == pytest.approx(-((q[i] - protos[c]) ** 2).sum().item())
    model = tiny_model()
    algo = algorithms.create("protonet", model)
    t = TASKS[0]
    # the suite's rule: the support set is one batch and the queries another (batch norm normalises each alone)
    fs, fq = model.embed(t.support_x).detach(), model.embed(t.query_x).detach()
    expect = -torch.cdist(fq, prototypes(fs, t.support_y, 3)) ** 2
    torch.testing.assert_close(algo.query_logits(t), expect, rtol=1e-9, atol=1e-9)
    # joint_batch (Snell et al.'s code): one batch of support and queries, so the support features depend on the queries
    joint = algorithms.create("protonet", model, joint_batch=True)
    emb_all = model.embed(torch.cat([t.support_x, t.query_x])).detach()
    ns = len(t.support_y)
    expect_joint = -torch.cdist(emb_all[ns:], prototypes(emb_all[:ns], t.support_y, 3)) ** 2
    torch.testing.assert_close(joint.query_logits(t), expect_joint, rtol=1e-9, atol=1e-9)
    assert not torch.allclose(expect, expect_joint)


def _first_step(grad, lr, optimizer):
    """One step of the supervised branch from its definition: SGD, or Adam's first step (m^ = g, v^ = g^2)."""
    return lr * grad if optimizer == "sgd" else lr * grad / (grad.abs() + 1e-8)


@pytest.mark.parametrize("meta,disc_optimizer,supervised_batch", [
    ("maml", "sgd", "task"), ("reptile", "sgd", "task"), ("maml", "adam", "task"), ("reptile", "adam", "task"),
    ("maml", "sgd", "meta_batch"), ("reptile", "adam", "meta_batch")])
def test_mtl_update_is_the_parents_full_step_plus_the_weighted_supervised_step(meta, disc_optimizer, supervised_batch):
    """theta' = theta_meta + (1 - beta) (theta_disc - theta): Algorithm 1's mix with the meta step scaled by 1/beta.
    theta_disc: one step on the mean loss over every instance of the tasks, each task's images one batch (or, with
    supervised_batch=meta_batch, all of them one batch)."""
    beta, disc_lr = 0.3, 0.05
    model = tiny_model()
    hp = dict(optimizer="sgd", lr=0.2, momentum=0.0, inner_lr=0.1, inner_steps=2, beta=beta, disc_lr=disc_lr,
              disc_optimizer=disc_optimizer, supervised_batch=supervised_batch, train_classes=7)
    algo = algorithms.create(f"mtl_{meta}", model, **hp)
    # theta_meta: the plain meta-learner's step from the same start
    meta_model = copy.deepcopy(model)
    meta_algo = algorithms.create(meta, meta_model, **{k: v for k, v in hp.items()
                                                        if k not in ("beta", "disc_lr", "disc_optimizer", "supervised_batch",
                                                                     "train_classes")})
    torch.manual_seed(11)  # Reptile draws its inner mini-batches from torch's generator: the same draws for both
    meta_algo.train_step(TASKS)
    # theta_disc: one step of the supervised loss on all instances, global labels
    disc_model, head = copy.deepcopy(model), copy.deepcopy(algo.global_head)
    total = sum(len(t.support_g) + len(t.query_g) for t in TASKS)
    for batch in ([[t] for t in TASKS] if supervised_batch == "task" else [TASKS]):
        x = torch.cat([t for task in batch for t in (task.support_x, task.query_x)])
        g = torch.cat([t for task in batch for t in (task.support_g, task.query_g)])
        (F.cross_entropy(head(disc_model.embed(x)), g, reduction="sum") / total).backward()
    head0 = {n: p.detach().clone() for n, p in algo.global_head.named_parameters()}
    torch.manual_seed(11)
    out = algo.train_step(TASKS)
    assert out["supervised_loss"] > 0
    for (n, p), pm, pd in zip(model.named_parameters(), meta_model.parameters(), disc_model.parameters()):
        step = _first_step(pd.grad, disc_lr, disc_optimizer) if pd.grad is not None and not n.startswith("head.") else 0
        torch.testing.assert_close(p.detach(), pm.detach() - (1 - beta) * step, rtol=1e-9, atol=1e-11)
    for (n, p), ph in zip(algo.global_head.named_parameters(), head.parameters()):
        torch.testing.assert_close(p.detach(), head0[n] - (1 - beta) * _first_step(ph.grad, disc_lr, disc_optimizer),
                                   rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("meta", ["maml", "reptile"])
def test_mtl_with_beta_one_is_exactly_its_parent(meta):
    """The meta part takes the parent's full step: no supervised weight leaves the parent's trajectory unchanged."""
    hp = dict(inner_lr=0.1, inner_steps=2)
    algo = algorithms.create(f"mtl_{meta}", tiny_model(), beta=1.0, train_classes=7, **hp)
    parent = algorithms.create(meta, tiny_model(), **hp)
    for _ in range(3):
        torch.manual_seed(5)
        algo.train_step(TASKS)
        torch.manual_seed(5)
        parent.train_step(TASKS)
    for a, b in zip(algo.model.parameters(), parent.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(algorithms.BadHyperparameterError, match="beta = 0 is no meta-learning"):
        algorithms.create(f"mtl_{meta}", tiny_model(), beta=0.0, train_classes=7)


def test_mtl_supervised_branch_learns_as_the_transfer_baseline_does():
    """The supervised part is an effective learner: over the same tasks its loss falls about as much as the
    transfer baseline's pre-training loss (the same optimiser and step)."""
    from algorithms.transfer import supervised_backward

    tasks = [toy_task(s, classes=7) for s in range(6)]
    mtl = algorithms.create("mtl_reptile", tiny_model(), train_classes=7, inner_lr=0.01, inner_steps=2, disc_lr=0.01)
    ref = algorithms.create("transfer", tiny_model(), train_classes=7, lr=0.01)

    def losses():
        with torch.no_grad():
            return (supervised_backward(mtl.model, mtl.global_head, tasks, lambda loss: None)[0],
                    supervised_backward(ref.model, ref.global_head, tasks, lambda loss: None)[0])

    first_m, first_t = losses()
    for i in range(100):
        batch = [tasks[i % 6], tasks[(i + 3) % 6]]
        mtl.train_step(batch)
        ref.train_step(batch)
    last_m, last_t = losses()
    assert last_t < first_t - 0.3  # the reference learns on these tasks
    assert first_m - last_m > 0.5 * (first_t - last_t)  # and so does MTL's supervised branch (beta 0.5: half its steps)


def test_transfer_trains_a_global_head_and_nn_uses_nearest_support():
    model = tiny_model()
    algo = algorithms.create("nearest_neighbour", model, train_classes=7)
    assert algo.global_head.out_features == 7
    t = TASKS[1]
    fs, fq = model.embed(t.support_x).detach(), model.embed(t.query_x).detach()
    nearest = torch.cdist(fq, fs).argmin(1)
    assert torch.equal(algo.query_logits(t).argmax(1), t.support_y[nearest])
    with pytest.raises(algorithms.BadHyperparameterError, match="train_classes"):
        algorithms.create("transfer", tiny_model())


def test_evaluation_does_not_change_the_learned_state():
    for name, hp in (("maml", {}), ("reptile", {}), ("transfer", {"train_classes": 7}), ("finetune", {}), ("mtl_maml", {"train_classes": 7}),
                     ("anil", {}), ("metasgd", {}), ("matching_net", {}), ("baseline_pp", {"train_classes": 7}),
                     ("linear_probe", {"train_classes": 7})):
        model = tiny_model()
        algo = algorithms.create(name, model, **hp)
        before = [p.detach().clone() for p in model.parameters()]
        algo.evaluate(TASKS[0])
        assert all(torch.equal(a, b.detach()) for a, b in zip(before, model.parameters())), name


def test_finetune_needs_no_training():
    assert algorithms.get_class("finetune").trains is False
    assert set(algorithms.available("episodes")) == {
        "maml", "fomaml", "reptile", "mtl_maml", "mtl_reptile", "protonet", "transfer", "nearest_neighbour", "finetune",
        "anil", "metasgd", "matching_net", "baseline_pp", "linear_probe"}
