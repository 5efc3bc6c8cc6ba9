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


NOT_BUILT = {"matching_net_fce"}  # reported by a paper, not an algorithm here (matching_net has no full-context embeddings)


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


def _undeclared(profile):
    """Resolved values of a profile that differ from their source (sources.py) with no deviation covering them."""
    from benchmark.suites.deviations import for_profile
    from benchmark.suites.sources import resolve, sources_for

    devs = for_profile("fewshot", profile)
    out = []
    for spec in build_plan("fewshot", profile, Overrides(seeds=[0])):
        for element, (value, cite) in sources_for(spec.dataset, spec.algorithm, spec.ways, spec.shots).items():
            got = resolve(spec, element)
            if got != value and not any(element in d.covers and (not d.algorithms or spec.algorithm in d.algorithms)
                                        for d in devs):
                out.append(f"{spec.algorithm} {spec.setting} {element}: {got!r}, source {value!r} ({cite})")
    return out


@pytest.mark.parametrize("profile", list(SUITES["fewshot"].profiles))
def test_every_value_that_differs_from_its_source_is_declared(profile):
    assert _undeclared(profile) == []


def test_an_undeclared_difference_from_a_source_fails_the_check(monkeypatch):
    """The check is live: drop the budget declaration of omniglot-alphabets and MAML's 60,000 iterations show up."""
    from benchmark.suites import deviations

    kept = [d for d in deviations.DEVIATIONS[("fewshot", "omniglot-alphabets")] if "meta_iterations" not in d.covers]
    monkeypatch.setitem(deviations.DEVIATIONS, ("fewshot", "omniglot-alphabets"), kept)
    missing = _undeclared("omniglot-alphabets")
    assert any(m.startswith("maml 5-way 1-shot meta_iterations: 10000, source 60000") for m in missing)


def test_fixed_protocol_values():
    """The must-fix items of the fairness audit: Reptile's 5-shot command at 5 shots, Meta-SGD's one step, the
    quick profile's three MAML test steps, MTL's supervised Adam."""
    r5 = _spec("omniglot-alphabets", "reptile", 5, 5)
    assert (r5.hparams.train_shots, r5.hparams.inner_batch, r5.hparams.inner_steps, r5.hparams.inner_lr, r5.hparams.lr,
            r5.hparams.test_inner_batch, r5.hparams.test_inner_steps) == (10, 10, 5, 0.0015, 0.7, 6, 100)
    assert (r5.meta_batch, r5.meta_iterations, r5.plateau_min, r5.val_every) == (8, 10000, 6000, 500)  # the one budget rule
    for profile, ways, shots in (("omniglot", 5, 1), ("omniglot", 20, 5), ("mini-imagenet", 5, 1), ("omniglot-alphabets", 5, 1)):
        hp = _spec(profile, "metasgd", ways, shots).hparams
        assert (hp.inner_steps, hp.test_inner_steps) == (1, 1)
    assert _spec("quick", "maml", 5, 1).hparams.test_inner_steps == 3
    mtl = _spec("omniglot-alphabets", "mtl_reptile", 5, 1).hparams
    assert (mtl.disc_optimizer, mtl.disc_lr) == ("adam", 1e-3)
    assert _spec("mtl-paper", "reptile", 35, 100).hparams.inner_steps == 8  # the miniImageNet 5-shot command


def test_reference_numbers_attach_to_the_runs_that_match_their_protocol():
    """MAML's and Reptile's Omniglot numbers are of the strided net and of batch statistics at test (Reptile's are
    'Reptile + Transduction'); Snell et al.'s of running statistics; the Matching-nets row is the FCE variant."""
    look = references.lookup
    assert look("fewshot", "omniglot", "conv4-64-strided", "maml", "accuracy", "5-way 1-shot", "transductive").value == 98.7
    assert look("fewshot", "omniglot", "conv4-64-strided", "maml", "accuracy", "5-way 1-shot", "inductive") is None
    assert look("fewshot", "omniglot", "conv4-64", "maml", "accuracy", "5-way 1-shot", "transductive") is None
    reptile = look("fewshot", "omniglot", "conv4-64-strided", "reptile", "accuracy", "5-way 1-shot", "transductive")
    assert reptile.value == 97.68 and "Transduction" in reptile.source
    assert look("fewshot", "omniglot", "conv4-64", "protonet", "accuracy", "5-way 1-shot", "inductive").value == 98.8
    assert look("fewshot", "omniglot", "conv4-64", "protonet", "accuracy", "5-way 1-shot", "transductive") is None
    assert look("fewshot", "mini-imagenet", "conv4-32", "matching_net", "accuracy", "5-way 1-shot", "transductive") is None
    mltp = look("standard", "cifar10", "cnet1", "mltp", "top1")
    assert mltp.value == 82.4 and "poster" in mltp.source


def test_a_table_of_earlier_protocol_runs_says_so_and_a_current_one_lists_its_deviations():
    import pandas as pd

    from benchmark.report.leaderboard import _protocol_lines

    rows = pd.DataFrame({"algorithm": ["protonet", "maml"], "protocol": [3, 3]})
    now = _protocol_lines("fewshot", "omniglot-alphabets", rows)[0]
    assert now.startswith("Protocol: v3; ") and "[!] test-time information rule" in now and "[!] budget" in now
    v2 = _protocol_lines("fewshot", "omniglot-alphabets", rows.assign(protocol=[2, 3]))[0]
    assert "measured under protocol v2" in v2 and "as ONE batch" in v2
    old = _protocol_lines("fewshot", "omniglot-alphabets", rows.assign(protocol=[1, 3]))[0]
    assert "measured under protocol v1" in old and "normalised the support set together with the queries" in old
    assert "[!] budget" not in old  # the current declarations do not describe those runs
    assert _protocol_lines("fewshot", "omniglot-alphabets", rows.drop(columns="protocol"))[0].startswith(
        "Protocol: measured under protocol v1")  # raw results written before protocol versions


@pytest.mark.parametrize("profile,model,algorithm,setting,value", [
    ("libfewshot", "conv4-64", "maml", "5-way 1-shot", 49.55),
    ("libfewshot", "conv4-64", "linear_probe", "5-way 5-shot", 65.88),  # RFS-simple
    ("libfewshot", "resnet12", "protonet", "5-way 5-shot", 75.02),
    ("closer-look", "conv4-64", "baseline_pp", "5-way 1-shot", 48.24),
    ("closer-look", "resnet18-fs", "protonet", "5-way 1-shot", 54.16),
])
def test_the_anchor_profiles_resolve_with_their_peers_numbers_attached(profile, model, algorithm, setting, value):
    """Each anchor profile's runs carry its peer's published number (inductive batch norm, the protocol that produced
    it); the same cell under another profile keeps the papers' own numbers, and another batch-norm mode gets none."""
    suite = SUITES["fewshot"]
    specs = [s for s in build_plan("fewshot", profile, Overrides(seeds=[0])) if (s.model, s.algorithm, s.setting) == (model, algorithm, setting)]
    assert specs and specs[0].bn_eval == "inductive"
    ref = suite.reference("mini-imagenet", model, algorithm, setting, bn_eval="inductive", profile=profile)
    assert ref is not None and ref.value == value and ref.profile == profile
    other = suite.reference("mini-imagenet", model, algorithm, setting, bn_eval="inductive", profile="mini-imagenet")
    assert other is None or other.profile == ""
    assert suite.reference("mini-imagenet", model, algorithm, setting, bn_eval="transductive", profile=profile) is None or \
        suite.reference("mini-imagenet", model, algorithm, setting, bn_eval="transductive", profile=profile).profile == ""


def test_closer_look_s_cross_domain_anchor_is_for_cub():
    ref = SUITES["fewshot"].reference("cub", "resnet18-fs", "transfer", "5-way 5-shot", bn_eval="inductive", profile="closer-look")
    assert ref.value == 65.57 and "CUB" in ref.source
