"""``python -m benchmark {run,tune,list,leaderboard,ui,perf}``.

Every user-facing failure is one line on stderr and a non-zero exit: 2 for bad input
(unknown names, bad flag values, missing data), 1 when runs failed, 130 when interrupted.
"""
from __future__ import annotations

import os

from .. import plugins
from ..run.workers import end_if_bootstrapping
from ..track.stores import StoreError
from . import commands
from .parser import EXIT_BAD_INPUT, build_parser

__all__ = ["EXIT_BAD_INPUT", "build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    end_if_bootstrapping()  # before the parser and the store: an unguarded script's spawned worker ends here
    args = build_parser().parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    handlers = {"list": commands.cmd_list, "run": commands.cmd_run, "perf": commands.cmd_perf, "ui": commands.cmd_ui,
                "tune": commands.cmd_tune, "leaderboard": lambda a: commands.cmd_leaderboard(a, argv),
                "evaluate": commands.cmd_evaluate, "episodes": commands.cmd_episodes,
                "check-algorithm": commands.cmd_check_algorithm}
    try:
        plugins.load_all(args.plugin)
    except plugins.PluginError as e:
        return commands.fail(str(e))
    try:
        return handlers[args.command](args)
    except StoreError as e:  # raised wherever a store is first touched, always before training
        return commands.fail(str(e))
