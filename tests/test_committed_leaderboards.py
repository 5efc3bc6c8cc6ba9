"""Every committed table in ``leaderboards/`` is what its raw results beside it regenerate:
the same rows and statistics in ``<suite>.csv`` and the same table and verdict lines in
``<suite>.md`` (only the provenance line of the command differs). A table whose numbers
cannot be recomputed from the committed runs fails here."""
import re
from pathlib import Path

import pandas as pd
import pytest

from benchmark.report.leaderboard import build

LEADERBOARDS = Path(__file__).resolve().parents[1] / "leaderboards"
TABLES = sorted(LEADERBOARDS.glob("**/*-runs.csv.gz"))


def _body(md: str) -> list[str]:
    """The table rows, headings and bullet lines of a leaderboard's markdown (not the command lines)."""
    return [line for line in md.splitlines() if line.startswith(("|", "#", "- `", "Provenance", "Scale", "Left out"))]


def test_there_are_committed_tables():
    assert TABLES, f"no raw results under {LEADERBOARDS}"


@pytest.mark.parametrize("runs", TABLES, ids=[str(p.relative_to(LEADERBOARDS)) for p in TABLES])
def test_committed_table_regenerates_from_its_raw_results(tmp_path, runs):
    folder, suite = runs.parent, runs.name.removesuffix("-runs.csv.gz")
    committed_md = (folder / f"{suite}.md").read_text()
    baseline = re.search(r"--baseline (\S+)", committed_md.splitlines()[2])
    build(folder, suite, tmp_path, baseline.group(1) if baseline else None)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / f"{suite}.csv"), pd.read_csv(folder / f"{suite}.csv"))
    assert _body((tmp_path / f"{suite}.md").read_text()) == _body(committed_md)
