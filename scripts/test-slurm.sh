#!/usr/bin/env bash
# `mmemu sweep --emit slurm` on a real Slurm: starts a one-node cluster on localhost from
# Debian's packages (munge, slurmctld, slurmd; a minimal slurm.conf in a temporary folder, no
# systemd needed), submits a small sweep as a job array with `sbatch --wait`, summarizes it, and
# checks that every point's statistics are byte-identical to the same sweep run locally. The
# cluster is stopped and its folder removed on exit, whatever happens. As root (or with sudo).
# usage: scripts/test-slurm.sh [--mmemu PATH]      (default: build/workloads/mmemu)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mmemu=$root/build/workloads/mmemu
[ "${1:-}" = "--mmemu" ] && mmemu=$(realpath "$2")
[ -x "$mmemu" ] || { echo "test-slurm: $mmemu is not built (scripts/setup.sh)" >&2; exit 2; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
missing=()
for p in munge slurmctld slurmd slurm-client; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-slurm: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

work=$(mktemp -d /tmp/mmemu-slurm.XXXXXX)
chmod 755 "$work"
conf=$work/slurm.conf
export SLURM_CONF=$conf
munge_pid=""
stop() {
  set +e
  scontrol shutdown >/dev/null 2>&1
  for f in "$work/slurmd.pid" "$work/slurmctld.pid"; do
    [ -f "$f" ] && $SUDO kill "$(cat "$f")" 2>/dev/null
  done
  [ -n "$munge_pid" ] && $SUDO kill "$munge_pid" 2>/dev/null
  sleep 1
  $SUDO rm -rf "$work"
}
trap stop EXIT

# munge: its own socket and pid file in the work folder, run as the munge user.
$SUDO mkdir -p "$work/munge"
$SUDO chown munge:munge "$work/munge"
$SUDO runuser -u munge -- /usr/sbin/munged --socket="$work/munge/munge.socket" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" --seed-file="$work/munge/seed"
sleep 1
munge_pid=$(cat "$work/munge/munged.pid")

node=$(hostname -s)
cat > "$conf" <<CONF
ClusterName=mmemu
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
mkdir -p "$work/state" "$work/spool"
$SUDO slurmctld -f "$conf"
$SUDO slurmd -f "$conf"
for i in $(seq 1 60); do
  sinfo -h -o %T 2>/dev/null | grep -qE '^idle' && break
  sleep 1
  [ "$i" = 60 ] && { echo "test-slurm: the node never came up" >&2; cat "$work/slurmctld.log" "$work/slurmd.log" >&2; exit 1; }
done

# The sweep: 2 parameters x 2 seeds of the quickstart, locally and as a job array.
grid=$work/grid.json
cat > "$grid" <<GRID
{"mmemu_sweep": 1, "scenario": "$root/examples/buddy-and-slab.json",
 "parameters": {"kernel.min_free_kbytes": [4096, 8192]}, "seeds": [1, 2],
 "summary": ["boot.min_free_kbytes", "manifest.seed"]}
GRID
"$mmemu" sweep "$grid" -o "$work/local" --jobs 2 >/dev/null
"$mmemu" sweep "$grid" -o "$work/slurm" --emit slurm >/dev/null
start=$SECONDS
# (Bounded: a job array that never runs fails the test instead of hanging it.)
timeout 300 sbatch --wait --quiet "$work/slurm/sweep.sbatch"
echo "test-slurm: the job array ran in $((SECONDS - start)) s" >&2
"$mmemu" sweep "$grid" -o "$work/slurm" --summarize >/dev/null
status=0
for f in "$work"/local/points/*.json; do
  if ! cmp -s "$f" "$work/slurm/points/$(basename "$f")"; then
    echo "test-slurm: $(basename "$f") differs between the local run and Slurm" >&2
    status=1
  fi
done
n=$(ls "$work"/slurm/points/*.json | wc -l)
[ "$n" = 4 ] || { echo "test-slurm: $n point files, expected 4" >&2; status=1; }
# The summaries match but for the exit column (--summarize did not run the points).
if ! diff <(cut -d, -f1-3,5- "$work/local/summary.csv") <(cut -d, -f1-3,5- "$work/slurm/summary.csv") >&2; then
  status=1
fi
[ "$status" = 0 ] && echo "test-slurm: the 4 points are byte-identical through Slurm and locally" >&2
exit $status
