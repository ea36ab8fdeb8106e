"""Live events to agents' pages: Redis pub/sub across processes, or in memory.

A screen-pop must reach the agent whichever gunicorn process holds their stream,
so with REDIS_URL every process publishes to and listens on Redis channels.
"""

import json
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask, current_app
from redis import Redis

KEEPALIVE = object()  # yielded when nothing came for a while, to keep streams open


class Subscription:
    """Registered as soon as it exists, so nothing published after it is missed."""

    def __init__(self, get: Callable[[float], Any], close: Callable[[], None]) -> None:
        self._get = get
        self.close = close

    def messages(self, wait: float) -> Iterator[Any]:
        """(event, data) pairs, or KEEPALIVE after `wait` seconds of silence."""
        try:
            while True:
                item = self._get(wait)
                yield KEEPALIVE if item is None else item
        finally:
            self.close()


class MemoryBroker:
    """One process: each subscriber has its own queue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[queue.Queue]] = {}

    def publish(self, channel: str, event: str, data: dict[str, Any]) -> int:
        with self._lock:
            targets = list(self._subscribers.get(channel, []))
        for target in targets:
            target.put((event, data))
        return len(targets)

    def subscribe(self, channel: str) -> Subscription:
        mailbox: queue.Queue = queue.Queue()
        with self._lock:
            self._subscribers.setdefault(channel, []).append(mailbox)

        def get(wait: float) -> Any:
            try:
                return mailbox.get(timeout=wait)
            except queue.Empty:
                return None

        def close() -> None:
            with self._lock:
                if mailbox in self._subscribers.get(channel, []):
                    self._subscribers[channel].remove(mailbox)

        return Subscription(get, close)


class RedisBroker:
    def __init__(self, url: str, prefix: str) -> None:
        self.redis = Redis.from_url(url, socket_connect_timeout=2)
        self.prefix = prefix

    def publish(self, channel: str, event: str, data: dict[str, Any]) -> int:
        payload = json.dumps({"event": event, "data": data})
        return int(self.redis.publish(self.prefix + channel, payload))

    def subscribe(self, channel: str) -> Subscription:
        """Raises RedisError when Redis cannot be reached."""
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(self.prefix + channel)

        def get(wait: float) -> Any:
            message = pubsub.get_message(timeout=wait)
            if message is None:
                return None
            payload = json.loads(message["data"])
            return payload["event"], payload["data"]

        return Subscription(get, pubsub.close)


def default_prefix(url: str) -> str:
    """The channels' prefix when EVENTS_PREFIX is unset: one per Redis database.

    Pub/sub ignores the database number, so two deployments on one server,
    each in its own database, would hear each other's screen-pops. Host and
    port are left out: the same server reached by two names (a web process on
    "localhost", a worker on "127.0.0.1") must stay one deployment, and two
    servers never share channels anyway.
    """
    database = Redis.from_url(url).connection_pool.connection_kwargs.get("db", 0)
    return f"ecoute:{database}:"


def init_app(app: Flask) -> None:
    url = app.config.get("REDIS_URL")
    if not url:
        app.extensions["events"] = MemoryBroker()
        return
    prefix = app.config.get("EVENTS_PREFIX") or default_prefix(url)
    app.config["EVENTS_PREFIX"] = prefix
    app.extensions["events"] = RedisBroker(url, prefix)


def broker() -> MemoryBroker | RedisBroker:
    return current_app.extensions["events"]


def agent_channel(user_id: int) -> str:
    return f"agent:{user_id}"
