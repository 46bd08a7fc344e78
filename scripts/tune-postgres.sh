#!/usr/bin/env bash
# Sizes the PostgreSQL server on 127.0.0.1:5432 (the real stack's) for this machine, as a production server holding
# TTS is sized, then restarts it. Debian's package ships 128 MB of shared buffers: at 1,000,000 tasks the tables and
# indexes intake and the lists touch no longer fit, and each page they read comes from the OS cache through a
# system call (the busiest agent's search count: 27,000 of its 100,000 pages), and max_wal_size 1 GB checkpoints
# every few seconds of full intake. What it sets (ALTER SYSTEM, kept in postgresql.auto.conf; RESET ALL undoes it):
#   shared_buffers       a quarter of the RAM, at most 8 GB (PostgreSQL's own guidance for a dedicated server)
#   effective_cache_size half of the RAM (what the OS cache holds for PostgreSQL: the planner's index costs)
#   max_wal_size         4 GB
#   wal_compression      lz4: the first change to a page after a checkpoint writes the whole page to the WAL. At
#                        1,000,000 tasks intake's inserts land on pages all over the large indexes (random ticket
#                        and task ids), so a drain of 20,000 tickets wrote 51,657 full pages: 487 MB of WAL against
#                        165 MB on an empty database; 256 MB compressed (bench/README.md, the scale benchmark).
# Usage: bash scripts/tune-postgres.sh [--dry-run]. The benchmarks (bench/) print the server's shared_buffers.
set -euo pipefail

ram_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
shared_mb=$(( ram_mb / 4 > 8192 ? 8192 : ram_mb / 4 ))
cache_mb=$(( ram_mb / 2 ))
settings=("shared_buffers = '${shared_mb}MB'" "effective_cache_size = '${cache_mb}MB'" "max_wal_size = '4GB'"
          "wal_compression = 'lz4'")
if [[ "${1:-}" == "--dry-run" ]]; then
  printf 'ALTER SYSTEM SET %s;\n' "${settings[@]}"
  exit 0
fi
for setting in "${settings[@]}"; do
  psql -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 -qc "ALTER SYSTEM SET $setting"
done
# shared_buffers takes a restart; the others a reload, which the restart includes.
pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main restart
for _ in $(seq 1 30); do
  psql -h 127.0.0.1 -U postgres -d postgres -Atqc "SHOW shared_buffers" 2>/dev/null && exit 0
  sleep 1
done
echo "ERROR: PostgreSQL did not come back after its restart" >&2
exit 1
