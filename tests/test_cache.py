"""The default cache (tts_common.base.cache): every cache object of the process, one per request context under ASGI,
talks to Redis through one client and its pool, not a new client per call."""
from __future__ import annotations

import uuid

from django.core.cache import caches

from tts_common.base.cache import RedisCache


def test_cache_objects_share_the_process_redis_client():
    first, second = caches.create_connection("default"), caches.create_connection("default")
    assert isinstance(first, RedisCache)
    client = first._cache.get_client()
    assert second._cache.get_client(write=True) is client
    key = f"test-cache-{uuid.uuid4().hex}"
    first.set(key, [1.5, 2.5], 10)
    assert second.get(key) == [1.5, 2.5]
    second.delete(key)
    assert first.get(key) is None
