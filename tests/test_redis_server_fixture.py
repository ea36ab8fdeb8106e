"""The private redis-server fixture really goes away on stop() and comes back."""

from collections.abc import Iterator

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.redis_server import (
    RedisServer,
    redis_server,  # noqa: F401  (the fixture, used here by name)
)

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[Redis]:  # noqa: F811
    with Redis.from_url(redis_server.url, socket_connect_timeout=1) as client:
        yield client


def test_stop_refuses_connections_and_start_serves_again(
    redis_server: RedisServer,  # noqa: F811
    redis_client: Redis,
) -> None:
    assert redis_client.set("ecoute-tests:key", "value")
    assert redis_client.get("ecoute-tests:key") == b"value"

    redis_server.stop()
    with pytest.raises(RedisConnectionError):
        redis_client.ping()

    redis_server.start()
    assert redis_client.ping() is True
    assert redis_client.get("ecoute-tests:key") is None  # nothing persisted
