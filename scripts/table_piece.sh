#!/usr/bin/env bash
# One resumable piece of a converged table (at most about an hour): run one seed of a profile into
# the table's store, add the store's raw results to the table's (runs of other stores already there
# are kept) and regenerate the table from them. Rerun the same command after an interruption:
# finished runs are skipped, the interrupted one resumes from its checkpoint; cells the table
# already has (pieces of a store since lost, or run on another machine) are skipped too.
# Commit leaderboards/<profile>/ after each piece.
#   scripts/table_piece.sh standard cifar10-reduced 0 --dataset imagefolder --data-root ../shared/data/cifar10-jpeg.tar.gz
#   scripts/table_piece.sh fewshot omniglot-alphabets 0 --data-root ../shared/data/omniglot --shots 1
# STORE (default stores/<profile>) holds the MLflow store and checkpoints; OUT (default leaderboards/<profile>) the table;
# COMPARE (optional, "A:B C:D") the table's planned comparisons (leaderboard --compare), kept at every regeneration;
# RETRAIN=1 trains the cells the table already has too (a lost store's models that another step still needs: the
# new run supersedes the committed one, so the table and what scored its model show the same run).
set -euo pipefail
suite=$1 profile=$2 seed=$3
shift 3
store=${STORE:-stores/$profile}
out=${OUT:-leaderboards/$profile}
mkdir -p "$store" "$out"
uri="sqlite:///$(realpath "$store")/mlflow.db"
done_in=() compare=() pairs=() env=""
read -ra pairs <<< "${COMPARE:-}"
if [ "${#pairs[@]}" -gt 0 ]; then compare=(--compare "${pairs[@]}") env="COMPARE='${pairs[*]}' "; fi
if [ -f "$out/$suite-runs.csv.gz" ] && [ "${RETRAIN:-0}" = 0 ]; then done_in=(--done-in "$out"); fi
rc=0  # a failed run (listed by run) must not keep the piece's finished runs out of the table
python -m benchmark run --suite "$suite" --profile "$profile" --seeds "$seed" "$@" --tracking-uri "$uri" \
    --checkpoint-dir "$store/checkpoints" --out "$store/results" --no-progress ${done_in[@]+"${done_in[@]}"} || rc=$?
if [ "$rc" -eq 2 ]; then exit 2; fi  # bad input: nothing ran (an interrupted piece still adds its finished runs)
if [ -f "$(realpath "$store")/mlflow.db" ]; then
    python -m benchmark leaderboard --suite "$suite" --tracking-uri "$uri" --export "$out" --merge
fi
python -m benchmark leaderboard --suite "$suite" --from "$out" --out "$out" ${compare[@]+"${compare[@]}"} \
    --reproduce "${env}scripts/table_piece.sh $suite $profile SEED $* (one piece per seed and setting)"
exit "$rc"
