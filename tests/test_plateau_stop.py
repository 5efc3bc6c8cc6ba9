"""Train to the plateau (``--stop-at-plateau MIN``): the tables' criterion applied while training, with the
budget as a cap; part of the configuration key; a resumed run that had stopped trains no further."""
import dataclasses
from types import SimpleNamespace

import pytest
import torch

from benchmark.cli import main
from benchmark.plan import Overrides, PlanError, build_plan
from benchmark.suites.fewshot import FewShotSession


def _history(points):
    return [{"iteration": t, "val_acc": v / 100} for t, v in points]


def test_the_rule_is_the_tables_criterion_from_the_minimum_on():
    s = SimpleNamespace(plateau_min=40, unit="iteration")
    flat = _history([(10, 50), (20, 60), (30, 60.2), (40, 60.3), (50, 60.4)])
    assert not FewShotSession.stop(s, flat[:3])  # before the minimum
    assert FewShotSession.stop(s, flat[:4])  # t = 40: best 60.3 vs best at 32 (60.2): +0.1 pp < 0.5
    rising = _history([(10, 50), (20, 60), (30, 61), (40, 62), (50, 62.6)])
    assert not FewShotSession.stop(s, rising[:4]) and not FewShotSession.stop(s, rising)  # +1.0, +0.6 pp at t = 50
    assert not FewShotSession.stop(SimpleNamespace(plateau_min=None, unit="iteration"), flat)  # a fixed budget


def test_the_rule_is_part_of_the_key_and_a_fewshot_flag():
    o = Overrides(algorithms=["protonet"], seeds=[0])
    fixed = build_plan("fewshot", "quick", o)[0]
    rule = build_plan("fewshot", "quick", dataclasses.replace(o, stop_at_plateau=100))[0]
    assert fixed.plateau_min is None and rule.plateau_min == 100 and fixed.key() != rule.key()
    assert rule.flat_params()["plateau_min"] == "100"
    assert dataclasses.replace(fixed, plateau_min=None).key() == fixed.key()  # fixed-budget runs keep their keys
    with pytest.raises(PlanError, match="few-shot suite"):
        build_plan("standard", "quick", Overrides(seeds=[0], stop_at_plateau=5))


def test_a_stopped_run_stops_early_and_a_resume_trains_no_further():
    import datasets
    from benchmark.run.loop import train
    from benchmark.suites import get_suite

    o = Overrides(algorithms=["protonet"], meta_iterations=200, test_episodes=4, seeds=[0], hparams={"lr": 1e-12})
    spec = build_plan("fewshot", "quick", o)[0]  # lr 1e-12: no learning, a flat validation curve
    spec = dataclasses.replace(spec, val_every=10, val_episodes=3, plateau_min=30)
    data = datasets.get_episodic("glyphs")
    suite, device = get_suite("fewshot"), torch.device("cpu")
    states = []
    out = train(suite.session(spec, data, device), "stop", lambda rnd, rec: None, progress=False, on_checkpoint=states.append)
    assert out["meta_iterations_run"] == 30 and out["stopped_at_plateau"] == 1.0
    assert [s["position"]["round"] for s in states] == [10, 20, 30]
    again = train(suite.session(spec, data, device), "again", lambda rnd, rec: None, progress=False, resume=states[-1])
    assert again["meta_iterations_run"] == 30 and again["test_acc"] == out["test_acc"]


def test_stop_at_plateau_on_the_standard_suite_is_one_line(capsys):
    assert main(["run", "--suite", "standard", "--stop-at-plateau", "5", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "few-shot suite" in err


def test_best_val_scores_the_weights_of_the_best_validation_point():
    """``--test-weights best-val``: the test scores the weights saved at the validation point with the highest
    accuracy (the first one, if tied), not the last iteration's; the final validation metrics are that point's."""
    import datasets
    from benchmark.run.loop import load_weights, train
    from benchmark.suites import get_suite
    from benchmark.suites.fewshot import test_metrics

    o = Overrides(algorithms=["protonet"], meta_iterations=30, test_episodes=4, seeds=[0], hparams={"lr": 0.05})
    spec = dataclasses.replace(build_plan("fewshot", "quick", o)[0], val_every=10, val_episodes=4)
    best_spec = dataclasses.replace(spec, test_weights="best-val")
    assert best_spec.key() != spec.key() and best_spec.flat_params()["test_weights"] == "best-val"
    data = datasets.get_episodic("glyphs")
    suite, device = get_suite("fewshot"), torch.device("cpu")
    records, best = [], {}
    session = suite.session(best_spec, data, device)
    out = train(session, "best", lambda rnd, rec: records.append(rec), progress=False, best=best)
    top = max(records, key=lambda r: r["val_acc"])
    assert out["selected_iteration"] == top["iteration"] == best["round"] and out["final_val_acc"] == top["val_acc"]
    fresh = suite.session(best_spec, data, device)
    load_weights(fresh.algorithm, best["weights"])
    assert test_metrics(fresh.algorithm, fresh.sets["test"])["test_episode_acc"] == out["test_episode_acc"]
    with pytest.raises(PlanError, match="few-shot suite"):
        build_plan("standard", "quick", Overrides(seeds=[0], test_weights="best-val"))
