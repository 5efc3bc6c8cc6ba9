"""``--precision``: bf16 autocast for first-order algorithms; one line for what is refused."""
import dataclasses

import pytest
import torch

from benchmark.cli import main
from benchmark.models import create_model
from benchmark.plan import Overrides, PlanError, build_plan, precision


def test_bf16_autocast_runs_forward_passes_in_bf16_with_fp32_weights():
    model = create_model("cnet1", 10, 1, 8)
    x = torch.randn(4, 1, 8, 8)
    with precision.autocast("bf16", torch.device("cpu")):
        out = model(x)
    assert out.dtype == torch.bfloat16 and next(model.parameters()).dtype == torch.float32
    with precision.autocast("fp32", torch.device("cpu")):
        assert model(x).dtype == torch.float32


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


def test_fp16_and_second_order_bf16_are_one_line_exit_2(capsys):
    assert main(["run", "--algorithm", "standard", "--precision", "fp16", "--no-progress"]) == 2
    assert main(["run", "--algorithm", "mltp", "--precision", "bf16", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "use --precision bf16" in err[0] and "run it in fp32" in err[1]


@pytest.mark.slow
def test_a_bf16_run_finishes_and_records_its_precision(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["run", "--algorithm", "standard", "mltp_fo", "--seeds", "0", "--epochs", "1", "--max-steps", "3",
                 "--precision", "bf16", "--tracking-uri", uri, "--no-progress"]) == 0
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=uri)
    runs = [r for r in c.search_runs([c.get_experiment_by_name("standard").experiment_id]) if r.data.tags.get("grid_parent") != "1"]
    assert {r.data.params["precision"] for r in runs} == {"bf16"} and all(r.info.status == "FINISHED" for r in runs)
