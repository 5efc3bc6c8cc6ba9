"""The named reduced profiles (cifar10-reduced, omniglot-alphabets) and the fields they add:
existing runs keep their configuration keys, reduced runs are labelled so, sparse testing
tests the last epoch, and few-shot meta-training tasks take ``train_queries``."""
import dataclasses

import torch

from benchmark.plan import build_plan
from benchmark.plan.overrides import Overrides

from .stores import mlflow_sqlite


def test_existing_configuration_keys_are_unchanged_by_the_new_optional_fields():
    # the keys of these cells at 265a45d, before val_per_class, test_every and train_queries existed
    assert build_plan("standard", "quick", Overrides(seeds=[0]))[0].key() == "89789267dcfe3d07"
    maml = build_plan("fewshot", "quick", Overrides(seeds=[0]))[0]
    # protocol v2 (issue 26) tests MAML with 3 steps in the quick profile, deliberately; with the earlier 0 the key is as it was
    assert (maml.algorithm, maml.hparams.test_inner_steps) == ("maml", 3)
    assert dataclasses.replace(maml, hparams=dataclasses.replace(maml.hparams, test_inner_steps=0)).key() == "c6da1381c2da3fb1"
    spec = build_plan("standard", "quick", Overrides(seeds=[0]))[0]
    changed = {dataclasses.replace(spec, **{f: 5}).key() for f in ("val_per_class", "test_every", "train_queries")}
    assert len(changed) == 3 and spec.key() not in changed  # set, each is part of the configuration


def test_named_reduced_profiles_are_labelled_reduced_with_the_profile_named():
    for suite, profile in (("standard", "cifar10-reduced"), ("fewshot", "omniglot-alphabets")):
        specs = build_plan(suite, profile, Overrides(seeds=[0]))
        assert {s.scale for s in specs} == {"reduced"} and all(f"the {profile} profile" in s.scale_note for s in specs)
    cifar = build_plan("standard", "cifar10-reduced", Overrides(seeds=[0]))
    assert {(s.model, s.train_per_class, s.val_per_class, s.test_every, s.epochs) for s in cifar} == {("cnet1", 200, 100, 10, 30)}
    omni = build_plan("fewshot", "omniglot-alphabets", Overrides(seeds=[0]))
    assert {(s.queries, s.train_queries, s.test_episodes) for s in omni} == {(15, 5, 600)}
    assert len({s.algorithm for s in omni}) == 14 and {s.setting for s in omni} == {"5-way 1-shot", "5-way 5-shot"}


def test_sparse_testing_tests_every_k_epochs_and_always_the_last(tmp_path):
    from benchmark.run.runner import run_grid
    from benchmark.track.tracking import Tracker

    o = Overrides(datasets=["digits"], algorithms=["standard"], seeds=[0], epochs=7)
    (spec,) = build_plan("standard", "cifar10-reduced", o)
    spec = dataclasses.replace(spec, test_every=3, val_per_class=20)
    (res,) = run_grid([spec], Tracker(mlflow_sqlite(tmp_path / "m.db"), "standard"), torch.device("cpu"), progress=False,
                      echo=lambda m: None)
    assert res.status == "FINISHED"
    assert [h["epoch"] for h in res.history if "test_acc" in h] == [3, 6, 7]
    assert all("val_acc" in h for h in res.history)  # the plateau curve: every epoch
    assert res.metrics["final_test_acc"] == res.history[-1]["test_acc"]
    best = max(res.history, key=lambda h: h["val_acc"])
    assert ("test_acc_at_best_val" in res.metrics) == ("test_acc" in best)


def test_meta_training_tasks_take_train_queries_and_test_episodes_keep_queries():
    import datasets
    from benchmark.suites.fewshot import FewShotSession

    o = Overrides(algorithms=["maml"], seeds=[0], meta_iterations=1, test_episodes=2)
    (spec,) = build_plan("fewshot", "quick", o)
    spec = dataclasses.replace(spec, train_queries=2, queries=4, val_episodes=0)
    data = datasets.get_episodic("glyphs")
    session = FewShotSession(spec, data, torch.device("cpu"))
    task = session.sampler.sample(torch.Generator().manual_seed(0))
    test = next(iter(session.sets["test"]))
    assert len(task.query_y) == spec.ways * 2 and len(test.query_y) == spec.ways * 4
