"""One run = dataset x model x algorithm x seed (x few-shot setting), fully resolved."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunSpec:
    suite: str
    profile: str
    dataset: str
    model: str
    algorithm: str
    seed: int
    hparams: Any  # the algorithm's validated Hparams dataclass (algorithms.make_hparams), optimiser included
    epochs: int = 0
    batch_size: int = 0
    milestones: list[int] = field(default_factory=list)
    lr_gamma: float = 0.1
    max_steps: int | None = None
    data_root: str | None = None
    download: bool = False
    val_fraction: float = 0.1
    train_per_class: int | None = None  # a labelled reduced-scale subset of the training split
    preprocess: dict[str, Any] = field(default_factory=dict)  # overrides of the dataset's defaults
    val_per_class: int | None = None  # standard: validate on at most this many images per class (a cheap per-epoch curve)
    test_every: int | None = None  # standard: test every k epochs and at the last (None: every epoch)
    scale: str = "paper"  # paper | reduced | quick
    scale_note: str = ""  # how a non-paper run differs from the paper's protocol
    # few-shot suite only
    ways: int | None = None
    shots: int | None = None
    queries: int | None = None
    train_queries: int | None = None  # few-shot: query images per class of the meta-training tasks (None: ``queries``)
    meta_batch: int | None = None
    meta_iterations: int | None = None
    test_episodes: int | None = None
    val_episodes: int | None = None
    val_every: int | None = None
    eval_seed: int = 0
    # few-shot: stop at a validation point t >= plateau_min once the best validation accuracy at t exceeds the best at
    # 0.8 t by < 0.5 pp (meta_iterations is then the cap); None: train for meta_iterations
    plateau_min: int | None = None
    # few-shot: the weights scored on the test episodes: "final" (the last iteration's) or "best-val" (those of the
    # validation point with the highest accuracy, model selection by validation)
    test_weights: str = "final"
    bn_eval: str = ""  # few-shot: batch norm at test, transductive | inductive ("" for the standard suite)
    precision: str = "fp32"  # forward passes: fp32 | bf16 (plan.precision)
    # a label the suite derives from the fields above (``5-way 1-shot``); not part of the key
    setting: str = ""
    # few-shot: test episodes from a manifest (episodes export); its content hash is part of the key
    episodes_file: str = ""
    episodes_hash: str = ""
    # few-shot: test episodes scored this many at a time (0: blocks sized by memory, 1: one by one, the reference
    # loop); how the same predictions are computed, not what is computed: not part of the key
    eval_batch: int = 0

    def hparams_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.hparams) if dataclasses.is_dataclass(self.hparams) else dict(self.hparams)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hparams"] = self.hparams_dict()
        return d

    def key(self) -> str:
        """Identity of the experiment (not of the hardware it runs on): a hash of the config."""
        d = self.to_dict()
        for derived in ("download", "setting", "episodes_file", "eval_batch"):
            d.pop(derived, None)
        if not d.get("episodes_hash"):
            d.pop("episodes_hash", None)  # runs on the default episodes keep the keys they had
        for optional in ("val_per_class", "test_every", "train_queries", "plateau_min"):
            if d.get(optional) is None:
                d.pop(optional, None)  # runs without them keep the keys they had
        if d.get("test_weights") in ("", "final"):
            d.pop("test_weights", None)  # runs scored with their final weights keep the keys they had
        if d.get("precision") in ("", "fp32"):
            d.pop("precision", None)  # fp32 runs keep the keys they had before the choice existed
        if d.get("bn_eval") in ("", "transductive"):
            d.pop("bn_eval", None)  # transductive runs keep the keys they had before the mode was a choice
        raw = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    @property
    def run_name(self) -> str:
        short = self.setting.replace("-way ", "w").replace("-shot", "s").replace(" ", "")
        bn = ["bn-inductive"] if self.bn_eval == "inductive" else []
        return "-".join([self.dataset, self.model, self.algorithm] + ([short] if short else []) + bn + [f"s{self.seed}"])

    def flat_params(self) -> dict[str, str]:
        """Every resolved hyperparameter as MLflow params (``hp.<name>``: the same names as
        ``--set``, the search spaces and the algorithm's Hparams)."""
        out: dict[str, str] = {}
        for k, v in self.to_dict().items():
            if k == "hparams":
                out.update({f"hp.{hk}": str(hv) for hk, hv in v.items()})
            elif k == "preprocess":
                out.update({f"pre.{pk}": str(pv) for pk, pv in v.items()})
            else:
                out[k] = str(v)
        return out
