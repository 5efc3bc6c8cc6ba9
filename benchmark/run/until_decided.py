"""``run --until-decided``: the grid's seeds are added one look at a time (``report.sequential``).

Look 1 runs every cell at the first 3 seeds. After each look the comparisons are judged from the store (every finished
cell of the grid so far, whichever process ran it), and the next seed runs only for the algorithms whose comparison is
undecided, with the baseline while any is. The grid stops when every comparison is decided or at ``--max-seeds``.

Each look is an ordinary grid step: cells already FINISHED are skipped, so a rerun of the same command continues the
sequence where it stopped, and ``--workers``, Ray and ``--shard`` run a look's cells as they run any grid's. A shard
runs its slice of each look and then waits until every cell of the look has ended in the store, so that all shards
judge the same results and agree on the next look.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable

from ..report import raw, sequential
from ..report.leaderboard import grid_summary, tables

POLL_S = 5.0  # a shard's wait between looks at the store


def _group_of(runs, spec, first_seed: int) -> tuple | None:
    """The table group (raw.GROUP values) of a spec, from the finished run of its first-seed sibling."""
    key = dataclasses.replace(spec, seed=first_seed).key()
    rows = runs[runs.config_key == key]
    return tuple(str(v) for v in rows.iloc[0][raw.GROUP]) if len(rows) else None


def judge(tracker, suite: str, keys: set[str], design: sequential.Design, baseline: str):
    """(runs, board) of the grid's cells so far, the board judged by the design (empty board: nothing finished)."""
    runs, episodes = grid_summary(tracker, suite, keys)
    if runs.empty:
        return runs, runs
    df, _ = raw.finished(runs)
    if df.empty or baseline not in set(df.algorithm):
        return runs, df.iloc[0:0]
    return runs, tables(df, suite, baseline, episodes, design=design)


def needs_seed(board, runs, specs: list, first_seed: int, baseline: str) -> list:
    """The specs whose algorithm's comparison is not decided (and the baselines of groups with such a comparison)."""
    open_groups, todo = set(), []
    undecided = {(tuple(str(v) for v in r[raw.GROUP]), r.algorithm) for _, r in board.iterrows()
                 if r.algorithm != baseline and (r.stopped == "needs more seeds" or str(r.stopped).startswith("no look"))}
    for s in specs:
        group = _group_of(runs, s, first_seed)
        if s.algorithm != baseline and (group is None or (group, s.algorithm) in undecided):
            todo.append(s)  # no result to judge yet (its first seeds failed) counts as undecided
            open_groups.add(group)
    todo += [s for s in specs if s.algorithm == baseline and _group_of(runs, s, first_seed) in open_groups]
    return todo


def _slice(cells: list, shard: tuple[int, int] | None) -> list:
    return [s for j, s in enumerate(cells) if j % shard[1] == shard[0] - 1] if shard else cells


def _wait_for(tracker, suite: str, keys: set[str], echo: Callable[[str], None]) -> None:
    """Until every cell named has a run that ended (any status but RUNNING) in the store: the other shards' part of
    this look."""
    said = 0.0
    while True:
        runs, _ = grid_summary(tracker, suite, keys)
        ended = set(runs[runs.status != "RUNNING"].config_key) if len(runs) else set()
        missing = sorted(keys - ended)
        if not missing:
            return
        if time.monotonic() - said > 60:
            echo(f"waiting for the other shards' {len(missing)} cell(s) of this look (e.g. {missing[0]})")
            said = time.monotonic()
        time.sleep(POLL_S)


def run(specs: list, design: sequential.Design, execute: Callable[[list], list], tracker, suite: str, baseline: str,
        shard: tuple[int, int] | None = None, on_look: Callable[[set[str]], None] = lambda keys: None) -> tuple[list, set]:
    """Run the looks; ``specs``: every cell up to ``max_seeds`` (seeds in order), ``execute(cells)`` runs this
    process's cells and returns their results, ``on_look(keys)``: the cells run so far (to name them on the parent).
    Returns every look's results and the keys of every look's cells."""
    seeds = sorted({s.seed for s in specs})
    first_seed, results, keys = seeds[0], [], set()
    for look, n in enumerate(design.looks, 1):
        if n > len(seeds):
            break
        if look == 1:
            cells = [s for s in specs if s.seed in seeds[:n]]
        else:
            runs, board = judge(tracker, suite, keys, design, baseline)
            if board.empty:  # no finished baseline (or nothing finished): nothing can be judged, so nothing is added
                print(f"look {look}: no finished run of the baseline {baseline}; the sequence stops", flush=True)
                break
            cells = needs_seed(board, runs, [s for s in specs if s.seed == seeds[n - 1]], first_seed, baseline)
        if not cells:
            break
        keys |= {s.key() for s in cells}
        on_look(keys)
        mine = _slice(cells, shard)
        print(f"look {look} ({n} seeds): {len(cells)} cell(s)" + (f", {len(mine)} in this shard" if shard else ""), flush=True)
        results += execute(mine) if mine else []
        if shard:
            _wait_for(tracker, suite, {s.key() for s in cells}, lambda m: print(m, file=sys.stderr, flush=True))
    return results, keys
