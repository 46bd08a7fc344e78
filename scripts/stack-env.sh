# Environment of the real stack on this machine's loopback servers (sourced by scripts/test and scripts/run).
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/tts}"
export CELERY_BROKER_URL="${CELERY_BROKER_URL:-amqp://guest:guest@127.0.0.1:5672//}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
