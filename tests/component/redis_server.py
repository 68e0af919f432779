"""The component tier's Redis server: the one in ``minicluster.redis_server``.

Kept under this name for the tests that import ``redis_server`` directly.
"""

from minicluster.redis_server import RedisServer, free_port

__all__ = ["RedisServer", "free_port"]
