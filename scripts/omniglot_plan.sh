#!/usr/bin/env bash
# The Omniglot reruns' plan (issue 28; leaderboards/README, "The plan"), in its order, resumable: rerun the same
# command after an interruption (finished runs and committed cells are skipped, evaluate passes resume).
#   STORE=stores/t1 scripts/omniglot_plan.sh 1 2 3 4
# Seed by seed: Table 2 scores the seed's 1- and 5-shot models, which live only in this store, so they are scored
# right after each piece that trains them (table1_pieces.sh runs table2_pieces.sh's passes; step 4 then trains and
# scores the 20-way models, and scores anything left), not after every seed's (a new machine would not have them). Commit
# leaderboards/omniglot-alphabets and leaderboards/omniglot-mtl after each piece.
set -uo pipefail
here=$(dirname "$0")
failed=0
for seed in "$@"; do
  SHOTS=1 "$here/table1_pieces.sh" "$seed" || failed=1                  # 1. Table 1, 1-shot, all 14 algorithms
  SHOTS=5 ONLY=embedding "$here/table1_pieces.sh" "$seed" || failed=1   # 2. Table 1, 5-shot, the embedding group
  if [ "$seed" -le 2 ]; then                                            # 3. 5-shot, the MAML group and the Reptile
    SHOTS=5 ONLY="maml reptile" "$here/table1_pieces.sh" "$seed" || failed=1  # pair: seeds 0-2 first
  fi
  "$here/table2_pieces.sh" "$seed" || failed=1                          # 4. Table 2 for this seed
done
for seed in "$@"; do  # the seed cut, taken last: the gradient-based 5-shot rows (and their Table 2 cells) at seeds 3-4
  if [ "$seed" -ge 3 ]; then
    SHOTS=5 ONLY="maml reptile" "$here/table1_pieces.sh" "$seed" && "$here/table2_pieces.sh" "$seed" || failed=1
  fi
done
# 5. the batch-norm sensitivity table (inductive), 3 seeds: its own folder and its own store (a piece exports its
#    whole store into its folder, so the two modes' runs must not share one)
STORE="${STORE:-stores/omniglot-alphabets}-inductive" BN=inductive ONLY=sensitivity \
    OUT=leaderboards/omniglot-alphabets/bn-inductive "$here/table1_pieces.sh" 0 1 2 || failed=1
[ "$failed" -eq 0 ] || echo "some piece failed (its lines above): rerun the same command to complete it"
exit "$failed"
