"""The few-shot papers' protocol values, as data: each element's value with its citation
(paper section or the authors' file). ``tests/test_protocols.py`` resolves every built-in
few-shot profile and fails when a resolved value differs from its source without a
deviation ([!]) or decision ([=]) in ``deviations.py`` that covers the element.

An element is a hyperparameter (``inner_lr``, as ``--set`` names it) or a run field
(``meta_batch``, ``meta_iterations``, ``queries``, ``train_queries``, ``test_episodes``,
``model``); ``resolve`` reads it off a resolved run spec."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FAMILIES = {  # the datasets a paper's values are judged on: a profile's data stands in for the paper's
    "omniglot": ("omniglot", "omniglot-alphabets", "glyphs"),
    "mini-imagenet": ("mini-imagenet", "mini-imagenet-64-36"),
}


@dataclass(frozen=True)
class Source:
    family: str  # a key of FAMILIES
    algorithms: tuple[str, ...]
    values: dict[str, Any]
    cite: str
    ways: int | None = None  # None: every setting
    shots: int | None = None

    def applies(self, dataset: str, algorithm: str, ways: int, shots: int) -> bool:
        return (dataset in FAMILIES[self.family] and algorithm in self.algorithms and self.ways in (None, ways)
                and self.shots in (None, shots))


def resolve(spec, element: str) -> Any:
    """The value a run spec resolves ``element`` to (hyperparameters first, then run fields)."""
    own = getattr(spec.hparams, element, None)
    if element == "train_queries":  # the meta-training tasks' queries per class (0 / None: the run's)
        return own or spec.train_queries or spec.queries
    if element == "train_ways":  # ProtoNet's training ways (0: the test ways)
        return own or spec.ways
    return own if hasattr(spec.hparams, element) else getattr(spec, element)


MAML_FAMILY = ("maml", "fomaml", "anil", "metasgd", "mtl_maml")  # Finn et al.'s values (FOMAML: the paper's; ANIL, Meta-SGD: MAML's)
FINN = "Finn et al. 2017 Sec. 5.2, App. A.1; cbfinn/maml main.py, README"
NICHOL = "openai/supervised-reptile README (the paper's commands)"
REPTILE = ("reptile", "mtl_reptile")


def _reptile(sh, ib, ii, lr, ms, mb, mi, eb, ei) -> dict[str, Any]:
    return {"train_shots": sh, "inner_batch": ib, "inner_steps": ii, "inner_lr": lr, "lr": ms, "lr_final": 0.0,
            "meta_batch": mb, "meta_iterations": mi, "test_inner_batch": eb, "test_inner_steps": ei, "inner_optimizer": "adam"}


SOURCES: tuple[Source, ...] = (
    # MAML on Omniglot (5-way: alpha 0.4, one step, three at test, meta-batch 32; 20-way: 0.1, 5 steps, meta-batch 16)
    Source("omniglot", MAML_FAMILY, {"optimizer": "adam", "lr": 1e-3, "meta_iterations": 60000, "model": "conv4-64-strided-avg"},
           FINN + "; maml.py forward_conv averages the last 2x2 map to 64 features"),
    *(Source("omniglot", MAML_FAMILY, {"train_queries": k, "queries": k}, "cbfinn/maml data_generator.py (K queries per class)",
             shots=k) for k in (1, 5)),
    Source("omniglot", MAML_FAMILY, {"inner_lr": 0.4, "inner_steps": 1, "test_inner_steps": 3, "meta_batch": 32}, FINN, ways=5),
    Source("omniglot", MAML_FAMILY, {"inner_lr": 0.1, "inner_steps": 5, "test_inner_steps": 5, "meta_batch": 16}, FINN, ways=20),
    Source("omniglot", ("metasgd",), {"inner_steps": 1, "test_inner_steps": 1}, "Li et al. 2017 Sec. 4 (one adaptation step)"),
    # MAML on miniImageNet
    Source("mini-imagenet", MAML_FAMILY, {"optimizer": "adam", "lr": 1e-3, "meta_iterations": 60000, "inner_lr": 0.01,
                                          "inner_steps": 5, "test_inner_steps": 10, "queries": 15, "model": "conv4-32"}, FINN),
    Source("mini-imagenet", MAML_FAMILY, {"meta_batch": 4}, FINN, ways=5, shots=1),
    Source("mini-imagenet", MAML_FAMILY, {"meta_batch": 2}, "Finn et al. 2017 Sec. 5.2 (the code's README: 4)", ways=5, shots=5),
    Source("mini-imagenet", ("metasgd",), {"inner_steps": 1, "test_inner_steps": 1}, "Li et al. 2017 Sec. 4 (one adaptation step)"),
    # Reptile: the README's non-transductive commands, 1 query per class at test over 10,000 episodes
    Source("omniglot", REPTILE, {"queries": 1, "test_episodes": 10000, "model": "conv4-64-strided"},
           "openai/supervised-reptile run_omniglot.py, reptile.py (evaluate: num_samples 10000)"),
    Source("omniglot", REPTILE, _reptile(12, 5, 12, 0.00044, 1.0, 3, 200000, 5, 86), NICHOL, ways=5, shots=1),
    Source("omniglot", REPTILE, _reptile(10, 10, 5, 0.0015, 0.7, 5, 100000, 6, 100), NICHOL, ways=5, shots=5),
    Source("omniglot", REPTILE, _reptile(9, 15, 12, 0.00046, 1.0, 3, 200000, 10, 97), NICHOL, ways=20, shots=1),
    Source("omniglot", REPTILE, _reptile(12, 20, 12, 0.00046, 1.0, 3, 200000, 10, 97), NICHOL, ways=20, shots=5),
    Source("mini-imagenet", REPTILE, {"queries": 1, "test_episodes": 10000, "model": "conv4-32"},
           "openai/supervised-reptile run_miniimagenet.py, reptile.py"),
    Source("mini-imagenet", REPTILE, _reptile(12, 3, 19, 0.0012, 0.235, 2, 200000, 3, 55), NICHOL, ways=5, shots=1),
    Source("mini-imagenet", REPTILE, _reptile(15, 10, 8, 0.00022, 1.0, 5, 200000, 15, 88), NICHOL, ways=5, shots=5),
    # Prototypical networks (Snell et al. 2017 Sec. 3.1, 3.2; jakesnell/prototypical-networks)
    Source("omniglot", ("protonet",), {"train_ways": 60, "train_queries": 5, "meta_batch": 1, "lr_halve_every": 2000,
                                       "optimizer": "adam", "lr": 1e-3, "model": "conv4-64", "test_episodes": 1000,
                                       "joint_batch": True}, "Snell et al. 2017 Sec. 3.1; protonets/models/few_shot.py (one batch)"),
    Source("mini-imagenet", ("protonet",), {"train_queries": 15, "meta_batch": 1, "lr_halve_every": 2000, "optimizer": "adam",
                                            "lr": 1e-3, "model": "conv4-64", "test_episodes": 600, "joint_batch": True},
           "Snell et al. 2017 Sec. 3.2"),
    Source("mini-imagenet", ("protonet",), {"train_ways": 30}, "Snell et al. 2017 Sec. 3.2", ways=5, shots=1),
    Source("mini-imagenet", ("protonet",), {"train_ways": 20}, "Snell et al. 2017 Sec. 3.2", ways=5, shots=5),
    # Baseline++ (Chen et al. 2019; wyharveychen/CloserLookFewShot baselinefinetune.py, train.py)
    *(Source(f, ("baseline_pp",), {"finetune_lr": 0.01, "finetune_epochs": 100, "finetune_batch": 4, "finetune_momentum": 0.9,
                                   "finetune_dampening": 0.9, "finetune_weight_decay": 1e-3, "optimizer": "adam", "lr": 1e-3},
             "CloserLookFewShot baselinefinetune.py (test head), train.py (Adam 1e-3)") for f in FAMILIES),
    # Linear probe (Tian et al. 2020; WangYueFt/rfs eval_fewshot.py, train_supervised.py)
    *(Source(f, ("linear_probe",), {"C": 1.0, "max_iter": 1000, "optimizer": "sgd", "lr": 0.05},
             "rfs eval/meta_eval.py (LogisticRegression defaults), train_supervised.py (SGD 0.05, momentum 0.9)")
      for f in FAMILIES),
)


def sources_for(dataset: str, algorithm: str, ways: int, shots: int) -> dict[str, tuple[Any, str]]:
    """``{element: (paper value, citation)}`` for a cell; later (more specific) sources win."""
    out: dict[str, tuple[Any, str]] = {}
    for s in SOURCES:
        if s.applies(dataset, algorithm, ways, shots):
            out |= {k: (v, s.cite) for k, v in s.values.items()}
    return out
