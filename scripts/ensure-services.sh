# Checks that PostgreSQL, RabbitMQ and Redis answer on loopback; starts any that does not, where it can.
set -uo pipefail

answers() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

ensure() {  # name port start-command...
  local name=$1 port=$2; shift 2
  answers "$port" && return 0
  echo "$name is not answering on 127.0.0.1:$port; starting it..."
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "ERROR: $name is down and '$1' is not installed: install and start $name, then retry." >&2; return 1
  fi
  "$@" >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do answers "$port" && { echo "$name started."; return 0; }; sleep 1; done
  echo "ERROR: $name did not come up on 127.0.0.1:$port: start it by hand ($*), then retry." >&2
  return 1
}

status=0
ensure PostgreSQL 5432 pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql 2>/dev/null | head -1)" main start || status=1
ensure Redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
  --dir /var/lib/redis --logfile /var/log/redis/ci.log || status=1
ensure RabbitMQ 5672 rabbitmq-server -detached || status=1
[ $status -eq 0 ] || exit 1
# RabbitMQ opens its port before it finishes booting: wait until it accepts an AMQP session.
for _ in $(seq 1 60); do
  .venv/bin/python -c "import kombu; kombu.Connection('${CELERY_BROKER_URL}').ensure_connection(max_retries=1, timeout=2)" \
    >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "ERROR: RabbitMQ at $CELERY_BROKER_URL does not accept connections." >&2
exit 1
