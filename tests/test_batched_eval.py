"""Scoring episodes as batched work (``--eval-batch``) gives the per-episode loop's predictions, for
every episodic algorithm in both batch-norm modes; the loop (``--eval-batch 1``) is the reference."""
import pytest
import torch

import algorithms
from benchmark.models import create_model, set_batchnorm
from benchmark.suites.scoring import auto_block, episode_accuracies
from datasets import ClassSplit, EpisodeSampler, LabelLeakError

WAYS, SHOTS, QUERIES = 5, 2, 3
FEWER_STEPS = {"finetune": {"finetune_steps": 5}, "baseline_pp": {"finetune_epochs": 10},  # the same procedure, shorter
               "reptile": {"inner_steps": 2}, "mtl_reptile": {"inner_steps": 2}}


def structured_split(classes: int = 12, per_class: int = 8, size: int = 28, seed: int = 0) -> ClassSplit:
    """Each class a random pattern plus noise, so a few training steps give non-trivial predictions."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.rand(classes, 1, size, size, generator=g) * 200
    images = protos.repeat_interleave(per_class, 0) + torch.randn(classes * per_class, 1, size, size, generator=g) * 30
    labels = torch.arange(classes).repeat_interleave(per_class)
    return ClassSplit(images.clamp(0, 255).to(torch.uint8), labels, [str(c) for c in range(classes)])


def trained(name: str, mode: str):
    torch.manual_seed(0)
    model = set_batchnorm(create_model("conv4-32", WAYS, 1, 28), mode)
    algo = algorithms.create(name, model, train_classes=12, **FEWER_STEPS.get(name, {}))
    sampler = EpisodeSampler(structured_split(seed=1), WAYS, SHOTS, QUERIES)
    g = torch.Generator().manual_seed(0)
    if algo.trains:
        for _ in range(3):
            algo.train_step([sampler.sample(g) for _ in range(2)])
    return algo


def cases():
    for name in algorithms.available("episodes"):
        for mode in algorithms.get_class(name).bn_modes:
            yield pytest.param(name, mode, id=f"{name}-{mode}")


@pytest.mark.parametrize("name,mode", list(cases()))
def test_blocks_give_the_loops_predictions(name, mode):
    algo = trained(name, mode)
    episodes = EpisodeSampler(structured_split(seed=2), WAYS, SHOTS, QUERIES).fixed(11, "toy", "test", 0)
    fingerprint = episodes.fingerprint()
    torch.manual_seed(5)  # Reptile's inner mini-batches: the same draws on both paths
    loop = [algo.query_logits(t) for t, _ in episodes.labelled()]
    torch.manual_seed(5)
    blocks = [lg for block, _ in episodes.blocks(4) for lg in algo.query_logits_block(block)]  # 4 + 4 + 3 episodes
    assert len(blocks) == len(loop) == 11
    same = torch.cat([(a.argmax(-1) == b.argmax(-1)) for a, b in zip(loop, blocks)])
    assert same.all(), f"{int((~same).sum())} of {len(same)} queries change their prediction"
    if name != "linear_probe":  # scikit-learn's solver stops at 1e-4; the block's L-BFGS at the optimum
        for a, b in zip(loop, blocks):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    torch.manual_seed(5)
    acc_loop = episode_accuracies(algo, episodes, eval_batch=1)
    torch.manual_seed(5)
    acc_block = episode_accuracies(algo, episodes, eval_batch=0)
    assert acc_block == pytest.approx(acc_loop, abs=1e-9)
    assert episodes.fingerprint() == fingerprint  # scoring never changes the episodes


@pytest.mark.parametrize("name", ["protonet", "matching_net", "transfer", "anil"])
def test_the_vmap_path_of_per_episode_statistics_gives_the_loops_predictions(name, monkeypatch):
    """On CUDA the episodes' support (and query) batches go through one vmap with batch norm per episode; forced
    here on the CPU, it must give the loop's logits."""
    import algorithms.batched as batched

    algo = trained(name, "transductive")
    algo.model.eval()
    episodes = EpisodeSampler(structured_split(seed=2), WAYS, SHOTS, QUERIES).fixed(5, "toy", "test", 0)
    loop = torch.stack([algo.query_logits(t) for t, _ in episodes.labelled()])
    monkeypatch.setattr(batched, "VMAP_DEVICES", ("cuda", "cpu"))
    block, _ = next(episodes.blocks(5))
    torch.testing.assert_close(algo.query_logits_block(block), loop, rtol=1e-4, atol=1e-4)


def test_per_sample_features_are_computed_once_per_image():
    """Inductive batch norm: every test image goes through the network once per evaluation, however many
    episodes (and blocks) use it."""
    algo = trained("protonet", "inductive")
    episodes = EpisodeSampler(structured_split(seed=2), WAYS, SHOTS, QUERIES).fixed(30, "toy", "test", 0)
    seen = []
    embed = algo.model.embed
    algo.model.embed = lambda x: seen.append(len(x)) or embed(x)
    episode_accuracies(algo, episodes, eval_batch=7)
    used = torch.unique(torch.stack([i for _, i in episodes.indices]))
    assert sum(seen) == len(used) < 30 * WAYS * (SHOTS + QUERIES)


def test_an_algorithm_never_receives_the_query_labels():
    episodes = EpisodeSampler(structured_split(), WAYS, SHOTS, QUERIES).fixed(3, "toy", "test", 0)
    for task, labels in episodes.labelled():
        assert len(labels) == WAYS * QUERIES
        for hidden in ("query_y", "query_g", "support_g"):
            with pytest.raises(LabelLeakError, match="must not read the query labels"):
                getattr(task, hidden)
    block, labels = next(episodes.blocks(3))
    assert labels.shape == (3, WAYS * QUERIES) and not hasattr(block, "query_y")


def test_auto_block_is_bounded_by_memory():
    small = EpisodeSampler(structured_split(), WAYS, SHOTS, QUERIES).fixed(3, "toy", "test", 0)
    assert auto_block(small) == 100
    big = ClassSplit(torch.zeros(40, 3, 84, 84, dtype=torch.uint8), torch.arange(20).repeat_interleave(2), [str(c) for c in range(20)])
    assert 1 <= auto_block(EpisodeSampler(big, 20, 1, 1).fixed(2, "toy", "test", 0)) < 100
    with pytest.raises(ValueError, match="--eval-batch must be >= 0"):
        episode_accuracies(trained("protonet", "transductive"), small, eval_batch=-1)


@pytest.mark.parametrize("name", ["protonet", "matching_net", "nearest_neighbour", "transfer", "baseline_pp", "linear_probe",
                                  "anil"])
def test_grouping_episodes_by_working_set_changes_nothing(name, monkeypatch):
    """Large features are fitted a few episodes at a time (``batched.by_episodes``): one at a time gives the same logits."""
    import algorithms.batched as batched

    algo = trained(name, "inductive")
    algo.model.eval()
    block, _ = next(EpisodeSampler(structured_split(seed=2), WAYS, SHOTS, QUERIES).fixed(5, "toy", "test", 0).blocks(5))
    whole = algo.query_logits_block(block)
    monkeypatch.setattr(batched, "WORKING_SET", 1)
    torch.testing.assert_close(algo.query_logits_block(block), whole, rtol=1e-5, atol=1e-5)


def test_the_default_keeps_the_loop_where_blocks_were_measured_slower():
    """--eval-batch 0 scores transfer and the linear probe one episode at a time for large transductive supports on a
    CPU (perf --suite fewshot --eval: 0.9x and 0.7x at 20-way 15-shot), blocks everywhere else."""
    import algorithms
    from benchmark.models import create_model

    def algo(name, mode):
        from benchmark.models import set_batchnorm

        model = set_batchnorm(create_model("conv4-32", 5, 1, 16), mode)
        model.eval()
        return algorithms.build(name, model, algorithms.make_hparams(name), train_classes=10)

    assert algo("transfer", "transductive").loop_is_faster(300) and algo("linear_probe", "transductive").loop_is_faster(300)
    assert not algo("transfer", "transductive").loop_is_faster(25)
    assert not algo("transfer", "inductive").loop_is_faster(300)  # cached features: blocks win by far
    assert not algo("baseline_pp", "transductive").loop_is_faster(300) and not algo("protonet", "transductive").loop_is_faster(300)


def test_under_autocast_every_device_scores_episodes_as_the_loop(monkeypatch):
    """``vmap`` does not see autocast: on a CPU its output stayed float32 where the loop's was bfloat16, and on an
    H200 (2026-12-04) every fp16 run that scored episodes through it failed inside cudnn_batch_norm. Under autocast
    the per-episode loop runs on every device."""
    import algorithms.batched as batched

    monkeypatch.setattr(batched, "VMAP_DEVICES", ("cuda", "cpu"))
    model = set_batchnorm(create_model("conv4-32", WAYS, 1, 28), "transductive")
    images, rows = torch.randn(12, 1, 28, 28), torch.arange(12).view(3, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False):
        got = batched._per_episode(model.embed, images, rows)
        want = torch.stack([model.embed(images[r]) for r in rows])
    assert got.dtype == want.dtype == torch.bfloat16
    torch.testing.assert_close(got, want)
