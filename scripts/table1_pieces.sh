#!/usr/bin/env bash
# Table 1 of the Omniglot reruns (issue 28; plan in leaderboards/README): every piece of the given seeds, one after
# another, each at most an hour (a piece cut by the hour resumes once at once; rerun the script to continue). Cells
# already committed to leaderboards/omniglot-alphabets are skipped (--done-in, via table_piece.sh); commit that
# folder after each piece.   STORE=stores/t1 scripts/table1_pieces.sh 0 1
set -uo pipefail
export STORE=${STORE:-stores/omniglot-alphabets} OMP_NUM_THREADS=1
GROUPS_=("protonet matching_net nearest_neighbour transfer baseline_pp linear_probe anil finetune"
         "maml fomaml metasgd mtl_maml" "reptile mtl_reptile")
for seed in "$@"; do
  for shots in 1 5; do
    for group in "${GROUPS_[@]}"; do
      for attempt in 1 2; do
        echo "=== $(date -Is) seed $seed, $shots-shot, attempt $attempt: $group"
        # shellcheck disable=SC2086  # the group is a list of algorithm names
        timeout 3600 scripts/table_piece.sh fewshot omniglot-alphabets "$seed" --data-root ../shared/data/omniglot \
            --shots "$shots" --workers 2 --algorithm $group
        rc=$?
        echo "=== $(date -Is) rc $rc"
        [ "$rc" -eq 124 ] || break  # 124: cut at the hour, resume once more
      done
    done
  done
done
