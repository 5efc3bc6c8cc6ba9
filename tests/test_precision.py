"""``--precision``: bf16 autocast for first-order algorithms, fp16 with a gradient scaler
(CUDA; the scaler's arithmetic is checked here on CPU, where torch has fp16 autocast and
GradScaler too); one line for what is refused."""
import dataclasses

import pytest
import torch

import algorithms
from benchmark.cli import main
from benchmark.models import create_model
from benchmark.plan import Overrides, PlanError, build_plan, precision
from benchmark.run.runner import run_grid

from .stores import mlflow_sqlite


def test_bf16_autocast_runs_forward_passes_in_bf16_with_fp32_weights():
    model = create_model("cnet1", 10, 1, 8)
    x = torch.randn(4, 1, 8, 8)
    with precision.autocast("bf16", torch.device("cpu")):
        out = model(x)
    assert out.dtype == torch.bfloat16 and next(model.parameters()).dtype == torch.float32
    with precision.autocast("fp32", torch.device("cpu")):
        assert model(x).dtype == torch.float32


@pytest.mark.parametrize("half", ["bf16", "fp16"])
def test_training_in_one_autocast_region_sees_every_update(half):
    """A run trains inside one autocast region. With autocast's weight cache on, the forward passes
    kept using the first step's cast weights and the loss of a fixed batch never moved."""
    x, y = _batch()
    ref, algo = _standard(), _standard()
    if half == "fp16":
        algo.enable_loss_scaling("cpu")
    fp32 = [ref.train_step((x, y))["loss"] for _ in range(6)]
    with precision.autocast(half, torch.device("cpu")):
        low = [algo.train_step((x, y))["loss"] for _ in range(6)]
    assert len(set(low)) == 6 and low[-1] < 0.7 * low[0]
    assert abs(low[-1] - fp32[-1]) < 0.05 * fp32[-1]  # the same trajectory to low-precision accuracy


def test_precision_is_part_of_the_key_and_fp32_keys_are_unchanged():
    o = Overrides(algorithms=["standard"], seeds=[0])
    fp32 = build_plan("standard", "quick", o)[0]
    bf16 = build_plan("standard", "quick", dataclasses.replace(o, precision="bf16"))[0]
    assert fp32.key() != bf16.key() and bf16.flat_params()["precision"] == "bf16"
    assert fp32.key() == dataclasses.replace(fp32, precision="").key()


@pytest.mark.parametrize("algorithm", ["mltp", "maml", "anil", "metasgd", "mtl_maml"])
def test_bf16_is_refused_for_second_order_algorithms(algorithm):
    suite = "fewshot" if algorithm in ("maml", "anil", "metasgd", "mtl_maml") else "standard"
    with pytest.raises(PlanError, match="second order"):
        build_plan(suite, "quick", Overrides(algorithms=[algorithm], seeds=[0], precision="bf16"))


def test_fp16_on_cpu_fp16_with_inner_gradients_and_second_order_bf16_are_one_line_exit_2(capsys):
    assert main(["run", "--algorithm", "standard", "--precision", "fp16", "--device", "cpu", "--no-progress"]) == 2
    assert main(["run", "--algorithm", "mltp", "--precision", "bf16", "--no-progress"]) == 2
    assert main(["run", "--suite", "fewshot", "--algorithm", "fomaml", "--precision", "fp16", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "runs on CUDA" in err[0] and "use --precision bf16" in err[0] and "run it in fp32" in err[1]
    assert "fomaml takes inner gradients" in err[2] and "protonet" in err[2] and "standard" in err[2]


def _standard(weight_decay=0.0, seed=0):
    torch.manual_seed(seed)
    model = create_model("cnet1", 10, 1, 8)
    return algorithms.build("standard", model, algorithms.make_hparams("standard", weight_decay=weight_decay))


def _batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(16, 1, 8, 8, generator=g), torch.randint(0, 10, (16,), generator=g)


def test_a_scaled_step_is_the_unscaled_step():
    """The loss is scaled by a power of two and the gradients unscaled before weight decay and the
    step: in fp32 arithmetic the update is bit for bit the plain one (a scaler applied after the
    weight decay, or not unscaled, would change it by the scale factor)."""
    plain, scaled = _standard(weight_decay=0.01), _standard(weight_decay=0.01)
    scaled.enable_loss_scaling("cpu")
    for _ in range(3):
        plain.train_step(_batch())
        scaled.train_step(_batch())
    for a, b in zip(plain.model.parameters(), scaled.model.parameters()):
        assert torch.equal(a, b)
    assert scaled.scaler.get_scale() == 65536.0


def test_an_overflowing_step_is_skipped_and_the_scale_shrinks():
    algo = _standard()
    algo.enable_loss_scaling("cpu")
    before = [p.detach().clone() for p in algo.model.parameters()]
    algo.optimizer.zero_grad()
    algo.backward(algo.model(_batch()[0]).sum() * float("inf"))
    algo.step(list(algo.model.parameters()), 0.0)
    assert all(torch.equal(a, b) for a, b in zip(before, algo.model.parameters()))
    assert algo.scaler.get_scale() == 32768.0


def test_under_fp16_autocast_the_scaler_keeps_gradients_that_would_underflow():
    """A small loss under fp16 autocast: unscaled, the activations' gradients fall below fp16's
    range and most weight gradients become 0; scaled, they match fp32 to fp16 precision."""
    x, y = _batch()

    def grads(scaling: bool, half: bool):
        algo = _standard()
        if scaling:
            algo.enable_loss_scaling("cpu")
        algo.optimizer.zero_grad()
        with precision.autocast("fp16" if half else "fp32", torch.device("cpu")):
            loss = torch.nn.functional.cross_entropy(algo.model(x), y) * 1e-6
        algo.backward(loss)
        if scaling:
            algo.scaler.unscale_(algo.optimizer)
        return torch.cat([p.grad.flatten() for p in algo.model.parameters()])

    ref, unscaled, scaled = grads(False, False), grads(False, True), grads(True, True)
    assert (unscaled == 0).float().mean() > 0.5 > (scaled == 0).float().mean()
    assert ((scaled - ref).norm() / ref.norm()).item() < 0.02


def test_the_scaler_state_is_checkpointed():
    algo = _standard()
    algo.enable_loss_scaling("cpu")
    algo.train_step(_batch())
    algo.scaler.update(1024.0)
    state = algo.state_dict()
    other = _standard(seed=1)
    other.enable_loss_scaling("cpu")
    other.load_state_dict(state)
    assert other.scaler.get_scale() == 1024.0
    with pytest.raises(ValueError, match="cannot train in fp16"):
        algorithms.build("mltp_fo", create_model("cnet1", 10, 1, 8), algorithms.make_hparams("mltp_fo")).enable_loss_scaling("cpu")


@pytest.mark.parametrize("algorithm", ["protonet", "transfer", "nearest_neighbour"])
def test_an_fp16_run_trains_through_the_scaler(algorithm, tmp_path):
    """The runner's fp16 path end to end (on CPU, which the CLI refuses for speed, not correctness):
    the run finishes with the scaler on, and its checkpoints hold the scaler's state."""
    o = Overrides(algorithms=[algorithm], seeds=[0], precision="fp16", meta_iterations=12, test_episodes=4)
    (spec,) = build_plan("fewshot", "quick", o)
    (res,) = run_grid([spec], None, torch.device("cpu"), progress=False, echo=lambda m: None, checkpoint_dir=tmp_path)
    assert res.status == "FINISHED", res.error
    algo = res.trained[0]
    assert algo.scaler is not None and algo.scaler.get_scale() > 0 and "scaler" in algo.state_dict()
    assert next(algo.model.parameters()).dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 runs need CUDA; this machine has none")
def test_an_fp16_run_on_cuda_finishes_and_records_its_precision(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = mlflow_sqlite(tmp_path / "m.db")
    assert main(["run", "--algorithm", "standard", "--seeds", "0", "--epochs", "1", "--max-steps", "3", "--device", "cuda",
                 "--precision", "fp16", "--tracking-uri", uri, "--no-progress"]) == 0


@pytest.mark.slow
def test_a_bf16_run_finishes_and_records_its_precision(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = mlflow_sqlite(tmp_path / "m.db")
    assert main(["run", "--algorithm", "standard", "mltp_fo", "--seeds", "0", "--epochs", "1", "--max-steps", "3",
                 "--precision", "bf16", "--tracking-uri", uri, "--no-progress"]) == 0
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=uri)
    runs = [r for r in c.search_runs([c.get_experiment_by_name("standard").experiment_id]) if r.data.tags.get("grid_parent") != "1"]
    assert {r.data.params["precision"] for r in runs} == {"bf16"} and all(r.info.status == "FINISHED" for r in runs)
