#!/bin/sh
# Make (or resume) every data set of examples/datasets in two queues that
# share the labellers' caches: `sh run_all.sh a` and `sh run_all.sh b` in two
# shells (or one of them alone). Each step resumes from its cache; a step
# whose share is done only collects. Finish with `sh run_all.sh collect`
# (computes nothing; rewrites every shipped file from the caches).
set -e
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1
run() { nice -n 15 python "$@"; }
case "$1" in
a)
    run water_dimer_b3lyp/make.py --shard 0/2 --fd-check
    run methanol_b3lyp/make.py --shard 0/2 --fd-check
    run amino_acids_b3lyp/make.py --label-molecules glycine alanine serine cysteine --test-molecule alanine --shard 0/2
    ;;
b)
    run nine_species_gfn2/make.py
    run water_dimer_b3lyp/make.py --shard 1/2
    run methanol_b3lyp/make.py --shard 1/2
    run peptides_gfn2/make.py
    run amino_acids_b3lyp/make.py --label-molecules glycine alanine serine cysteine --test-molecule alanine --shard 1/2
    ;;
collect)
    run water_dimer_b3lyp/make.py --cached-only --fd-check
    run methanol_b3lyp/make.py --cached-only --fd-check
    run amino_acids_b3lyp/make.py --label-molecules glycine alanine serine cysteine --test-molecule alanine --cached-only --fd-check-atoms 0 1 3
    run nine_species_gfn2/make.py --cached-only
    run peptides_gfn2/make.py --cached-only
    ;;
*)
    echo "usage: sh run_all.sh a|b|collect" >&2
    exit 2
    ;;
esac
