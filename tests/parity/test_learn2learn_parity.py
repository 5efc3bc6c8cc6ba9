"""Parity with learn2learn (run by ``tox -e parity``; skipped where learn2learn is absent)."""
import copy

import pytest
import torch

l2l = pytest.importorskip("learn2learn", reason="learn2learn is not installed (tox -e parity builds it)")

from benchmark.models import create_model  # noqa: E402
from benchmark.perf.fewshot import synthetic_omniglot  # noqa: E402
from benchmark.perf.l2l_reference import l2l_meta_gradient, max_relative_difference, our_meta_gradient  # noqa: E402
from datasets import EpisodeSampler  # noqa: E402


@pytest.mark.parametrize("name,first_order", [("maml", False), ("fomaml", True)])
@pytest.mark.parametrize("steps", [1, 3])
def test_meta_gradient_matches_learn2learn(name, first_order, steps):
    sampler = EpisodeSampler(synthetic_omniglot(classes=20), 5, 1, 5)
    g = torch.Generator().manual_seed(0)
    tasks = [sampler.sample(g) for _ in range(4)]
    torch.manual_seed(0)
    model = create_model("conv4-64", 5, 1, 28)
    ours = our_meta_gradient(name, copy.deepcopy(model), tasks, 0.4, steps)
    ref = l2l_meta_gradient(copy.deepcopy(model), tasks, 0.4, steps, first_order)
    assert max_relative_difference(ours, ref) < 1e-5
