#!/usr/bin/env bash
# Table 1 of the Omniglot reruns (issue 28; plan in leaderboards/README): every piece of the given seeds, one after
# another, each at most an hour (a piece cut by the hour resumes at once; rerun the script to continue). Cells
# already committed to the table's folder are skipped (--done-in, via table_piece.sh); commit that folder after each
# piece.
#   STORE=stores/t1 scripts/table1_pieces.sh 0 1                  # every algorithm, 1- then 5-shot
#   SHOTS=1 STORE=stores/t1 scripts/table1_pieces.sh 1 2 3 4      # the plan's first step: 1-shot only
#   SHOTS=5 ONLY=embedding STORE=stores/t1 scripts/table1_pieces.sh 1 2 3 4
#   BN=inductive ONLY=sensitivity OUT=leaderboards/omniglot-alphabets/bn-inductive STORE=stores/bn \
#       scripts/table1_pieces.sh 0 1 2                            # the other batch-norm mode's sensitivity table
# SHOTS: the shot counts (default "1 5"); ONLY: the groups by name (default all; embedding, maml, reptile,
# sensitivity; anyway and table2: Table 2's models); BN: --bn-eval; WORKERS: parallel runs (default 2, one per core;
# 1 beside another job's run). After each piece of the main table (BN unset) the store's new models of Table 2's
# algorithms are scored for it (`SCORE=K scripts/table2_pieces.sh SEED`; T2=0 skips it): a store lives only as long
# as its machine, so a model is scored in the session that trained it. RETRAIN=1 trains cells the table already has
# (table_piece.sh): models of a lost store that Table 2 has not scored, e.g.
#   RETRAIN=1 SHOTS=1 ONLY=anyway STORE=stores/t1 scripts/table1_pieces.sh 1
# The main table's planned comparisons (decided 2026-12-03, before seeds 1-4, so that the answer "do meta-learners
# beat the simple baselines?" is confirmatory, not a re-test chosen after the table as protocol v1's was): every
# meta-learner against Baseline++, the strongest simple baseline of protocol v1 and of seed 0, in the same Holm
# family as the comparisons with transfer (leaderboards/README). The sensitivity table (BN set) has none.
PLANNED="protonet:baseline_pp matching_net:baseline_pp maml:baseline_pp fomaml:baseline_pp metasgd:baseline_pp \
anil:baseline_pp reptile:baseline_pp mtl_maml:baseline_pp mtl_reptile:baseline_pp"
if [ -z "${BN:-}" ]; then export COMPARE=${COMPARE-$PLANNED}; else unset COMPARE; fi
set -uo pipefail
export STORE=${STORE:-stores/omniglot-alphabets} OMP_NUM_THREADS=1
declare -A GROUPS_=([embedding]="protonet matching_net nearest_neighbour transfer baseline_pp linear_probe anil finetune"
                    [maml]="maml fomaml metasgd mtl_maml" [reptile]="reptile mtl_reptile"
                    [sensitivity]="protonet matching_net maml baseline_pp transfer"
                    [anyway]="transfer protonet baseline_pp"
                    [table2]="transfer protonet baseline_pp reptile mtl_reptile maml mtl_maml")
# all: one grid per setting, so both workers stay busy to its end (the runner starts the costliest cells first; the
# hourly cut exports what finished); the three groups were the pieces of seed 0, where one core idled at each group's end
GROUPS_[all]="${GROUPS_[embedding]} ${GROUPS_[maml]} ${GROUPS_[reptile]}"
bn=()
if [ -n "${BN:-}" ]; then bn=(--bn-eval "$BN"); fi
failed=0
for seed in "$@"; do
  for shots in ${SHOTS:-1 5}; do
    for name in ${ONLY:-all}; do
      group=${GROUPS_[$name]:?"unknown group $name (all, embedding, maml, reptile, sensitivity, anyway, table2)"}
      for attempt in 1 2 3 4 5 6; do  # an hour each: a whole setting takes 3-5 hours on 2 cores
        echo "=== $(date -Is) seed $seed, $shots-shot, attempt $attempt: $group"
        # shellcheck disable=SC2086  # the group is a list of algorithm names
        timeout 3600 scripts/table_piece.sh fewshot omniglot-alphabets "$seed" --data-root ../shared/data/omniglot \
            --shots "$shots" --workers "${WORKERS:-2}" ${bn[@]+"${bn[@]}"} --algorithm $group
        rc=$?
        echo "=== $(date -Is) rc $rc"
        if [ -z "${BN:-}" ] && [ "${T2:-1}" != 0 ]; then  # Table 2 scores this store's new models before it is lost
          SCORE=$shots scripts/table2_pieces.sh "$seed" || echo "=== $(date -Is) Table 2 scoring: a pass failed (above)"
        fi
        [ "$rc" -eq 124 ] || break  # 124: cut at the hour, resume
      done
      [ "$rc" -eq 0 ] || failed=1  # a FAILED run (listed above), bad input, or still unfinished after the last hour
    done
  done
done
exit "$failed"
