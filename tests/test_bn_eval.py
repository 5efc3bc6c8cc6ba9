"""Batch norm at evaluation (``--bn-eval``): transductive shares the query set's statistics,
inductive classifies each query on its own with running statistics from meta-training;
the mode is part of a run's key, params, name, raw results and table title."""
import dataclasses

import pytest
import torch

import algorithms
from benchmark.cli import main
from benchmark.models import create_model, set_batchnorm
from benchmark.plan import Overrides, build_plan

from .stores import mlflow_sqlite


def _alone_vs_together(model):
    model.eval()
    x = torch.randn(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i:i + 1]) for i in range(len(x))])
    return together, alone


def test_inductive_batchnorm_classifies_each_query_alone_and_transductive_does_not():
    torch.manual_seed(0)
    trans = create_model("conv4-32", 5, 1, 28)
    ind = set_batchnorm(create_model("conv4-32", 5, 1, 28), "inductive")
    ind.train()
    with torch.no_grad():
        ind(torch.randn(20, 1, 28, 28))  # meta-training forwards update the running statistics
    bn = next(m for m in ind.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert bn.track_running_stats and int(bn.num_batches_tracked) == 1 and bn.running_var.ne(1).any()
    together, alone = _alone_vs_together(ind)
    torch.testing.assert_close(together, alone)
    together, alone = _alone_vs_together(trans)
    assert not torch.allclose(together, alone)
    with pytest.raises(ValueError, match="transductive, inductive"):
        set_batchnorm(create_model("conv4-32", 5, 1, 28), "sideways")


def test_maml_functional_inner_loop_updates_the_running_statistics():
    model = set_batchnorm(create_model("conv4-32", 5, 1, 28), "inductive")
    algo = algorithms.create("maml", model)
    from types import SimpleNamespace

    g = torch.Generator().manual_seed(1)
    task = SimpleNamespace(support_x=torch.randn(5, 1, 28, 28, generator=g), support_y=torch.arange(5),
                           query_x=torch.randn(10, 1, 28, 28, generator=g), query_y=torch.arange(5).repeat(2))
    algo.train_step([task])
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert int(bn.num_batches_tracked) == 2  # the support forward and the query forward


def test_the_mode_is_part_of_the_key_and_transductive_keys_are_unchanged():
    o = Overrides(algorithms=["protonet"], seeds=[0])
    trans = build_plan("fewshot", "quick", o)[0]
    ind = build_plan("fewshot", "quick", dataclasses.replace(o, bn_eval="inductive"))[0]
    assert trans.bn_eval == "transductive" and ind.bn_eval == "inductive"
    assert trans.key() != ind.key()
    assert trans.key() == dataclasses.replace(trans, bn_eval="").key()  # the key runs had before the mode existed
    assert "bn-inductive" in ind.run_name and "bn" not in trans.run_name.split("-")
    assert ind.flat_params()["bn_eval"] == "inductive"
    assert build_plan("standard", "quick", Overrides(seeds=[0]))[0].bn_eval == ""


def test_bn_eval_outside_the_fewshot_suite_is_one_line(capsys):
    assert main(["run", "--suite", "standard", "--bn-eval", "inductive", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "few-shot suite only" in err


@pytest.mark.slow
def test_inductive_run_is_its_own_row_and_evaluates_back_exactly(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    uri = mlflow_sqlite(tmp_path / "m.db")
    base = ["run", "--suite", "fewshot", "--algorithm", "protonet", "--meta-iterations", "3", "--test-episodes", "6",
            "--tracking-uri", uri, "--no-progress"]
    assert main(base) == 0
    assert main(base + ["--bn-eval", "inductive"]) == 0
    out = capsys.readouterr().out
    assert "skipped" not in out  # the inductive run did not resume into the transductive one
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=uri)
    runs = [r for r in c.search_runs([c.get_experiment_by_name("fewshot").experiment_id]) if r.data.tags.get("grid_parent") != "1"]
    modes = {r.data.params["bn_eval"]: r for r in runs}
    assert set(modes) == {"transductive", "inductive"}
    src = modes["inductive"]
    assert main(["evaluate", "--run", src.info.run_id, "--tracking-uri", uri]) == 0
    ev = [r for r in c.search_runs([c.get_experiment_by_name("fewshot-evaluate").experiment_id])]
    assert ev[0].data.metrics["test_acc"] == src.data.metrics["test_acc"]  # rebuilt with running statistics
    lb = tmp_path / "lb"
    assert main(["leaderboard", "--suite", "fewshot", "--tracking-uri", uri, "--out", str(lb), "--baseline", "protonet"]) == 0
    md = (lb / "fewshot.md").read_text()
    assert "/ BN inductive" in md and "/ BN transductive" in md


@pytest.mark.parametrize("name", algorithms.available("episodes"))
def test_no_algorithm_normalises_its_support_set_with_the_queries(name):
    """The transductive rule for every algorithm: the support set is one batch, the queries another. A batch's
    statistics do not change when it is duplicated, so classifying the queries twice over must give each query the
    logits it had: a method that put support and queries in one batch (or read the queries while adapting) fails."""
    from types import SimpleNamespace

    from .tiny_episodic import tiny_model, toy_task

    algo = algorithms.create(name, tiny_model(), train_classes=7)
    algo.model.eval()
    t = toy_task(0, queries=3)
    twice = SimpleNamespace(**{**vars(t), "query_x": torch.cat([t.query_x, t.query_x]), "query_y": t.query_y.repeat(2)})
    torch.manual_seed(0)  # Reptile's inner mini-batches: the same draws in both calls
    once = algo.query_logits(t).detach()
    torch.manual_seed(0)
    doubled = algo.query_logits(twice).detach()
    torch.testing.assert_close(doubled, torch.cat([once, once]), rtol=1e-6, atol=1e-8)
    if name in ("protonet", "matching_net"):  # the declared alternative, Snell et al.'s one batch, does depend on them
        joint = algorithms.create(name, tiny_model(), joint_batch=True)
        joint.model.eval()
        assert not torch.allclose(joint.query_logits(twice), torch.cat([joint.query_logits(t)] * 2))
