#!/usr/bin/env bash
# `scgenept sweep --slurm` against a real SLURM (CI: .ci/run). Installs Debian's slurm-wlm and
# munge if missing, starts munged, slurmctld and slurmd for a one-node cluster on this machine
# (CPU tasks, its own config), submits configs/sweeps/demo.toml (shrunk to a test-sized network
# with --set, as tests/readme.rs shrinks it), cancels one array task while it runs, resubmits,
# waits, and checks the collected table equals a local `scgenept sweep` of the same config byte
# for byte. Stops the daemons it started (by pid).
#
#   scripts/slurm_smoke.sh [BINARY]      (default target/debug/scgenept; needs root or sudo)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(realpath "${1:-$ROOT/target/debug/scgenept}")
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
bash "$ROOT/scripts/install_slurm.sh"
WORK=$(mktemp -d /tmp/scgenept-slurm-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do [ -f "$p" ] && $SUDO kill "$(cat "$p")" 2>/dev/null || true; done
}
trap cleanup EXIT
HOST=$(hostname -s)
mkdir -p "$WORK"/{state,spool,log,munge}
cat > "$WORK/slurm.conf" <<CONF
ClusterName=scgenept-smoke
SlurmctldHost=$HOST
SlurmUser=$(id -un)
AuthType=auth/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
NodeName=$HOST CPUs=$(nproc) RealMemory=2000 State=UNKNOWN
PartitionName=smoke Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$WORK/slurm.conf
echo "== starting munged, slurmctld, slurmd ($WORK)"
if [ ! -f /etc/munge/munge.key ]; then
  $SUDO mkdir -p /etc/munge
  $SUDO dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  $SUDO chmod 400 /etc/munge/munge.key
fi
$SUDO munged --force --socket="$WORK/munge/munge.socket" --pid-file="$WORK/munge/munged.pid" \
  --log-file="$WORK/log/munged.log" --seed-file="$WORK/munge/seed"
PIDS+=("$WORK/munge/munged.pid")
# slurm talks to munge through its default socket unless told; point both at ours.
sed -i "1i AuthInfo=socket=$WORK/munge/munge.socket" "$SLURM_CONF"
$SUDO slurmctld -f "$SLURM_CONF"; PIDS+=("$WORK/slurmctld.pid")
$SUDO slurmd -f "$SLURM_CONF"; PIDS+=("$WORK/slurmd.pid")
for _ in $(seq 60); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo

SHRINK=(--set model.d_model=16 --set model.nhead=2 --set model.d_hid=16 --set model.nlayers=1
        --set train.max_seq_len=24)
for d in slurm local; do
  mkdir -p "$WORK/$d"
  cp -r "$ROOT/configs" "$WORK/$d/"
done
wait_for() {  # job id: until no task of it is queued or running
  for _ in $(seq 900); do [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0; sleep 1; done
  echo "job $1 did not finish in 15 minutes" >&2; squeue; exit 1
}
cd "$WORK/slurm"
T0=$SECONDS
echo "== sweep --slurm"
"$BIN" sweep --config configs/sweeps/demo.toml "${SHRINK[@]}" --slurm | tee submit1.txt
JOB=$(sed -n 's/^submitted array job \([0-9]*\):.*/\1/p' submit1.txt)
echo "== waiting for a task to run, then cancelling it"
# The first task seen running is cancelled at once (a test-sized run lasts a few seconds).
for _ in $(seq 3000); do
  TASK=$(squeue -h -r -j "$JOB" -t R -o %i | head -1)
  [ -n "$TASK" ] && break; sleep 0.1
done
echo "scancel $TASK"; scancel "$TASK"
wait_for "$JOB"
"$BIN" sweep --config configs/sweeps/demo.toml "${SHRINK[@]}" --status | tee status1.txt
grep -q "failed" status1.txt || { echo "the cancelled task is not reported as failed" >&2; exit 1; }
# The table with a run missing: built from the finished ones, the gap marked.
"$BIN" sweep --config configs/sweeps/demo.toml "${SHRINK[@]}" --collect > collect1.txt 2>&1
grep -q "8 of 9 runs finished" collect1.txt && grep -q "(n=2)" collect1.txt \
  || { echo "--collect did not mark the missing run" >&2; cat collect1.txt >&2; exit 1; }
echo "collect with one run missing: 8 of 9 runs finished, (n=2) marks the short row"
echo "== sweep --slurm again: only what did not finish"
"$BIN" sweep --config configs/sweeps/demo.toml "${SHRINK[@]}" --slurm | tee submit2.txt
JOB2=$(sed -n 's/^submitted array job \([0-9]*\): 1 tasks.*/\1/p' submit2.txt)
[ -n "$JOB2" ] || { echo "expected exactly the cancelled task to be resubmitted" >&2; exit 1; }
wait_for "$JOB2"
"$BIN" sweep --config configs/sweeps/demo.toml "${SHRINK[@]}" --status | tee status2.txt
! grep -v ": finished$" status2.txt || { echo "not every run finished" >&2; exit 1; }
"$BIN" sweep --config configs/sweeps/demo.toml "${SHRINK[@]}" --collect > /dev/null
echo "== SLURM part: $((SECONDS - T0)) s; the same sweep locally"
cd "$WORK/local"
"$BIN" sweep --config configs/sweeps/demo.toml "${SHRINK[@]}" > /dev/null 2>&1
for f in sweep.csv sweep.md; do
  cmp "$WORK/slurm/runs/sweeps/demo/$f" "$WORK/local/runs/sweeps/demo/$f"
  echo "$f: identical"
done
echo "== generated array script:"; cat "$WORK/slurm/runs/sweeps/demo/slurm/array.sbatch"
echo "slurm smoke test passed in $SECONDS s"
