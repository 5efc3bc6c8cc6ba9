"""``check-algorithm``: the contract is the built-ins' own (every one passes it), and it catches an algorithm
that breaks it (a non-deterministic one, one whose training changes nothing, one that ignores its state)."""
import pytest
import torch

import algorithms
from benchmark.cli import main
from benchmark.conformance import check_algorithm

from .stores import mlflow_sqlite


@pytest.mark.slow
@pytest.mark.parametrize("name", algorithms.available())
def test_every_builtin_passes_the_contract(name):
    results = check_algorithm(name)
    assert [r.line() for r in results if r.passed is False] == []
    assert sum(r.passed is True for r in results) >= 4  # interface, determinism, state_dict and more actually ran


BROKEN = {
    "noisy": ("import time\nimport torch\nimport algorithms\nfrom algorithms.protonet import ProtoNet\n\n"
              "@algorithms.register('noisy')\nclass Noisy(ProtoNet):\n"
              "    def query_logits(self, task):\n"
              "        g = torch.Generator().manual_seed(time.perf_counter_ns())\n"
              "        return super().query_logits(task) + 100 * torch.rand(task.query_x.shape[0], task.ways, generator=g)\n\n"
              "    def query_logits_block(self, block):\n"
              "        return torch.stack([self.query_logits(t) for t in block.tasks()])\n", "deterministic"),
    "cheat": ("import torch.nn.functional as F\nimport algorithms\nfrom algorithms.protonet import ProtoNet\n\n"
              "@algorithms.register('cheat')\nclass Cheat(ProtoNet):\n"
              "    def query_logits(self, task):\n        return 10.0 * F.one_hot(task.query_y, 5).float()\n\n"
              "    def query_logits_block(self, block):\n        return 10.0 * F.one_hot(block.query_y, 5).float()\n",
              "deterministic: LabelLeakError"),
    "idle": ("import algorithms\nfrom algorithms.protonet import ProtoNet\n\n"
             "@algorithms.register('idle')\nclass Idle(ProtoNet):\n"
             "    def step(self, params, weight_decay=0.0):\n        self.optimizer.zero_grad(set_to_none=True)\n", "trains"),
    # reports a finite loss whatever its weights: the loop's NaN stop never fires, and scoring's stop on NaN logits
    # (at the harness's validation) must not pass for it
    "finite_loss": ("import algorithms\nfrom algorithms.protonet import ProtoNet\n\n"
                    "@algorithms.register('finite_loss')\nclass FiniteLoss(ProtoNet):\n"
                    "    def train_step(self, tasks):\n        stats = super().train_step(tasks)\n"
                    "        return {**stats, 'loss': 0.0, 'train_loss': 0.0}\n", "divergence"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_algorithm_fails_its_check_in_one_line(name, tmp_path, capsys, clean_registry):
    source, check = BROKEN[name]
    (tmp_path / f"{name}.py").write_text(source)
    assert main(["check-algorithm", "--plugin", str(tmp_path / f"{name}.py"), name]) == 1
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith(f"  FAIL  {check}") for line in out), out
    assert out[-1].startswith("8 checks:") and not out[-1].endswith(" 0 failed")


def test_an_unknown_name_lists_the_valid_ones(capsys):
    assert main(["check-algorithm", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "protonet" in err[0]


SPY = ("import algorithms\nfrom algorithms.protonet import ProtoNet\n\n"
       "@algorithms.register('spy')\nclass Spy(ProtoNet):\n    SEEN = []\n\n"
       "    def train_step(self, tasks):\n"
       "        Spy.SEEN += [x for t in tasks for x in (t.support_x, t.query_x)]\n"
       "        return super().train_step(tasks)\n")


def test_the_harness_trains_on_training_classes_only(tmp_path, clean_registry):
    """The harness's promise, not a method's: every image a few-shot method is trained on is an image of a training
    class, none of a validation or test class (an algorithm that records what it is given)."""
    import datasets

    (tmp_path / "spy.py").write_text(SPY)
    assert main(["run", "--plugin", str(tmp_path / "spy.py"), "--suite", "fewshot", "--algorithm", "spy",
                 "--meta-iterations", "4", "--test-episodes", "2", "--no-progress", "--tracking-uri",
                 mlflow_sqlite(tmp_path / "m.db"), "--out", str(tmp_path / "r")]) == 0

    def keys(images):
        pixels = (images.float() * (255 if images.is_floating_point() else 1)).round().to(torch.uint8)
        return {bytes(p.flatten().tolist()) for p in pixels}

    seen = keys(torch.cat(algorithms.get_class("spy").SEEN))
    splits = {name: keys(s.images) for name, s in datasets.get_episodic("glyphs").splits.items()}
    assert seen and seen <= splits["train"]
    assert not seen & (splits["test"] | splits.get("val", set()))


@pytest.mark.parametrize("name", ["protonet", "standard"])
def test_the_device_check_moves_a_trained_state_into_a_fresh_instance(name):
    """The device check's path (train, move the state, predict in a fresh instance on the target device), here with
    the CPU as the target: on a machine without a GPU the check itself is skipped."""
    from benchmark.conformance import _Harness, moved_to

    result = moved_to(name, _Harness(name), torch.device("cpu"))
    assert result.passed, result.reason
