#!/usr/bin/env bash
# One resumable piece of a converged table (at most about an hour): run one seed of a profile into
# the table's store, export the store's raw results beside the table and regenerate the table from
# them. Rerun the same command after an interruption: finished runs are skipped, the interrupted one
# resumes from its checkpoint. Commit leaderboards/<profile>/ after each piece.
#   scripts/table_piece.sh standard cifar10-reduced 0 --dataset imagefolder --data-root ../shared/data/cifar10-jpeg.tar.gz
#   scripts/table_piece.sh fewshot omniglot-alphabets 0 --data-root ../shared/data/omniglot --shots 1
# STORE (default stores/<profile>) holds the MLflow store and checkpoints; OUT (default leaderboards/<profile>) the table.
set -euo pipefail
suite=$1 profile=$2 seed=$3
shift 3
store=${STORE:-stores/$profile}
out=${OUT:-leaderboards/$profile}
mkdir -p "$store" "$out"
uri="sqlite:///$(realpath "$store")/mlflow.db"
python -m benchmark run --suite "$suite" --profile "$profile" --seeds "$seed" "$@" --tracking-uri "$uri" \
    --checkpoint-dir "$store/checkpoints" --out "$store/results" --no-progress
python -m benchmark leaderboard --suite "$suite" --tracking-uri "$uri" --export "$out"
python -m benchmark leaderboard --suite "$suite" --from "$out" --out "$out" \
    --reproduce "scripts/table_piece.sh $suite $profile SEED $* (one piece per seed and setting)"
