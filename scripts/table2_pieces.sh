#!/usr/bin/env bash
# Table 2 of the Omniglot reruns (issue 28): the MTL paper's question, whether MTL beats transfer learning and its
# own meta-learner as ways and shots grow (plan and cuts in leaderboards/README). Per seed, in Table 1's store
# (whose models it scores, so run it where Table 1's pieces of that seed ran, after both of its settings):
#   1. evaluate passes of the best-validation weights into the experiment mtl-question, 5 queries per class
#      (15 shots + 5 queries fill an alphabet's 20 drawers), each shot count scored with the models trained at
#      the nearest shot count Table 1 has (1 shot: its 1-shot models; 5 and 15 shots: its 5-shot models; measured:
#      MAML's 1-shot models lose 4.1 pp at 5 shots, leaderboards/omniglot-mtl/shots-matter): transfer, protonet,
#      baseline_pp, reptile, mtl_reptile, maml and mtl_maml at 5-way; the any-way ones (transfer, protonet,
#      baseline_pp) also at 20- and 35-way. Two processes, one per core; a pass cut short resumes where it stopped
#      (evaluate skips what it scored), and a model not trained yet is scored by the next run of this script;
#   2. maml and mtl_maml meta-trained at 20-way 1-shot under Table 1's protocol (experiment fewshot-20way), in pieces
#      of at most an hour that resume, and scored as soon as they are trained at 20-way 1, 5 and 15 shots. The cut
#      of 2026-12-05 (leaderboards/README, Table 2): 20-way 5-shot training measured 1.5 s a MAML meta-iteration,
#      about 7.5 core-hours a seed for the pair, so the 5- and 15-shot cells come from the 1-shot models, which
#      seed 0 measured to lose accuracy as shots grow (MTL-MAML 14 pp from 1 to 5 shots): those cells are labelled
#      as scored outside the models' training shots, and question 2's answer says what that means for them;
#   3. after 1 and after 2, the raw results added to leaderboards/omniglot-mtl (T2_OUT) and the table regenerated,
#      with each MTL against its parent (--compare). Commit that folder after each seed.
#   STORE=/work/stores/t1c scripts/table2_pieces.sh 0 1
#   SCORE=1 STORE=/work/stores/t1c scripts/table2_pieces.sh 1   # step 1 for the seed's 5-way 1-shot models only (5: its
#       5-shot ones), as table1_pieces.sh runs it after each piece of Table 1, so that every model is scored in the
#       session that trained it (a store does not outlive its machine)
# WORKERS: the 20-way training's parallel runs (default 2, one per core; 1 beside another job's run).
set -uo pipefail
# shellcheck disable=SC2086  # $ANY_WAY is a list of algorithm names
export STORE=${STORE:-stores/omniglot-alphabets} OMP_NUM_THREADS=1
out=${T2_OUT:-leaderboards/omniglot-mtl}  # not OUT: table_piece.sh names Table 1's folder so
uri="sqlite:///$(realpath "$STORE")/mlflow.db"
data=(--data-root ../shared/data/omniglot)
ANY_WAY="transfer protonet baseline_pp"
REPRODUCE="scripts/table2_pieces.sh SEED (one piece per seed; leaderboards/README, Table 2)"

ev() {  # one evaluate pass: ev EXPERIMENT TRAINED_SETTING SEED WAYS SHOTS ALGORITHM... (--if-trained: models this
  # store lacks, as in a new store whose seed has its 5-way cells committed already, are said so and are not a failure)
  local exp=$1 trained=$2 seed=$3 ways=$4 shots=$5
  shift 5
  echo "=== $(date -Is) seed $seed: $* ($trained models) at $ways-way $shots-shot"
  python -m benchmark evaluate --tracking-uri "$uri" --experiment "$exp" --trained-setting "$trained" --seeds "$seed" \
      --algorithm "$@" --weights best --ways "$ways" --shots "$shots" --queries 5 --eval-experiment mtl-question \
      --if-trained "${data[@]}"
}

table() {  # the raw results into the table's folder, and the table regenerated from them
  if [ ! -f "$STORE/mlflow.db" ]; then echo "=== $(date -Is) no store at $STORE yet: nothing scored here to export"; return; fi
  if [ "${1:-}" = with-20way ]; then  # the 20-way models' training runs (curves, plateau), beside the table
    python -m benchmark leaderboard --suite fewshot --tracking-uri "$uri" --experiment fewshot-20way \
        --export "$out/training-20way" --merge || failed=1
  fi
  python -m benchmark leaderboard --suite fewshot --tracking-uri "$uri" --experiment mtl-question --export "$out" --merge \
      && python -m benchmark leaderboard --suite fewshot --from "$out" --out "$out" \
          --compare mtl_maml:maml mtl_reptile:reptile --reproduce "$REPRODUCE" || failed=1
}

both() {  # wait for the two passes of a step; a failed one is reported at the end (rerun to complete it)
  for pid in "$@"; do wait "$pid" || failed=1; done
}

train20() {  # the MAML pair meta-trained at 20-way: train20 SEED SHOTS, in pieces of at most an hour that resume;
  # training cells already committed beside the table are skipped (--done-in), so a new store (a new machine) trains
  # only what is missing: their evaluate passes then find no model and say so, and their committed cells stand
  local seed=$1 shots=$2 rc=0 done_in=()
  if [ -f "$out/training-20way/fewshot-runs.csv.gz" ]; then done_in=(--done-in "$out/training-20way"); fi
  for attempt in 1 2 3 4 5 6; do
    echo "=== $(date -Is) seed $seed, 20-way $shots-shot training, attempt $attempt: maml mtl_maml"
    timeout 3600 python -m benchmark run --suite fewshot --profile omniglot-alphabets --seeds "$seed" --ways 20 \
        --shots "$shots" --algorithm maml mtl_maml --workers "${WORKERS:-2}" --experiment fewshot-20way --tracking-uri "$uri" \
        --checkpoint-dir "$STORE/checkpoints" --out "$STORE/results" --no-progress ${done_in[@]+"${done_in[@]}"} "${data[@]}"
    rc=$?
    echo "=== $(date -Is) rc $rc"
    [ "$rc" -eq 124 ] || break  # 124: cut at the hour, resume
  done
  return "$rc"
}

score() {  # score SEED K: the evaluate passes of this store's 5-way K-shot models (K 1: the 1-shot cells, K 5: the
  # 5- and 15-shot cells), two processes; a model this store lacks is left to the next pass of a store that has it
  local seed=$1 k=$2 ks=1 s w
  if [ "$k" != 1 ]; then ks="5 15"; fi
  (rc=0  # seed 0's passes took about 1,800 and 2,800 core-seconds in these two halves at 5 and 15 shots
   for s in $ks; do ev fewshot "5-way $k-shot" "$seed" 5 "$s" reptile $ANY_WAY || rc=1; done
   for s in $ks; do ev fewshot "5-way $k-shot" "$seed" 20 "$s" $ANY_WAY || rc=1; done
   exit $rc) &
  a=$!
  (rc=0
   for s in $ks; do ev fewshot "5-way $k-shot" "$seed" 5 "$s" mtl_reptile maml mtl_maml || rc=1; done
   for s in $ks; do ev fewshot "5-way $k-shot" "$seed" 35 "$s" $ANY_WAY || rc=1; done
   exit $rc) &
  both $a $!
}

score20() {  # score20 SEED: the 20-way 1-shot models of the MAML pair at 20-way 1, 5 and 15 shots, two processes
  local seed=$1 trained="20-way 1-shot"
  ev fewshot-20way "$trained" "$seed" 20 1 maml & a=$!
  ev fewshot-20way "$trained" "$seed" 20 1 mtl_maml & both $a $!
  ev fewshot-20way "$trained" "$seed" 20 5 maml mtl_maml & a=$!
  (rc=0; ev fewshot-20way "$trained" "$seed" 20 15 maml || rc=1
   ev fewshot-20way "$trained" "$seed" 20 15 mtl_maml || rc=1; exit $rc) &
  both $a $!
}

failed=0
# SCORE=K runs right after the piece that trained its models, in their store: a missing one is a wrong STORE (checked
# before the lock below creates the folder)
if [ -n "${SCORE:-}" ] && [ ! -f "$STORE/mlflow.db" ]; then
  echo "table2_pieces.sh: SCORE=$SCORE scores the models of the store that trained them; no store at $STORE (set STORE)" >&2
  exit 2
fi
mkdir -p "$STORE"
exec 9>"$STORE/table2-scoring.lock"
flock 9  # one scoring run per store: evaluate's skip is a check, not a lock, so two at once score cells twice
if [ -n "${SCORE:-}" ]; then  # SCORE=K: step 1 for the 5-way K-shot models only (table1_pieces.sh, after each piece)
  for seed in "$@"; do score "$seed" "$SCORE"; done
  table
  exit "$failed"
fi
for seed in "$@"; do
  score "$seed" 1
  score "$seed" 5
  table
  train20 "$seed" 1 || failed=1  # scored as soon as it is trained: the store does not outlive the session
  score20 "$seed"
  table with-20way
done
[ "$failed" -eq 0 ] || echo "=== $(date -Is) some step failed (its lines above): rerun the same command to complete it"
exit "$failed"
