"""TTS settings with the channel-layer fix the benchmark needs until tts/settings.py carries it.

redis-py 8 gives every socket a 5 s read timeout, which is also how long channels-redis blocks in BZPOPMIN waiting
for a message: each web process's receive loop then dies with "Timeout reading from redis" after ~5 s without a
message, closing every idle WebSocket it serves (redis/redis-py#4091, django/channels_redis#422). A read timeout
above the 5 s block keeps both the fix and a bound on a hung Redis. Delete this module once the shared settings
set it.
"""
from tts.settings import *  # noqa: F401,F403
from tts.settings import CHANNEL_LAYERS, REDIS_URL

if REDIS_URL:
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [{"address": REDIS_URL, "socket_timeout": 15}]
