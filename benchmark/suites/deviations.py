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
    covers: tuple[str, ...] = ()  # the source elements (sources.py) whose resolved values this declares
    scored: bool = False  # concerns the profile's models as `evaluate` scores them (a table of evaluations) only


ALL: tuple[str, ...] = ()
MAML_FAMILY = ("maml", "fomaml", "anil", "metasgd", "mtl_maml")
REPTILE = ("reptile", "mtl_reptile")
TRANSFER = ("transfer", "nearest_neighbour", "baseline_pp", "linear_probe")
MTL_QUESTION = ("transfer", "protonet", "baseline_pp", "reptile", "mtl_reptile", "maml", "mtl_maml")  # seed 003's Table 1

# -- the test-time information rule: the same for every algorithm (issue 26) -------------------------------------
RULE = Deviation(
    "test-time information rule (batch norm)", ALL,
    "each paper its own: MAML batch statistics of the query batch; Snell et al. one support + query batch in training, "
    "running statistics at test; Reptile the support set with each query; Chen et al. and Tian et al. running statistics",
    "Finn et al. code; Snell et al. code (few_shot.py, model.eval); openai/supervised-reptile reptile.py; Chen et al. 2019; "
    "Tian et al. 2020",
    "one rule for every algorithm: --bn-eval transductive (default) normalises the support set as one batch and the queries "
    "as another, never mixed; --bn-eval inductive uses running statistics from meta-training for every algorithm "
    "(joint_batch=true, Snell et al.'s single batch, only where a profile or --set declares it)", covers=("joint_batch",))
REPTILE_TEST = Deviation(
    "test inner loop", REPTILE, "non-transductive: each query predicted with the support set (the README's commands)",
    "openai/supervised-reptile reptile.py (_test_predictions)", "the suite's rule: the queries as one batch after adapting to "
    "the support set (the authors' --transductive evaluation)")
REPTILE_EPISODES = Deviation(
    "test episodes", REPTILE, "1 query per class, 10,000 episodes", "openai/supervised-reptile eval.py",
    "the table's fixed episodes shared by every algorithm (15 queries per class; 200 in quick with 5)",
    covers=("queries", "test_episodes"))
PROTONET_EPISODES = Deviation("test episodes", ("protonet",), "1,000 (Omniglot)", "Snell et al. 2017 Sec. 3.1",
                              "the table's fixed episodes shared by every algorithm", covers=("test_episodes",))
MAML_QUERIES = Deviation(
    "queries", MAML_FAMILY, "K queries per class (the shots) in training and at test", "cbfinn/maml data_generator.py",
    "the shared test episodes' 15 queries per class; in training 15 (omniglot), 5 (omniglot-alphabets, quick)",
    covers=("queries", "train_queries"))
MAML_NET = Deviation(
    "network", MAML_FAMILY, "strided Conv-4-64 whose last 2x2 map is averaged to 64 features", "cbfinn/maml utils.py, maml.py",
    "the strided Conv-4 flattened (2x2x64 = 256 features), one network for every algorithm", covers=("model",))
PROTONET_NET = Deviation("network", ("protonet",), "Conv-4-64 with max-pooling", "Snell et al. Sec. 3.1",
                         "the profile's one network for every algorithm", covers=("model",))
LINEAR_PROBE = Deviation(
    "pre-training and support augmentation", ("linear_probe",), "SGD lr 0.05, momentum 0.9, weight decay 5e-4, decayed; "
    "5 augmented copies of each support image", "rfs train_supervised.py, eval_fewshot.py (n_aug_support_samples 5)",
    "the transfer baseline's pre-training (Adam 1e-3 on the sampled tasks' images, one embedding recipe for the three "
    "transfer baselines); no augmentation", covers=("optimizer", "lr"))
BASELINE_PP = Deviation(
    "pre-training batches", ("baseline_pp",), "batches of 16 images for 400 epochs (5 on Omniglot)",
    "CloserLookFewShot train.py", "every image of the meta-batch's tasks per step (the same data per iteration as every "
    "algorithm), one task's images per forward pass (supervised_batch=task; the classifier, its fixed scale and the test "
    "head are Chen et al.'s)", covers=("supervised_batch",))
SUPERVISED_BATCHES = Deviation(
    "pre-training forward passes", ("transfer", "nearest_neighbour", "linear_probe", "mtl_maml", "mtl_reptile"),
    "not given for a pre-training on episodes' images (Finn et al.'s and seed 003's transfer baselines)",
    "Finn et al. 2017; Eshratifar et al. (seed 003)", "one task's images per forward pass, so batch norm sees one task's "
    "images as in every meta-learner's forward pass; the step is the mean loss over the whole meta-batch "
    "(supervised_batch=task; meta_batch, one batch of every image, was protocol v2's; one task at a time is also 2.4x "
    "faster per meta-iteration on a CPU, measured: the activations stay in the cache)", decided=True,
    covers=("supervised_batch",))
MATCHING = Deviation("embeddings", ("matching_net",), "full-context embeddings (bidirectional LSTM, attention LSTM)",
                     "Vinyals et al. 2016 Sec. 2.1.2", "none; cosine attention scaled by 10 (scale, tunable)")
METASGD = Deviation("meta-learner values", ("metasgd",), "one adaptation step with the learned rates; the rest not given",
                    "Li et al. 2017 Sec. 4", "one step (train and test); the rates start at MAML's inner_lr; MAML's outer loop",
                    decided=True)
ANIL = Deviation("meta-learner values", ("anil",), "MAML's", "Raghu et al. 2020", "MAML's protocol of the profile", decided=True)
MTL = Deviation(
    "MTL beta, alpha_d, meta step", ("mtl_maml", "mtl_reptile"),
    "theta = beta theta_meta + (1 - beta) theta_disc, sums over tasks, no beta or alpha_d given",
    "Eshratifar et al. (seed 003) Algorithm 1",
    "the parent's mean step scaled by 1/beta (MTL with beta 1 is its parent), beta 0.5, the supervised step with the transfer "
    "baseline's Adam 1e-3 (tunable: beta, disc_lr); the parent's protocol for everything else", decided=True)
MTL_TEST = Deviation("test-time adaptation", ("mtl_reptile",), "regular stochastic gradient descent", "seed 003 Sec. 3",
                     "Reptile's own test-time inner loop (Adam with beta1 = 0), as its parent")
COMMON = [RULE, REPTILE_TEST, REPTILE_EPISODES, MATCHING, LINEAR_PROBE, BASELINE_PP, SUPERVISED_BATCHES, METASGD, ANIL, MTL,
          MTL_TEST]

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
        Deviation("dataset, network and budget", ALL, "Omniglot, each paper's network, meta-batch and 60,000-200,000 "
                  "meta-iterations", "each paper", "embedded glyphs, Conv-4-32, 300 meta-iterations of 4 tasks for every "
                  "algorithm (one budget), 200 test episodes of 5 queries, 1 seed",
                  covers=("meta_iterations", "meta_batch", "model", "test_episodes", "queries", "train_queries")),
        Deviation("training tasks", ("protonet",), "60-way episodes of 5 queries, one per step, lr halved every 2,000",
                  "Snell et al. Sec. 3.1", "the test ways, the profile's meta-batch and a constant lr: every algorithm sees "
                  "the same data per iteration", covers=("train_ways", "train_queries", "meta_batch", "lr_halve_every")),
        *COMMON,
    ],
    ("fewshot", "omniglot-alphabets"): [
        Deviation("data", ALL, "1,200 / 423 characters of all 50 alphabets (x4 rotations)", "Finn et al.; Snell et al.; "
                  "openai/supervised-reptile omniglot.py", "whole alphabets held out: 5 background alphabets for "
                  "meta-training (x4 rotations), Latin for validation, Balinese and Korean for test (reduced scale)"),
        Deviation("budget", ALL, "each its own: MAML 60,000 x 32 tasks, Reptile 100,000-200,000 x 3-5, ProtoNet 1 episode "
                  "per step", "each paper", "one budget rule for every algorithm: meta-iterations of 8 tasks (tasks of 5 queries per class in "
                  "training) until the validation plateau (the last 20% gains < 0.5 pp; checked every 500 from 6,000, at "
                  "most 10,000; leaderboards/omniglot-alphabets/schedule-v3)",
                  covers=("meta_iterations", "meta_batch", "val_every", "plateau_min")),
        Deviation("weights tested", ALL, "each its own: the final weights (MAML, Reptile code); the best validation epoch "
                  "(Chen et al. 2019); early stopping on validation (Snell et al. code)", "each paper",
                  "one rule: the weights of the validation point with the highest accuracy (--test-weights best-val), "
                  "so a minimum training length cannot punish a method that peaks early", decided=True,
                  covers=("test_weights",)),
        Deviation("training tasks", ("protonet",), "60-way episodes of 5 queries, one per step, lr halved every 2,000",
                  "Snell et al. Sec. 3.1", "the test ways and the profile's budget, constant lr: every algorithm sees the "
                  "same data per iteration", covers=("train_ways", "train_queries", "meta_batch", "lr_halve_every")),
        MAML_QUERIES, MAML_NET, PROTONET_NET, PROTONET_EPISODES, *COMMON,
        Deviation("Table 2, the MTL question: models and settings", MTL_QUESTION, "each setting's own models at 5-, 20- "
                  "and 35-way x 1, 5 and 100 shots (miniImageNet)", "Eshratifar et al. (seed 003) Table 1",
                  "Table 1's models (best validation weights) scored by `evaluate` with 5 queries per class (an "
                  "alphabet's 20 drawers: 15 shots + 5 queries), each shot count by the models trained at the nearest "
                  "one Table 1 has (1 shot: its 1-shot models; 5 and 15 shots: its 5-shot models; no 15-shot training); "
                  "transfer, protonet and baseline_pp also at 20- and 35-way; maml and mtl_maml meta-trained at 20-way "
                  "1-shot only and scored from those models at 20-way 1, 5 and 15 shots (20-way 5-shot training cut "
                  "at its measured cost, about 7.5 core-hours a seed), so their 20-way 5/15-shot cells are outside "
                  "their training shots; the Reptile pair at 5-way only "
                  "(scripts/table2_pieces.sh; the cuts: leaderboards/README)", scored=True),
    ],
    ("fewshot", "omniglot"): [
        Deviation("test characters", REPTILE, "the 423 test characters unrotated", "openai/supervised-reptile "
                  "run_omniglot.py (only the training set is augmented)", "x4 rotations in every split, MAML's and "
                  "Snell et al.'s convention, the same test episodes for every algorithm"),
        Deviation("meta-iterations", ("protonet", "transfer", "nearest_neighbour"), "until validation stops improving",
                  "Snell et al. code (patience)", "60,000 like MAML, a fixed budget"),
        MAML_QUERIES, MAML_NET, PROTONET_NET, PROTONET_EPISODES, *COMMON,
    ],
    ("fewshot", "mini-imagenet"): [
        Deviation("normalisation", ALL, "pixels / 255 only", "cbfinn/maml data_generator.py",
                  "the dataset's per-channel mean and std (the other papers' convention)", decided=True),
        Deviation("MAML meta-batch, 5-shot", ("maml", "fomaml", "mtl_maml"), "2 (paper Sec. 5.2); 4 in the code's README",
                  "Finn et al. 2017", "the paper's 2", decided=True),
        Deviation("network", ("protonet",), "Conv-4-64", "Snell et al. Sec. 3.2", "MAML's Conv-4-32, one network for every "
                  "algorithm", covers=("model",)),
        *COMMON,
    ],
    ("fewshot", "libfewshot"): [
        Deviation("training schedule", ALL, "LibFewShot's per-method configs (epochs x train_episode, each method's "
                  "optimiser and lr schedule)", "RL-VIG/LibFewShot config/*.yaml",
                  "each algorithm's paper values on miniImageNet (the mini-imagenet profile's: MAML 60,000 x 4 tasks, "
                  "ProtoNet 30/20-way episodes, ...): its anchors are the targets, not its training recipes"),
        Deviation("augmentation", ALL, "random crops, colour jitter and flips in training (data.yaml augment: True)",
                  "RL-VIG/LibFewShot config/headers/data.yaml", "none: every algorithm sees the same unaugmented images"),
        Deviation("ResNet-12", ALL, "LibFewShot's ResNet-12 (MetaOptNet's widths, DropBlock keep_prob per config)",
                  "RL-VIG/LibFewShot config/backbones/resnet12.yaml", "resnet12: 64-160-320-640, averaged features, no "
                  "DropBlock (resnet12-dropblock with --model adds it)", decided=True),
        Deviation("network", ("protonet", "maml", "anil"), "Conv-4-64 (ProtoNet) / Conv-4-32 (MAML, ANIL)",
                  "Snell et al. Sec. 3.2; Finn et al. Sec. 5.2", "LibFewShot's Conv64F (conv4-64) and ResNet-12 for every "
                  "algorithm", decided=True, covers=("model",)),
        *COMMON,
    ],
    ("fewshot", "closer-look"): [
        Deviation("training schedule", ALL, "400 epochs of 100 batches of 16 (baseline, baseline++); 40,000-60,000 "
                  "episodes (meta-learners); Adam 1e-3; data augmentation", "Chen et al. 2019 Sec. 4.1; "
                  "CloserLookFewShot train.py", "each algorithm's paper values on miniImageNet (the mini-imagenet "
                  "profile's), no augmentation"),
        Deviation("image size", ALL, "224x224 for the ResNets, 84x84 for Conv-4", "CloserLookFewShot io_utils.py",
                  "84x84 for every backbone (the dataset's images)"),
        Deviation("cross-domain setting", ALL, "trained on miniImageNet, tested on CUB's novel classes",
                  "Chen et al. 2019 Sec. 4.4", "this profile's runs scored by `evaluate --dataset cub` (the same "
                  "weights, CUB's 50 test classes of the 100/50/50 split)", decided=True),
        Deviation("network", ("protonet", "maml"), "Conv-4-64 (ProtoNet) / Conv-4-32 (MAML)", "Snell et al.; Finn et al.",
                  "Chen et al.'s Conv-4 (conv4-64) and ResNet-18 for every algorithm", decided=True, covers=("model",)),
        Deviation("queries", ALL, "15 (the papers)", "Snell et al.; Finn et al.", "Chen et al.'s 16 per class, in "
                  "training and at test", decided=True, covers=("queries", "train_queries")),
        *COMMON,
    ],
    ("fewshot", "mtl-paper"): [
        Deviation("split", ALL, "64 training / 36 test classes (Table 1's caption)", "Eshratifar et al. Sec. 4",
                  "followed: mini-imagenet-64-36; whether Table 1 used it for every method is not stated", decided=True),
        Deviation("network", ("protonet",), "Conv-4-64", "Snell et al. Sec. 3.2", "MAML's Conv-4-32, one network for every "
                  "algorithm", covers=("model",)),
        Deviation("settings no paper gives", ("protonet", "reptile", "mtl_reptile"), "ProtoNet and Reptile report 5-way "
                  "1/5-shot only", "Snell et al.; openai/supervised-reptile README", "20/35-way and 100-shot: ProtoNet with the "
                  "test ways, meta-batch 4 and a constant lr; Reptile with the miniImageNet 5-shot command",
                  decided=True, covers=("meta_batch", "lr_halve_every", "train_ways")),
        *COMMON,
    ],
}


def for_profile(suite: str, profile: str) -> list[Deviation]:
    return DEVIATIONS.get((suite, profile), [])
