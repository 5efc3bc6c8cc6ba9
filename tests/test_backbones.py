"""The few-shot backbones of issue 33 (ResNet-12, CloserLook's ResNet-10/18, Conv-4 max-pooled and strided): parameter
counts worked out from their definitions, the embed/head interface every episodic algorithm uses, and the MAML family
through them (functional forward, batch norm at every inner step) against an independent second-order gradient."""
import pytest
import torch

import algorithms
from benchmark.models import count_parameters, create_model, set_batchnorm

from .stores import mlflow_sqlite
from .test_fewshot_algorithms import explicit_maml_gradient, grads_of, maml_query_loss


def conv(cin, cout, k=3):
    return cin * cout * k * k  # bias-free, followed by batch norm


def bn(c):
    return 2 * c


def resnet12_params(cin=3, ways=5):
    total, c = 0, cin
    for w in (64, 160, 320, 640):
        total += conv(c, w) + conv(w, w) * 2 + bn(w) * 3 + conv(c, w, 1) + bn(w)
        c = w
    return total + 640 * ways + ways


def closer_look_params(blocks, cin=3, ways=5):
    total, c = conv(cin, 64, 7) + bn(64), 64
    for stage, (w, n) in enumerate(zip((64, 128, 256, 512), blocks)):
        for j in range(n):
            total += conv(c, w) + bn(w) + conv(w, w) + bn(w)
            if (stage > 0 and j == 0) or c != w:
                total += conv(c, w, 1) + bn(w)
            c = w
    return total + 512 * ways + ways


@pytest.mark.parametrize("name,size,features,params", [
    ("resnet12", 84, 640, resnet12_params()),
    ("resnet12-dropblock", 32, 640, resnet12_params()),
    ("resnet10-fs", 84, 512, closer_look_params((1, 1, 1, 1))),
    ("resnet18-fs", 84, 512, closer_look_params((2, 2, 2, 2))),
    ("conv4-64", 84, 64 * 5 * 5, 4 * 64 * 2 + 3 * 64 * 9 + 64 + 3 * (64 * 64 * 9 + 64) + 64 * 25 * 5 + 5),
])
def test_backbone_parameters_features_and_interface(name, size, features, params):
    m = create_model(name, 5, 3, size)
    assert count_parameters(m) == params and m.feature_dim == features
    x = torch.randn(4, 3, size, size)
    assert m.embed(x).shape == (4, features) and m(x).shape == (4, 5)


def test_resnet12_is_the_rfs_size_and_dropblock_acts_in_training_only():
    assert count_parameters(create_model("resnet12", 64, 3, 84)) == pytest.approx(12.4e6, rel=0.01)  # RFS: 12.4M
    m = create_model("resnet12-dropblock", 5, 3, 32)
    x = torch.randn(6, 3, 32, 32)
    m.eval()
    assert torch.equal(m.embed(x), m.embed(x))
    m.train()
    torch.manual_seed(0)
    a = m.embed(x)
    torch.manual_seed(1)
    assert not torch.equal(a, m.embed(x))


def _task(ways=3, shots=1, queries=2, size=16, seed=0):
    from types import SimpleNamespace

    g = torch.Generator().manual_seed(seed)
    return SimpleNamespace(
        support_x=torch.randn(ways * shots, 3, size, size, generator=g, dtype=torch.float64),
        support_y=torch.arange(ways).repeat_interleave(shots),
        query_x=torch.randn(ways * queries, 3, size, size, generator=g, dtype=torch.float64),
        query_y=torch.arange(ways).repeat_interleave(queries),
        support_g=torch.arange(ways).repeat_interleave(shots), query_g=torch.arange(ways).repeat_interleave(queries))


@pytest.mark.parametrize("name,size", [("resnet12", 16), ("resnet10-fs", 32)])
def test_maml_through_a_resnet_backbone_is_the_explicit_second_order_gradient(name, size):
    """MAML's meta-gradient through the backbone (every conv and batch-norm parameter adapted, batch statistics
    recomputed at each inner step) equals an independent torch.autograd.grad(create_graph=True) loop, and a
    directional finite difference of the meta-loss."""
    torch.manual_seed(0)
    model = create_model(name, 3, 3, size).double()
    task = _task(size=size)
    ours, _ = grads_of("maml", model, [task], inner_lr=0.01, inner_steps=2)
    ref = explicit_maml_gradient(model, [task], 0.01, 2, create_graph=True)
    for n in ours:
        torch.testing.assert_close(ours[n], ref[n], rtol=1e-7, atol=1e-10)
    names = [n for n, _ in model.named_parameters()]
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    direction = {n: torch.randn_like(v) for n, v in base.items()}
    norm = sum(float((d**2).sum()) for d in direction.values()) ** 0.5
    direction = {n: d / norm for n, d in direction.items()}  # a unit direction: the step stays within the linear range

    def meta_loss(eps):
        return maml_query_loss(model, {n: base[n] + eps * direction[n] for n in names}, task, 0.01, 2)

    eps = 1e-7  # the meta-loss is sharply curved on 3 images (1e-6 to 1e-8 agree to 5 digits, 1e-5 does not)
    fd = (meta_loss(eps) - meta_loss(-eps)) / (2 * eps)
    assert sum(float((ours[n] * direction[n]).sum()) for n in names) == pytest.approx(fd, rel=1e-4)


@pytest.mark.parametrize("name", ["resnet12", "resnet18-fs"])
@pytest.mark.parametrize("algorithm", ["protonet", "fomaml", "anil", "baseline_pp"])
def test_episodic_algorithms_train_and_predict_on_the_resnets(name, algorithm):
    """One meta-training step and a prediction per algorithm family (metric, first-order, head-only, transfer), in
    both batch-norm modes."""
    for mode in ("transductive", "inductive"):
        torch.manual_seed(0)
        model = set_batchnorm(create_model(name, 3, 3, 16), mode)
        algo = algorithms.create(algorithm, model, train_classes=3) if algorithm == "baseline_pp" else algorithms.create(algorithm, model)
        task = _task()
        task = type(task)(**{k: (v.float() if v.dtype == torch.float64 else v) for k, v in vars(task).items()})
        out = algo.train_step([task])
        assert all(torch.isfinite(torch.tensor(float(v))) for v in out.values())
        assert algo.query_logits(task).shape == (len(task.query_y), 3)


@pytest.mark.slow
def test_resnet12_on_cifar_fs_runs_end_to_end(cifar100, tmp_path, capsys):
    """A quick-scale grid with ResNet-12 on a CIFAR-FS fixture in the real pickle format: protonet, maml and
    baseline_pp beside the transfer baseline through run, leaderboard and evaluate, the split's hash recorded."""
    from benchmark.cli import main
    from benchmark.track.tracking import Tracker

    uri = mlflow_sqlite(tmp_path / "m.db")
    root = str(cifar100["folder"].parent)
    assert main(["run", "--suite", "fewshot", "--dataset", "cifar-fs", "--data-root", root, "--model", "resnet12",
                 "--algorithm", "transfer", "protonet", "maml", "baseline_pp", "--seeds", "0", "--meta-iterations", "2",
                 "--meta-batch", "1", "--queries", "2", "--test-episodes", "4", "--set", "inner_steps=1",
                 "--set", "test_inner_steps=1", "--set", "finetune_steps=2", "--tracking-uri", uri, "--keep-weights", "final",
                 "--checkpoint-dir", str(tmp_path / "ck"), "--out", str(tmp_path / "res"), "--no-progress"]) == 0
    runs = [r for r in Tracker(uri, "fewshot").runs() if "algorithm" in r.data.tags]  # not the grid's parent run
    assert len(runs) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.tags["model"] for r in runs} == {"resnet12"} and all(len(r.data.tags["data.split_hash"]) == 16 for r in runs)
    assert main(["leaderboard", "--suite", "fewshot", "--tracking-uri", uri, "--out", str(tmp_path / "lb")]) == 0
    assert "## cifar-fs / resnet12 / 5-way 1-shot" in (tmp_path / "lb" / "fewshot.md").read_text()
    maml = next(r for r in runs if r.data.tags["algorithm"] == "maml")
    capsys.readouterr()
    assert main(["evaluate", "--run", maml.info.run_id, "--tracking-uri", uri, "--weights", "final"]) == 0
    assert "maml seed 0" in capsys.readouterr().out


def test_perf_measures_a_few_shot_backbone_and_refuses_one_without_a_head(capsys):
    from benchmark.cli import main

    assert main(["perf", "--suite", "fewshot", "--model", "resnet12", "--image-size", "16", "--meta-batch", "1", "--queries",
                 "1", "--steps", "1", "--rounds", "1", "--algorithm", "protonet"]) == 0
    out = capsys.readouterr().out
    assert "perf fewshot: resnet12, 5-way 1-shot 1-query 16x16 tasks" in out and "protonet" in out
    assert main(["perf", "--suite", "fewshot", "--model", "cnet1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a few-shot backbone" in err and "\n" not in err


def _quick_run(tmp_path, dataset: str, root, model: str, extra=()) -> int:
    from benchmark.cli import main

    tmp_path.mkdir(parents=True, exist_ok=True)
    return main(["run", "--suite", "fewshot", "--dataset", dataset, "--data-root", str(root), "--model", model,
                 "--algorithm", "transfer", "protonet", "--seeds", "0", "--meta-iterations", "2", "--meta-batch", "1",
                 "--queries", "1", "--test-episodes", "3", "--set", "finetune_steps=2", "--tracking-uri",
                 mlflow_sqlite(tmp_path / "m.db"), "--checkpoint-dir", str(tmp_path / "ck"), "--out", str(tmp_path / "res"),
                 "--no-progress", *extra])


@pytest.mark.slow
def test_fc100_tiered_and_cub_run_end_to_end_on_the_other_backbones(cifar100, tmp_path, capsys):
    """Every new dataset through `run` from a fixture in its real format, each on one of the other backbones:
    FC100 on CloserLook's ResNet-18, tieredImageNet (MetaOptNet's npz) on the max-pooled Conv-4-64, CUB (the official
    layout, CloserLook's split) on ResNet-10."""
    from .fewshot_fixtures import make_cub, make_tiered

    assert _quick_run(tmp_path / "fc", "fc100", cifar100["folder"].parent, "resnet18-fs") == 0
    make_tiered(tmp_path / "t", classes=(6, 5, 6))
    assert _quick_run(tmp_path / "t", "tiered-imagenet", tmp_path / "t", "conv4-64") == 0
    make_cub(tmp_path / "c")
    assert _quick_run(tmp_path / "c", "cub", tmp_path / "c", "resnet10-fs") == 0
    out = capsys.readouterr().out
    assert all(f"{d}-" in out for d in ("fc100-resnet18-fs", "tiered-imagenet-conv4-64", "cub-resnet10-fs")), out


def test_a_wrong_cub_layout_and_a_corrupt_tiered_cache_are_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "cub" / "CUB_200_2011" / "images" / "birds").mkdir(parents=True)
    assert _quick_run(tmp_path, "cub", tmp_path / "cub", "conv4-64") == 2
    err = capsys.readouterr().err.strip()
    assert "CUB" in err and "\n" not in err
    from .fewshot_fixtures import make_tiered

    base = make_tiered(tmp_path / "t", classes=(6, 5, 6))
    (base / "test_images.npz").write_bytes(b"not an npz")
    assert _quick_run(tmp_path, "tiered-imagenet", tmp_path / "t", "conv4-64") == 2
    err = capsys.readouterr().err.strip()
    assert "test_images.npz" in err and "\n" not in err
    assert _quick_run(tmp_path, "cub", tmp_path / "nowhere", "cnet1") == 2  # a backbone without embed/head
    assert "cnet1" in capsys.readouterr().err
