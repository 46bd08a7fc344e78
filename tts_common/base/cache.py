"""The default cache's Redis backend: Django's, with one connection pool per server and process.

Django keeps a cache object per context (``caches`` is an asgiref ``Local``), and its Redis client a connection pool
per cache object. Under ASGI every request runs in a context of its own, so every request made a new pool and opened
a new TCP connection to Redis (connect, ``HELLO``, ``CLIENT SETINFO``, ...) for its throttle lookup, and left it to
the garbage collector: a quarter of a web process's time on ``/api/v1/ping/``. Here the pools are the process's:
a request borrows a connection that is already open. redis-py's pools are thread-safe and open new connections after
a fork (they check the process id).
"""
from __future__ import annotations

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

# (server URL, pool options) -> the pool every cache object of this process uses for that server.
_pools: dict[tuple[str, str], Any] = {}
_pools_lock = threading.Lock()


class _ProcessPoolClient(RedisCacheClient):
    def _get_connection_pool(self, write: bool) -> Any:
        client: Any = self  # the attributes below are Django's private ones, which its stubs leave out
        server = client._servers[client._get_connection_pool_index(write)]
        key = (server, repr(sorted(client._pool_options.items())))
        pool = _pools.get(key)
        if pool is None:
            with _pools_lock:
                pool = _pools.setdefault(key, client._pool_class.from_url(server, **client._pool_options))
        return pool


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ProcessPoolClient
