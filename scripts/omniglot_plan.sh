#!/usr/bin/env bash
# The Omniglot reruns' plan (issue 28; leaderboards/README, "The plan"), in its order, resumable: rerun the same
# command after an interruption (finished runs and committed cells are skipped, evaluate passes resume).
#   STORE=stores/t1 scripts/omniglot_plan.sh 1 2 3 4
# Steps 1 and 2 go seed by seed: Table 2 scores the seed's 1-shot models, which live only in this store, so they are
# scored right after they are trained, not after every seed's (a new machine would not have them). Commit
# leaderboards/omniglot-alphabets and leaderboards/omniglot-mtl after each piece.
set -uo pipefail
here=$(dirname "$0")
failed=0
for seed in "$@"; do
  SHOTS=1 "$here/table1_pieces.sh" "$seed" || failed=1     # 1. Table 1, 5-way 1-shot, all 14 algorithms
  "$here/table2_pieces.sh" "$seed" || failed=1             # 2. Table 2 for this seed
done
SHOTS=5 ONLY=embedding "$here/table1_pieces.sh" "$@" || failed=1     # 3. Table 1, 5-shot, the embedding group
for seed in "$@"; do                                      # 4. 5-shot, the MAML group and the Reptile pair: 3 seeds first
  if [ "$seed" -le 2 ]; then SHOTS=5 ONLY="maml reptile" "$here/table1_pieces.sh" "$seed" || failed=1; fi
done
for seed in "$@"; do
  if [ "$seed" -ge 3 ]; then SHOTS=5 ONLY="maml reptile" "$here/table1_pieces.sh" "$seed" || failed=1; fi
done
# 5. the batch-norm sensitivity table (inductive), 3 seeds: its own folder and its own store (a piece exports its
#    whole store into its folder, so the two modes' runs must not share one)
STORE="${STORE:-stores/omniglot-alphabets}-inductive" BN=inductive ONLY=sensitivity \
    OUT=leaderboards/omniglot-alphabets/bn-inductive "$here/table1_pieces.sh" 0 1 2 || failed=1
[ "$failed" -eq 0 ] || echo "some piece failed (its lines above): rerun the same command to complete it"
exit "$failed"
