"""A model whose query logits become non-finite has no accuracy: scoring stops with a ``DivergenceError`` instead of
counting NaN rows as class 0 (which reads as chance accuracy), the run is FAILED with the reason, and ``evaluate``
says so in one line. Found in real use: MAML's test-time inner loop (inner_lr 0.4) with batch norm's running
statistics (``--bn-eval inductive``) reached NaN in 2-3 steps, and the run had FINISHED at 20.03% (5-way chance)."""
import shlex

import pandas as pd
import pytest
import torch

import algorithms
from benchmark.cli import main
from benchmark.suites.scoring import episode_accuracies
from benchmark.track.tracking import Tracker
from datasets import EpisodeSampler
from datasets.glyphs import load_glyphs

from .stores import mlflow_sqlite

NAN_AT = 3  # the 0-based episode whose logits are NaN


class _NaNAt:
    """Logits that are finite (the right class wins) except for episode ``NAN_AT``'s."""

    def __init__(self, ways: int) -> None:
        self.model, self.ways, self.seen = torch.nn.Linear(1, 1), ways, 0

    def _logits(self, n_query: int) -> torch.Tensor:
        out = torch.eye(self.ways).repeat_interleave(n_query // self.ways, 0)
        if self.seen == NAN_AT:
            out[1, 0] = float("nan")  # one value of one query is enough
        self.seen += 1
        return out

    def query_logits(self, task) -> torch.Tensor:
        return self._logits(len(task.query_x))

    def query_logits_block(self, block) -> torch.Tensor:
        return torch.stack([self._logits(block.query.shape[1]) for _ in range(len(block))])


@pytest.mark.parametrize("eval_batch", [1, 2, 0])
def test_non_finite_logits_stop_scoring_naming_the_episode(eval_batch):
    split = load_glyphs().splits["test"]
    episodes = EpisodeSampler(split, 5, 1, 3).fixed(6, "glyphs", "test")
    algo = _NaNAt(5)
    with pytest.raises(algorithms.DivergenceError, match=f"non-finite .* in episode {NAN_AT + 1} of 6 scored"):
        episode_accuracies(algo, episodes, eval_batch)
    algo = _NaNAt(5)
    algo.seen = -100  # never reaches the NaN episode: every episode scores, all correct
    assert episode_accuracies(algo, episodes, eval_batch) == [1.0] * 6


PLUGIN = '''
from dataclasses import dataclass

import algorithms
from algorithms.protonet import ProtoNet, ProtoNetHparams


@dataclass
class Hparams(ProtoNetHparams):
    diverge: bool = True  # at test: NaN logits (a diverged test-time adaptation)


@algorithms.register("nan_proto")
class NaNProto(ProtoNet):
    """Trains as ProtoNet; with ``diverge`` its test-time logits are NaN."""

    Hparams = Hparams

    def _out(self, logits):
        return logits * float("nan") if self.hparams.diverge else logits

    def query_logits(self, task):
        return self._out(super().query_logits(task))

    def query_logits_block(self, block):
        return self._out(super().query_logits_block(block))
'''


def test_a_run_whose_scoring_diverges_is_failed_with_the_reason(tmp_path, capsys, clean_registry):
    (tmp_path / "nan_proto.py").write_text(PLUGIN)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    argv = ["run", "--plugin", str(tmp_path / "nan_proto.py"), "--suite", "fewshot", "--algorithm", "nan_proto",
            "protonet", "--meta-iterations", "3", "--test-episodes", "4", "--seeds", "0", "--no-progress",
            "--tracking-uri", uri, "--out", str(tmp_path / "results")]
    assert main(argv) == 1  # the grid goes on: protonet finishes beside the FAILED run
    err = capsys.readouterr().err
    assert "diverged" in err and "non-finite" in err
    tracker = Tracker(mlflow_sqlite(tmp_path / "m.db"), "fewshot")
    runs = {r.data.tags["algorithm"]: r for r in tracker.client.search_runs([tracker.experiment_id], "tags.algorithm != ''")}
    assert runs["nan_proto"].info.status == "FAILED" and "test_acc" not in runs["nan_proto"].data.metrics
    assert "non-finite" in runs["nan_proto"].data.tags["error"]
    assert "at the validation after meta-iteration 3" in runs["nan_proto"].data.tags["error"]  # not the test
    assert runs["protonet"].info.status == "FINISHED"
    # that validation came after the last meta-iteration: training had ended, so the run keeps its weights and cost,
    # and its reason ends with the command that scores them; run as printed, with the test-time setting that is finite
    failed = runs["nan_proto"]
    assert failed.data.tags["diverged_after_training"] == "1"
    kept = {a.path for a in tracker.client.list_artifacts(failed.info.run_id, "weights")}
    assert "weights/final.pt" in kept and "weights/best.pt" not in kept  # its only validation diverged: no best point
    assert failed.data.metrics["meta_iterations_run"] == 3 and failed.data.metrics["train_time_s"] > 0
    command = failed.data.tags["error"].split("`")[-2]
    assert command.startswith(f"python -m benchmark evaluate --run {failed.info.run_id} --weights ")
    argv = shlex.split(command.replace("--set KEY=VALUE", "--set diverge=false"))[3:]
    assert main([*argv, "--plugin", str(tmp_path / "nan_proto.py"), "--test-episodes", "4"]) == 0
    scored = Tracker(mlflow_sqlite(tmp_path / "m.db"), "fewshot-evaluate")
    ev, = scored.client.search_runs([scored.experiment_id])
    assert ev.info.status == "FINISHED" and ev.data.tags["source_run_id"] == failed.info.run_id
    # the table names the diverged cell (it has no accuracy) instead of leaving it out unseen, from the store and
    # again from the exported raw results, which keep each failed run's reason
    out, raw_dir = tmp_path / "board", tmp_path / "raw"
    assert main(["leaderboard", "--suite", "fewshot", "--tracking-uri", uri, "--out", str(out), "--baseline", "protonet"]) == 0
    page = (out / "fewshot.md").read_text()
    assert "**Diverged**" in page and "nan_proto 5-way 1-shot" in page and "seed 0" in page
    assert main(["leaderboard", "--suite", "fewshot", "--tracking-uri", uri, "--export", str(raw_dir)]) == 0
    raw = pd.read_csv(raw_dir / "fewshot-runs.csv.gz").set_index("algorithm")  # the reason whole, command included
    assert raw.loc["nan_proto", "error"] == failed.data.tags["error"] and len(failed.data.tags["error"]) > 300
    assert main(["leaderboard", "--suite", "fewshot", "--from", str(raw_dir), "--out", str(tmp_path / "again"),
                 "--baseline", "protonet"]) == 0
    assert "nan_proto 5-way 1-shot" in (tmp_path / "again" / "fewshot.md").read_text()


def test_a_run_that_diverges_before_training_ended_keeps_no_weights(tmp_path, capsys, clean_registry):
    """Diverged at a validation before the last meta-iteration (the quick profile validates every 150): nothing
    trained to the end, so no weights are kept, the checkpoint goes (resuming would diverge again), and evaluate
    refuses the run in one line. With --keep-weights none, a run that trained to the end promises no weights either."""
    (tmp_path / "nan_proto.py").write_text(PLUGIN)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    common = ["run", "--plugin", str(tmp_path / "nan_proto.py"), "--suite", "fewshot", "--algorithm", "nan_proto",
              "--test-episodes", "4", "--seeds", "0", "--no-progress", "--tracking-uri", uri,
              "--out", str(tmp_path / "results"), "--checkpoint-dir", str(tmp_path / "ckpt")]
    assert main([*common, "--meta-iterations", "151", "--experiment", "early"]) == 1
    assert main([*common, "--meta-iterations", "3", "--keep-weights", "none", "--experiment", "none"]) == 1
    capsys.readouterr()
    for experiment, where in (("early", "at the validation after meta-iteration 150"),
                              ("none", "at the validation after meta-iteration 3")):
        tracker = Tracker(mlflow_sqlite(tmp_path / "m.db"), experiment)
        run, = tracker.client.search_runs([tracker.experiment_id], "tags.algorithm = 'nan_proto'")
        assert run.info.status == "FAILED" and run.data.tags["error"].endswith(where), run.data.tags["error"]
        assert "diverged_after_training" not in run.data.tags and "kept" not in run.data.tags["error"]
        assert not tracker.client.list_artifacts(run.info.run_id, "weights")
        assert main(["evaluate", "--run", run.info.run_id, "--tracking-uri", uri]) == 2  # a usage error: nothing to score
        assert "is failed, not a finished training run" in capsys.readouterr().err
    assert not [p for p in (tmp_path / "ckpt").rglob("*") if p.is_file()]


def test_a_run_that_diverges_only_at_the_final_test_says_so(tmp_path, monkeypatch):
    """Trained to the end and diverged at test (the batch-norm sensitivity table's MAML): the reason names the test
    and the weights tested, so it reads differently from a run that diverged during training."""
    import benchmark.suites.fewshot as fewshot

    def diverging_test(*args, **kwargs):
        raise algorithms.NonFiniteOutputsError("query logits became non-finite (NaN or inf) in episode 2 of 4 scored")

    monkeypatch.setattr(fewshot, "test_metrics", diverging_test)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["run", "--suite", "fewshot", "--algorithm", "protonet", "--meta-iterations", "3", "--test-episodes", "4",
                 "--seeds", "0", "--no-progress", "--tracking-uri", uri, "--out", str(tmp_path / "results"),
                 "--test-weights", "best-val", "--checkpoint-dir", str(tmp_path / "ckpt")]) == 1
    tracker = Tracker(mlflow_sqlite(tmp_path / "m.db"), "fewshot")
    run, = tracker.client.search_runs([tracker.experiment_id], "tags.algorithm = 'protonet'")
    assert run.info.status == "FAILED"
    assert run.data.tags["error"].startswith("diverged: query logits became non-finite")
    assert "at the final validation and test (" in run.data.tags["error"] and "after training ended" in run.data.tags["error"]
    # trained to the end: its weights are kept, and evaluate --run scores them (here once the test no longer diverges)
    rid = run.info.run_id
    assert run.data.tags["diverged_after_training"] == "1"
    assert f"evaluate --run {rid} --weights best --tracking-uri" in run.data.tags["error"]  # the weights it tested
    assert {a.path for a in tracker.client.list_artifacts(rid, "weights")} >= {"weights/best.pt", "weights/model.json"}
    assert not [p for p in (tmp_path / "ckpt").rglob("*") if p.is_file()]  # the weights are written: the checkpoint goes
    monkeypatch.undo()
    assert main(["evaluate", "--run", rid, "--weights", "best", "--tracking-uri", uri, "--test-episodes", "4",
                 "--eval-experiment", "rescored"]) == 0
    scored = Tracker(mlflow_sqlite(tmp_path / "m.db"), "rescored")
    ev, = scored.client.search_runs([scored.experiment_id])
    assert ev.info.status == "FINISHED" and ev.data.tags["source_run_id"] == rid and 0 <= ev.data.metrics["test_acc"] <= 1


def test_evaluate_of_weights_that_diverge_is_one_line_and_no_run(tmp_path, capsys, clean_registry):
    (tmp_path / "nan_proto.py").write_text(PLUGIN)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    plugin = ["--plugin", str(tmp_path / "nan_proto.py")]
    assert main(["run", *plugin, "--suite", "fewshot", "--algorithm", "nan_proto", "--set", "diverge=false",
                 "--meta-iterations", "3", "--test-episodes", "4", "--seeds", "0", "--no-progress",
                 "--tracking-uri", uri, "--out", str(tmp_path / "results")]) == 0
    capsys.readouterr()
    argv = ["evaluate", *plugin, "--experiment", "fewshot", "--tracking-uri", uri, "--test-episodes", "4",
            "--eval-experiment", "scored"]
    assert main([*argv, "--set", "diverge=true"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "diverged: query logits became non-finite" in err[0], err
    scored = Tracker(mlflow_sqlite(tmp_path / "m.db"), "scored")
    assert scored.client.search_runs([scored.experiment_id]) == []  # nothing half-recorded
    assert main([*argv, "--set", "diverge=false"]) == 0  # the same weights, scored without the NaN


def test_evaluate_of_several_runs_scores_the_others_and_names_the_one_that_diverged(tmp_path, capsys, clean_registry):
    (tmp_path / "nan_proto.py").write_text(PLUGIN)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    plugin = ["--plugin", str(tmp_path / "nan_proto.py")]
    for seed, diverge in ((0, "false"), (1, "true"), (2, "false")):  # trained and tested finite only without NaN
        main(["run", *plugin, "--suite", "fewshot", "--algorithm", "nan_proto", "--set", f"diverge={diverge}",
              "--meta-iterations", "3", "--test-episodes", "4", "--seeds", str(seed), "--no-progress",
              "--tracking-uri", uri, "--out", str(tmp_path / "results")])
    source = Tracker(mlflow_sqlite(tmp_path / "m.db"), "fewshot")
    finished = source.client.search_runs([source.experiment_id],
                                         "attributes.status = 'FINISHED' and tags.algorithm = 'nan_proto'")
    assert sorted(r.data.tags["seed"] for r in finished) == ["0", "2"]  # seed 1 FAILED (diverged at test)
    # seed 0's weights scored with diverge=true diverge; seed 2's first, so the pass must go on past seed 0's
    by_seed = {r.data.tags["seed"]: r.info.run_id for r in finished}
    capsys.readouterr()
    argv = ["evaluate", *plugin, "--run", by_seed["2"], by_seed["0"], "--tracking-uri", uri, "--test-episodes", "4",
            "--eval-experiment", "scored"]
    assert main([*argv, "--set", "diverge=true"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("diverged: query logits became non-finite" in e for e in err), err
    assert {e.split(": ")[2] for e in err} == {by_seed["2"][:8], by_seed["0"][:8]}  # each names its source run
    assert main([*argv, "--set", "diverge=false"]) == 0
    scored = Tracker(mlflow_sqlite(tmp_path / "m.db"), "scored")
    assert len(scored.client.search_runs([scored.experiment_id])) == 2


class _Predicts:
    def __init__(self, logits):
        self.model, self.logits = torch.nn.Linear(1, 1), logits

    def predict(self, x):
        return self.logits[: len(x)]


def test_the_standard_suite_stops_on_non_finite_logits_too():
    from benchmark.suites.standard import evaluate

    logits = torch.eye(4)
    batches = [(torch.zeros(4, 1), torch.arange(4))] * 3
    assert evaluate(_Predicts(logits), batches, 4)["acc"] == 1.0
    logits[2, 1] = float("inf")
    with pytest.raises(algorithms.DivergenceError, match="non-finite .* scored images 1-4"):
        evaluate(_Predicts(logits), batches, 4)


def test_a_standard_run_whose_scoring_diverges_names_the_split_and_epoch(tmp_path, monkeypatch):
    import benchmark.suites.standard as standard

    real = standard.evaluate

    def diverging_test_split(algo, loader, num_classes):
        if loader is session_loaders.get("test"):
            raise algorithms.NonFiniteOutputsError("logits became non-finite (NaN or inf) among scored images 1-512")
        return real(algo, loader, num_classes)

    session_loaders = {}
    init = standard.StandardSession.__init__

    def remember(self, *args, **kwargs):
        init(self, *args, **kwargs)
        session_loaders.update(self.evals)

    monkeypatch.setattr(standard.StandardSession, "__init__", remember)
    monkeypatch.setattr(standard, "evaluate", diverging_test_split)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["run", "--suite", "standard", "--model", "cnet1", "--algorithm", "standard", "--seeds", "0",
                 "--epochs", "1", "--max-steps", "3", "--tracking-uri", uri, "--no-progress"]) == 1
    tracker = Tracker(mlflow_sqlite(tmp_path / "m.db"), "standard")
    run, = tracker.client.search_runs([tracker.experiment_id], "tags.algorithm = 'standard'")
    assert run.info.status == "FAILED"
    assert "among scored images 1-512, at the test scoring after epoch 1; training ended" in run.data.tags["error"]
    assert run.data.tags["diverged_after_training"] == "1"  # its last epoch's scoring: trained to the end, weights kept
