#!/usr/bin/env bash
# A private single-node Slurm cluster for the tests (docs/admins.md).
#
#   scripts/testenv/slurm.sh start STATE_DIR [TASKPROLOG]
#   scripts/testenv/slurm.sh stop STATE_DIR
#   scripts/testenv/slurm.sh logs STATE_DIR
#
# start writes STATE_DIR/slurm.conf, a munge key, and starts munged,
# slurmctld and slurmd as root (no systemd), every file (state, spool, logs,
# pid files, the munge socket) inside STATE_DIR, so nothing under /etc, /run
# or /var is touched or shared with a system Slurm. It waits (bounded) until
# sinfo shows the node idle, and prints STATE_DIR/slurm.conf on stdout:
# clients need SLURM_CONF set to it. On failure it prints the daemons' logs
# on stderr, stops what it started and exits 1.
#
# stop cancels the cluster's jobs, stops the daemons that start started (by
# the pids in STATE_DIR/run, and slurmstepd processes of this cluster) and
# waits for them to go. Safe to run twice, or after a failed start.
#
# Needs: slurmctld slurmd slurm-client munge (scripts/setup.sh installs them).
set -euo pipefail

log() { echo "slurm.sh: $*" >&2; }
die() {
    log "$*"
    exit 1
}

[ $# -ge 2 ] || die "usage: $0 start|stop|logs STATE_DIR [TASKPROLOG]"
ACTION="$1"
STATE="$2"
TASKPROLOG="${3:-}"
mkdir -p "$STATE"
STATE="$(cd "$STATE" && pwd)"
CONF="$STATE/slurm.conf"
RUN="$STATE/run"
LOGS="$STATE/log"
MUNGE="$STATE/munge"
SOCKET="$MUNGE/munge.socket"
export SLURM_CONF="$CONF"

# How long start waits for the node to be idle, and stop for a daemon to exit.
START_TIMEOUT="${THROTTLE_SLURM_START_TIMEOUT:-90}"
STOP_TIMEOUT=15

print_logs() {
    local f
    for f in "$LOGS"/munged.log "$LOGS"/munged.out "$LOGS"/slurmctld.log "$LOGS"/slurmctld.out \
        "$LOGS"/slurmd.log "$LOGS"/slurmd.out; do
        if [ -s "$f" ]; then
            echo "----- $f (last 60 lines)" >&2
            tail -n 60 "$f" >&2
        fi
    done
    if [ -f "$CONF" ]; then
        echo "----- $CONF" >&2
        cat "$CONF" >&2
    fi
}

# The pid in RUN/NAME.pid, if that process is alive and is NAME (a stale pid
# file's pid may have been reused by another program).
live_pid() {
    local name="$1" file="$RUN/$1.pid" pid exe
    [ -f "$file" ] || return 1
    pid="$(tr -dc 0-9 <"$file")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
    case "${exe##*/}" in
        "$name" | "$name"-*) ;; # Debian's are slurmd-wlm, slurmctld-wlm
        *)
            log "$file names pid $pid, which is '${exe:-?}', not $name: left alone"
            return 1
            ;;
    esac
    echo "$pid"
}

# Sends TERM to a pid, waits up to STOP_TIMEOUT s, then KILL.
stop_pid() {
    local pid="$1" what="$2" i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    log "$what (pid $pid) did not stop in ${STOP_TIMEOUT} s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# slurmstepd processes started by this cluster's slurmd: they hold its log
# file (our LOGS/slurmd.log) open.
our_stepds() {
    local p exe fd
    for p in /proc/[0-9]*; do
        exe="$(readlink "$p/exe" 2>/dev/null || true)"
        case "${exe##*/}" in
            slurmstepd*) ;;
            *) continue ;;
        esac
        for fd in "$p"/fd/*; do
            if [ "$(readlink "$fd" 2>/dev/null || true)" = "$LOGS/slurmd.log" ]; then
                echo "${p#/proc/}"
                break
            fi
        done
    done
}

stop() {
    local pid i
    if live_pid slurmctld >/dev/null; then
        # Cancel whatever is still queued or running, and give it a moment.
        timeout 10 scancel --quiet --user=root >/dev/null 2>&1 || true
        for ((i = 0; i < 100; i++)); do
            [ -z "$(timeout 10 squeue -h -o %i 2>/dev/null || true)" ] && break
            sleep 0.1
        done
    fi
    if pid="$(live_pid slurmd)"; then stop_pid "$pid" slurmd; fi
    for pid in $(our_stepds); do stop_pid "$pid" slurmstepd; done
    if pid="$(live_pid slurmctld)"; then stop_pid "$pid" slurmctld; fi
    if pid="$(live_pid munged)"; then stop_pid "$pid" munged; fi
    rm -f "$RUN"/*.pid
}

# Whether something listens on a TCP port of this host.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

fail() {
    log "$*"
    print_logs
    stop
    exit 1
}

start() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (slurmd starts jobs as their users)"
    local cmd
    for cmd in munged slurmctld slurmd sinfo srun; do
        command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin"
        command -v "$cmd" >/dev/null 2>&1 ||
            die "$cmd not found: install slurmctld slurmd slurm-client munge (scripts/setup.sh)"
    done
    if [ -n "$TASKPROLOG" ] && [ ! -x "$TASKPROLOG" ]; then
        die "the TaskProlog $TASKPROLOG is not an executable file"
    fi

    # A cluster of this state directory that is still up is stopped first.
    stop

    mkdir -p "$RUN" "$LOGS" "$MUNGE" "$STATE/state" "$STATE/spool"
    # munged refuses directories others can write to, and a readable key.
    chmod 0755 "$STATE" "$RUN" "$LOGS" "$STATE/state" "$STATE/spool"
    chmod 0755 "$MUNGE"

    # --- munge: a key of our own, a socket of our own.
    if [ ! -s "$MUNGE/munge.key" ]; then
        if command -v mungekey >/dev/null 2>&1; then
            mungekey --create --keyfile="$MUNGE/munge.key" >/dev/null 2>&1 ||
                dd if=/dev/urandom of="$MUNGE/munge.key" bs=1024 count=1 status=none
        else
            dd if=/dev/urandom of="$MUNGE/munge.key" bs=1024 count=1 status=none
        fi
    fi
    chmod 0600 "$MUNGE/munge.key"
    munged --socket="$SOCKET" --key-file="$MUNGE/munge.key" --pid-file="$RUN/munged.pid" \
        --log-file="$LOGS/munged.log" --seed-file="$MUNGE/munged.seed" --force \
        </dev/null >"$LOGS/munged.out" 2>&1 || fail "munged did not start"
    local i ok=0
    for ((i = 0; i < 100; i++)); do
        if munge --socket="$SOCKET" -n 2>/dev/null | unmunge --socket="$SOCKET" >/dev/null 2>&1; then
            ok=1
            break
        fi
        sleep 0.1
    done
    [ "$ok" -eq 1 ] || fail "munged does not answer on $SOCKET"

    # --- slurm.conf
    # Ports: the first free pair from 6817/6818 up, so that a cluster left
    # behind by a killed test run (or a site's own Slurm) is not in the way.
    local ctld_port="${THROTTLE_SLURMCTLD_PORT:-}" slurmd_port="${THROTTLE_SLURMD_PORT:-}" port
    if [ -z "$ctld_port" ] || [ -z "$slurmd_port" ]; then
        for ((port = 6817; port < 6917; port += 2)); do
            if ! port_in_use "$port" && ! port_in_use $((port + 1)); then
                ctld_port=$port
                slurmd_port=$((port + 1))
                break
            fi
        done
        [ -n "$ctld_port" ] || fail "no free pair of ports between 6817 and 6917"
    fi
    local host node
    host="$(hostname -s)"
    node="$(slurmd -C 2>/dev/null | grep -m1 '^NodeName=')" || true
    [ -n "$node" ] || fail "slurmd -C printed no NodeName= line"
    # The node is this host, reached through the loopback address (the host
    # name need not resolve).
    node="NodeName=$host NodeHostname=$host NodeAddr=127.0.0.1 ${node#NodeName=* }"
    {
        echo "# written by scripts/testenv/slurm.sh for the libthrottle tests"
        echo "ClusterName=throttletest"
        echo "SlurmctldHost=$host(127.0.0.1)"
        echo "SlurmctldPort=$ctld_port"
        echo "SlurmdPort=$slurmd_port"
        echo "SlurmUser=root"
        echo "SlurmdUser=root"
        echo "AuthType=auth/munge"
        echo "CredType=cred/munge"
        echo "AuthInfo=socket=$SOCKET"
        echo "StateSaveLocation=$STATE/state"
        echo "SlurmdSpoolDir=$STATE/spool"
        echo "SlurmctldPidFile=$RUN/slurmctld.pid"
        echo "SlurmdPidFile=$RUN/slurmd.pid"
        echo "SlurmctldLogFile=$LOGS/slurmctld.log"
        echo "SlurmdLogFile=$LOGS/slurmd.log"
        echo "SlurmctldDebug=info"
        echo "SlurmdDebug=info"
        echo "ProctrackType=proctrack/linuxproc"
        echo "TaskPlugin=task/none"
        echo "SelectType=select/cons_tres"
        echo "SelectTypeParameters=CR_CPU"
        echo "SchedulerType=sched/backfill"
        echo "MpiDefault=none"
        echo "MailProg=/bin/true"
        echo "ReturnToService=2"
        echo "JobCompType=jobcomp/none"
        echo "JobAcctGatherType=jobacct_gather/none"
        echo "AccountingStorageType=accounting_storage/none"
        echo "InactiveLimit=0"
        echo "KillWait=5"
        echo "MinJobAge=300"
        if [ -n "$TASKPROLOG" ]; then
            echo "TaskProlog=$TASKPROLOG"
        fi
        echo "$node State=UNKNOWN"
        echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
    } >"$CONF"
    # No cgroup.conf: task/none and proctrack/linuxproc need none.

    # --- the daemons (they fork into the background; -i: ignore old state)
    slurmctld -f "$CONF" -i </dev/null >"$LOGS/slurmctld.out" 2>&1 || fail "slurmctld did not start"
    slurmd -f "$CONF" -N "$host" </dev/null >"$LOGS/slurmd.out" 2>&1 || fail "slurmd did not start"

    local deadline=$((SECONDS + START_TIMEOUT)) state=''
    while [ "$SECONDS" -lt "$deadline" ]; do
        state="$(timeout 10 sinfo -h -N -n "$host" -o %T 2>/dev/null || true)"
        case "$state" in
            idle) break ;;
            down* | drain* | fail*)
                timeout 10 scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true
                ;;
        esac
        live_pid slurmctld >/dev/null || [ "$SECONDS" -lt 5 ] || fail "slurmctld exited"
        live_pid slurmd >/dev/null || [ "$SECONDS" -lt 5 ] || fail "slurmd exited"
        sleep 0.5
    done
    [ "$state" = idle ] ||
        fail "the node $host is not idle after ${START_TIMEOUT} s (sinfo says '${state:-nothing}')"
    log "single-node cluster up: node $host idle, SLURM_CONF=$CONF"
    echo "$CONF"
}

case "$ACTION" in
    start) start ;;
    stop) stop ;;
    logs) print_logs ;;
    *) die "unknown action '$ACTION' (start, stop or logs)" ;;
esac
