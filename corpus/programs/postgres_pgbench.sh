#!/usr/bin/env bash
# PostgreSQL: a server that forks a backend per connection, shares memory
# between them, and runs its background workers (checkpointer, WAL writer,
# autovacuum) on signals. initdb makes a cluster in a scratch directory, the
# server listens on a Unix socket there only, pgbench initialises its tables
# (scale 2) and runs 4 clients on 2 threads, 300 transactions each, from a
# fixed seed; then the tables' counts and sums, which do not depend on the
# order the transactions ran in, are printed.
set -euo pipefail

# Run as root, the whole script runs again as the `postgres` user (the
# server refuses root), through `setpriv`, which changes user and execs
# without a fork. Without THROTTLE_LEDGER: a tree root made is one another
# user may not open (its processes would run outside any tree); this way
# the server's processes make a tree of their own.
if [ "$(id -u)" -eq 0 ]; then
    cd /tmp
    exec setpriv --reuid=postgres --regid=postgres --init-groups \
        env -u THROTTLE_LEDGER HOME=/tmp bash "$0" "$@"
fi

bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
if [ -z "$bin" ] || [ ! -x "$bin/postgres" ]; then
    echo "postgres_pgbench: no PostgreSQL server under /usr/lib/postgresql" >&2
    exit 1
fi
dir="$(mktemp -d /tmp/corpus-pg-XXXXXX)"
pg() { (cd "$dir" && "$@"); }
stop() {
    pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT

pg "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >/dev/null
pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-k $dir -c listen_addresses= -c fsync=off -c synchronous_commit=off" start >/dev/null
# pgbench's initialisation prints its progress and times on stderr.
pg "$bin/pgbench" -h "$dir" -U postgres -i -s 2 -q postgres 2>/dev/null
pg "$bin/pgbench" -h "$dir" -U postgres -n -c 4 -j 2 -t 300 --random-seed=7 postgres \
    >"$dir/bench.out"
grep -E '^(number of clients|number of threads|number of transactions actually processed|number of failed transactions)' \
    "$dir/bench.out"
pg "$bin/psql" -h "$dir" -U postgres -At -X postgres -c "
    select 'accounts', count(*), sum(abalance) from pgbench_accounts
    union all select 'tellers', count(*), sum(tbalance) from pgbench_tellers
    union all select 'branches', count(*), sum(bbalance) from pgbench_branches
    union all select 'history', count(*), sum(delta) from pgbench_history"
