"""Protocol fidelity: the built-in profiles resolve to the papers' values (with their
sources in benchmark/suites/fewshot.py), the reference numbers map to the algorithm whose
protocol produced them, and `list --protocol` shows every profile's deviations."""
import pytest

import algorithms
from benchmark.cli import main
from benchmark.plan import Overrides, build_plan
from benchmark.report import references
from benchmark.suites import SUITES


def _spec(profile, algorithm, ways, shots, suite="fewshot"):
    specs = build_plan(suite, profile, Overrides(algorithms=[algorithm], seeds=[0]))
    return next(s for s in specs if (s.ways, s.shots) == (ways, shots))


def test_reptile_omniglot_follows_the_authors_commands():
    """openai/supervised-reptile README: 5-shot 5-way Omniglot."""
    s = _spec("omniglot", "reptile", 5, 5)
    hp = s.hparams
    assert (hp.train_shots, hp.inner_batch, hp.inner_steps, hp.inner_lr, hp.lr, hp.lr_final) == (10, 10, 5, 0.0015, 0.7, 0.0)
    assert (s.meta_batch, s.meta_iterations, hp.test_inner_batch, hp.test_inner_steps) == (5, 100000, 6, 100)
    assert hp.inner_optimizer == "adam" and s.model == "conv4-64-strided"
    one = _spec("omniglot", "reptile", 20, 1).hparams
    assert (one.train_shots, one.inner_batch, one.inner_steps, one.inner_lr) == (9, 15, 12, 0.00046)
    mini = _spec("mini-imagenet", "reptile", 5, 1)
    assert (mini.hparams.inner_steps, mini.hparams.lr, mini.meta_batch, mini.meta_iterations) == (19, 0.235, 2, 200000)


def test_maml_and_protonet_follow_their_papers():
    m5 = _spec("omniglot", "maml", 5, 1)
    assert (m5.hparams.inner_lr, m5.hparams.inner_steps, m5.hparams.test_inner_steps, m5.meta_batch, m5.meta_iterations) == (
        0.4, 1, 3, 32, 60000)
    m20 = _spec("omniglot", "maml", 20, 5)
    assert (m20.hparams.inner_lr, m20.hparams.inner_steps, m20.hparams.test_inner_steps, m20.meta_batch) == (0.1, 5, 5, 16)
    assert _spec("mini-imagenet", "maml", 5, 5).meta_batch == 2  # the paper's value (the code's README says 4)
    p = _spec("omniglot", "protonet", 5, 1)
    assert (p.hparams.train_ways, p.hparams.train_queries, p.hparams.lr_halve_every, p.meta_batch) == (60, 5, 2000, 1)
    assert _spec("mini-imagenet", "protonet", 5, 5).hparams.train_ways == 20
    # every algorithm of a table is tested on the same fixed episodes
    specs = build_plan("fewshot", "omniglot", Overrides(seeds=[0], ways=[5], shots=[1]))
    assert len({(s.queries, s.test_episodes, s.eval_seed) for s in specs}) == 1


def test_reptile_keeps_its_own_values_at_20_ways():
    """The 20-way MAML values (alpha 0.1, 5 steps) are MAML's, not every algorithm's."""
    assert _spec("omniglot", "reptile", 20, 5).hparams.inner_lr == 0.00046
    assert _spec("omniglot", "transfer", 20, 5).hparams.finetune_lr == 0.1


def test_standard_paper_profile_trains_on_the_whole_training_set():
    s = build_plan("standard", "paper", Overrides(seeds=[0]))[0]
    assert s.val_fraction == 0.0 and s.scale == "paper"
    kept = build_plan("standard", "paper", Overrides(seeds=[0], keep_val_split=True))[0]
    assert kept.val_fraction == 0.1 and "held out for validation" in kept.scale_note
    assert build_plan("standard", "quick", Overrides(seeds=[0]))[0].val_fraction == 0.1


NOT_BUILT = {"matchingnet"}  # reported by a paper, not yet an algorithm here (issue 15)


def test_every_reference_row_maps_to_the_algorithm_whose_protocol_produced_it():
    rows = references.load()
    for r in rows:
        assert r.algorithm in algorithms.available() or r.algorithm in NOT_BUILT, r
        assert r.algorithm in algorithms.available(SUITES[r.suite].consumes) or r.algorithm in NOT_BUILT, r
    # Ravi & Larochelle's fine-tuning baseline (quoted in Finn et al. Table 2) fine-tunes a network pre-trained on
    # the training classes: that is `transfer`; `finetune` trains from scratch and no paper here reports it.
    finn = {(r.algorithm, r.setting): r.value for r in rows if r.source.startswith("Finn2017") and r.dataset == "mini-imagenet"}
    assert finn[("transfer", "5-way 1-shot")] == 28.86 and finn[("transfer", "5-way 5-shot")] == 49.79
    assert not [r for r in rows if r.algorithm == "finetune"]


@pytest.mark.parametrize("suite,profile", [(s, p) for s, suite in SUITES.items() for p in suite.profiles])
def test_list_protocol_shows_every_profile_with_its_deviations(suite, profile, capsys):
    assert main(["list", "--protocol", profile, "--suite", suite]) == 0
    out = capsys.readouterr().out
    assert f"--suite {suite} --profile {profile}" in out
    assert "[!]" in out or "[=]" in out  # every profile records at least one deviation or decision
    assert "model" in out


def test_list_protocol_of_an_unknown_profile_is_one_line(capsys):
    assert main(["list", "--protocol", "huge"]) == 2
    assert "unknown profile 'huge'" in capsys.readouterr().err
