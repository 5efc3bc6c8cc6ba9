"""The Omniglot reruns' plan (issue 28; leaderboards/README, "The plan") as data, for the scripts that read the tables
against it (omniglot_progress.py, omniglot_answers.py): Table 1's settings and algorithm groups, and Table 2's
settings per algorithm. The groups and Table 2's any-way algorithms are read from the piece scripts that run them
(table1_pieces.sh, table2_pieces.sh), so the pages and the runs cannot disagree; omniglot_plan.sh runs the plan.
"""
import functools
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
T1_SETTINGS = ["5-way 1-shot", "5-way 5-shot"]  # Table 1's
MAML_PAIR = ["maml", "mtl_maml"]  # meta-trained at 20-way too (table2_pieces.sh, step 2)
TRAINED_20 = ["20-way 1-shot"]  # the cut of 2026-12-05 (leaderboards/README): 20-way 5-shot training, 7.5 core-h a seed
MTL = {"mtl_maml": "maml", "mtl_reptile": "reptile"}  # each MTL and the meta-learner it extends


@functools.cache  # read once: the pages ask per algorithm and seed
def groups(script: Path = HERE / "table1_pieces.sh") -> dict[str, list[str]]:
    """Table 1's algorithm groups and Table 2's algorithms ("table2"), read from the piece script that runs them."""
    found = dict(re.findall(r'\[(\w+)\]="([^"$]*)"', script.read_text()))
    return {name: found[name].split() for name in ("embedding", "maml", "reptile", "sensitivity", "table2")}


@functools.cache
def any_way(script: Path = HERE / "table2_pieces.sh") -> list[str]:
    """Table 2's algorithms that take any number of ways (scored at 20- and 35-way from their 5-way models)."""
    return re.search(r'^ANY_WAY="([^"]*)"', script.read_text(), re.M).group(1).split()


def table2_settings(algorithm: str) -> list[str]:
    """The settings Table 2 scores an algorithm at: 1, 5 and 15 shots at 5-way; 20- and 35-way too for the any-way
    algorithms, 20-way for the MAML pair (meta-trained at it); the Reptile pair at 5-way only (the plan's cut)."""
    ways = (5, 20, 35) if algorithm in any_way() else (5, 20) if algorithm in MAML_PAIR else (5,)
    return [f"{w}-way {k}-shot" for w in ways for k in (1, 5, 15)]
