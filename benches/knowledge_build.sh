#!/usr/bin/env bash
# Embedding throughput of `scgenept knowledge build`: all six text sources in concat mode, with a
# cold then a warm text-hash cache. From the repository root:
#   cargo build --release && GENES=benches/genes_norman_size.txt benches/knowledge_build.sh
set -e
BIN=${BIN:-target/release/scgenept}
G=${GENES:?set GENES to a gene list, one symbol a line}
C=${CACHE:-$(mktemp -d)/cache.bin}
rm -f $C
# One pass over the six sources; the second pass finds every text in the cache.
pass() {
  local label=$1 start end
  start=$(date +%s.%N)
  for s in go_f go_c go_p go_all ncbi ncbi_uniprot; do
    $BIN knowledge build --source $s --genes $G --out ${OUT:-/tmp}/bench_${label}_$s.safetensors --cache $C | head -1
  done
  end=$(date +%s.%N)
  echo "all six sources ($label cache): $(echo "$end - $start" | bc) s"
}
pass cold
pass warm
