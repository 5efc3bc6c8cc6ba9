"""Where a built-in profile deliberately differs from its paper, with the paper's value and
source (what ``python -m benchmark list --protocol PROFILE`` marks). Decisions on what the
sources leave open are recorded here too (``decided``)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Deviation:
    element: str  # the protocol element (a row of the protocol record)
    algorithms: tuple[str, ...]  # () for every algorithm of the profile
    paper: str  # the paper's value
    source: str
    why: str
    decided: bool = False  # a choice where the sources are silent or disagree, not a deviation


ALL: tuple[str, ...] = ()
BN = Deviation("batch norm at test", ("transfer", "nearest_neighbour", "protonet", "matching_net", "baseline_pp", "linear_probe"),
               "running statistics from (pre-)training", "Snell et al. 2017 code; Chen et al. 2019; Tian et al. 2020",
               "by default every algorithm uses batch statistics of the support / query batch (MAML's convention; Conv-4 "
               "keeps no running statistics) so all are evaluated alike; --bn-eval inductive runs every algorithm with "
               "running statistics (the table header names the mode)")
NEW_BASELINES = [
    Deviation("test-time head", ("baseline_pp",), "a new random layer; SGD momentum 0.9, lr 0.01, 100 iterations of "
              "batch 4, weight decay 0.001", "Chen et al. 2019 code (baseline_finetune)",
              "starts from the normalised support class means, full-batch SGD momentum 0.9, lr 0.01, 100 steps, no weight "
              "decay, the learned scale: deterministic evaluation"),
    Deviation("embeddings", ("matching_net",), "full-context embeddings (bidirectional LSTM, attention LSTM)",
              "Vinyals et al. 2016 Sec. 2.1.2", "none (the issue's option); cosine attention scaled by 10 (scale, tunable)"),
    Deviation("meta-learner values", ("anil", "metasgd"), "MAML's", "Raghu et al. 2020; Li et al. 2017",
              "MAML's protocol of the profile; Meta-SGD's rates start at MAML's inner_lr", decided=True),
]
MTL_VALUES = Deviation("MTL beta, alpha_d, meta-learner values", ("mtl_maml", "mtl_reptile"), "not given",
                       "Eshratifar et al. (seed 003)", "beta 0.5, disc_lr 0.01, sum over tasks averaged like the meta-learner, "
                       "SGD for the supervised step; the meta-learner's own protocol for everything else", decided=True)

DEVIATIONS: dict[tuple[str, str], list[Deviation]] = {
    ("standard", "paper"): [
        Deviation("validation split", ALL, "none: all 50,000 / 100,000 training images", "Deng & Zhang (seed 001) Sec. IV-A",
                  "followed by default; --keep-val-split (and tune) hold out 10% for selection and tuning", decided=True),
    ],
    ("standard", "quick"): [
        Deviation("dataset and schedule", ALL, "CIFAR-10/100, Tiny-ImageNet, 150/90 epochs", "Deng & Zhang Sec. IV",
                  "embedded 16x16 glyphs (100 characters) and 10 epochs: a small comparison that runs offline in minutes"),
    ],
    ("fewshot", "quick"): [
        Deviation("dataset and budget", ALL, "Omniglot / miniImageNet, 60,000-200,000 meta-iterations", "each paper",
                  "embedded glyphs, 300 meta-iterations of 4 tasks for every algorithm (equal budget), 1 seed"),
        Deviation("training tasks", ("protonet",), "60-way training episodes", "Snell et al. Sec. 3.1",
                  "test ways: the quick profile gives every algorithm the same data per iteration"),
        Deviation("meta-batch", ("reptile", "mtl_reptile"), "3 (1-shot 5-way Omniglot command)", "openai/supervised-reptile README",
                  "4 like every algorithm of the quick profile"),
        BN, MTL_VALUES, *NEW_BASELINES,
    ],
    ("fewshot", "omniglot"): [
        Deviation("network", ("protonet", "transfer", "nearest_neighbour", "finetune"), "Conv-4 with max-pooling",
                  "Snell et al. Sec. 3.1", "one network for every algorithm: MAML's and Reptile's strided Conv-4-64"),
        Deviation("test queries", ("maml", "fomaml", "mtl_maml"), "K queries per class (update_batch_size * 2)",
                  "cbfinn/maml data_generator.py", "15 queries per class, the same fixed episodes for every algorithm"),
        Deviation("test inner loop", ("reptile", "mtl_reptile"), "non-transductive: each query predicted with the support set",
                  "openai/supervised-reptile reptile.py (_test_predictions)", "transductive like MAML (see batch norm)"),
        Deviation("meta-iterations", ("protonet", "transfer", "nearest_neighbour"), "until validation stops improving",
                  "Snell et al. code (patience)", "60,000 like MAML, a fixed budget"),
        BN, MTL_VALUES, *NEW_BASELINES,
    ],
    ("fewshot", "mini-imagenet"): [
        Deviation("normalisation", ALL, "pixels / 255 only", "cbfinn/maml data_generator.py",
                  "the dataset's per-channel mean and std (the other papers' convention)", decided=True),
        Deviation("MAML meta-batch, 5-shot", ("maml", "fomaml", "mtl_maml"), "2 (paper Sec. 5.2); 4 in the code's README",
                  "Finn et al. 2017", "the paper's 2", decided=True),
        Deviation("test inner loop", ("reptile", "mtl_reptile"), "non-transductive", "openai/supervised-reptile",
                  "transductive like MAML"),
        BN, MTL_VALUES, *NEW_BASELINES,
    ],
    ("fewshot", "mtl-paper"): [
        Deviation("split", ALL, "64 training / 36 test classes (Table 1's caption)", "Eshratifar et al. Sec. 4",
                  "followed: mini-imagenet-64-36; whether Table 1 used it for every method is not stated", decided=True),
        BN, MTL_VALUES,
    ],
}


def for_profile(suite: str, profile: str) -> list[Deviation]:
    return DEVIATIONS.get((suite, profile), [])
