"""The default cache's Redis backend: Django's, with one connection pool per server and process.

Django keeps a cache object per context (``caches`` is an asgiref ``Local``), and its Redis client a connection pool
per cache object. Under ASGI every request runs in a context of its own, so every request made a new pool and opened
a new TCP connection to Redis (connect, ``HELLO``, ``CLIENT SETINFO``, ...) for its throttle lookup, and left it to
the garbage collector: a quarter of a web process's time on ``/api/v1/ping/``. Here the pools are the process's:
a request borrows a connection that is already open. redis-py's pools are thread-safe and open new connections after
a fork (they check the process id). Likewise the client: Django made a ``redis.Redis`` per cache call, whose
constructor fills a table of ~170 response callbacks (about half the client's CPU of a throttle's ``get``); a client
holds no connection of its own, so one per pool serves every thread.
"""
from __future__ import annotations

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

# (server URL, pool options) -> the client (and its pool) every cache object of this process uses for that server.
_clients: dict[tuple[str, str], Any] = {}
_clients_lock = threading.Lock()


class _ProcessPoolClient(RedisCacheClient):
    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        client: Any = self  # the attributes below are Django's private ones, which its stubs leave out
        server = client._servers[client._get_connection_pool_index(write)]
        pool_key = (server, repr(sorted(client._pool_options.items())))
        redis_client = _clients.get(pool_key)
        if redis_client is None:
            with _clients_lock:
                redis_client = _clients.get(pool_key)
                if redis_client is None:
                    pool = client._pool_class.from_url(server, **client._pool_options)
                    redis_client = _clients[pool_key] = client._client(connection_pool=pool)
        return redis_client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ProcessPoolClient
