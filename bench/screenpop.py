"""Screen-pop latency: from the routing webhook to the event on the agent's stream.

    .venv/bin/python bench/screenpop.py [--calls 200] [--agents 50] [--threads 64]

gunicorn serves the app with 2 gthread workers on a SQLite file from `flask db
upgrade`, events through a Redis database claimed for the run (as in
tests/test_screenpop_redis.py, whose helpers this uses). N agents each hold one
SSE stream (/softphone/events) and are "busy"; for each call one agent in turn
goes available, the call is announced (/voice/incoming, not timed), then the
timer starts as the signed POST /voice/menu Digits=0 is sent and stops when the
screenpop carrying that CallSid arrives on that agent's stream (the agent then
goes busy again). Beside it, in the same run and on the same Redis: the bare
pub/sub round trip (redis-py publish, then get_message on a subscribed pubsub).

An SSE stream holds a server thread for as long as it is open, so the workers
need more threads than streams: --threads defaults to 64 per worker (128 for 50
streams and the webhooks); with 8 threads the 50 streams could not all open.

Prints a table, writes bench/results/screenpop.json; target: p99 < 100 ms.
The exit status is 0 whether the target is met or not, 1 if the run failed.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_migrations import flask_env, run_flask  # noqa: E402
from tests.test_rq_worker import private_redis_db  # noqa: E402
from tests.test_screenpop_redis import (  # noqa: E402
    AUTH_TOKEN,
    Caller,
    SseStream,
    seed_agents,
    set_presence,
    start_gunicorn,
    stop_gunicorn,
)

TARGET_P99_MS = 100.0
WAIT_SECONDS = 10  # per call: a lost screen-pop fails the run rather than hangs it
RUN_SECONDS = 600  # the whole run


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(values_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(values_ms),
        "p50_ms": round(statistics.median(values_ms), 3),
        "p99_ms": round(percentile(values_ms, 0.99), 3),
        "max_ms": round(max(values_ms), 3),
        "mean_ms": round(statistics.fmean(values_ms), 3),
    }


def redis_round_trips(url: str, count: int) -> list[float]:
    """publish → get_message on a subscribed pubsub, in milliseconds."""
    client = Redis.from_url(url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("ecoute-bench:roundtrip")
    try:
        pubsub.get_message(timeout=1)  # the subscribe confirmation
        times = []
        for number in range(count + 10):  # 10 warm-up round trips
            payload = json.dumps({"n": number, "pad": "x" * 200})
            start = time.perf_counter()
            client.publish("ecoute-bench:roundtrip", payload)
            message = None
            while message is None:
                message = pubsub.get_message(timeout=WAIT_SECONDS)
                if message is None:
                    raise RuntimeError("a bare Redis message was lost")
            elapsed = time.perf_counter() - start
            if json.loads(message["data"])["n"] != number:
                raise RuntimeError("bare Redis messages out of order")
            if number >= 10:
                times.append(elapsed * 1000)
        return times
    finally:
        pubsub.close()
        client.close()


def run(calls: int, agents: int, threads: int) -> dict:
    deadline = time.monotonic() + RUN_SECONDS
    with tempfile.TemporaryDirectory(prefix="ecoute-screenpop-") as folder:
        tmp = Path(folder)
        database = f"sqlite:///{tmp / 'ecoute.sqlite3'}"
        with private_redis_db() as redis_url:
            env = flask_env(
                tmp / "instance",
                DATABASE_URL=database,
                REDIS_URL=redis_url,
                TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            )
            run_flask("db", "upgrade", env=env)
            seeded = seed_agents(database, agents)
            server = start_gunicorn(tmp, env, workers=2, threads=threads)
            streams: list[SseStream] = []
            try:
                for agent_id, token in seeded:
                    stream = SseStream(server.url, token).open()
                    streams.append(stream)
                    _, event, _ = stream.next_event(WAIT_SECONDS)
                    if event != "ready":
                        raise RuntimeError(
                            f"agent {agent_id}'s stream: {stream.status} {event}\n"
                            f"{server.read_log()}"
                        )
                    set_presence(server.url, token, "busy")
                caller = Caller(server.url)
                pops, webhooks = [], []
                for number in range(calls):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"run over {RUN_SECONDS}s at call {number}")
                    index = number % agents
                    agent_id, token = seeded[index]
                    set_presence(server.url, token, "available")
                    call_sid = caller.ring()
                    start = time.monotonic()
                    response = caller.press_0(call_sid)
                    answered = time.monotonic()
                    if f"<Identity>agent_{agent_id}</Identity>" not in response.text:
                        raise RuntimeError(
                            f"call {number} did not ring agent {agent_id}"
                        )
                    at, event, _ = streams[index].wait_for(
                        lambda event, data, sid=call_sid: (
                            event == "screenpop" and data["call_sid"] == sid
                        ),
                        WAIT_SECONDS,
                    )
                    if event != "screenpop":
                        raise RuntimeError(f"call {number}: no screen-pop ({event})")
                    pops.append((at - start) * 1000)
                    webhooks.append((answered - start) * 1000)
                    set_presence(server.url, token, "busy")
                # No other agent's stream heard of these calls.
                strays = sum(
                    1
                    for stream in streams
                    for _, event, _ in list(stream.events.queue)
                    if event == "screenpop"
                )
                if strays:
                    raise RuntimeError(f"{strays} screen-pops reached other agents")
                workers = server.worker_pids()
            finally:
                for stream in streams:
                    stream.close()
                stop_gunicorn(server)
            bare = redis_round_trips(redis_url, calls)
    pop, hook, redis = summary(pops), summary(webhooks), summary(bare)
    return {
        "setup": {
            "calls": calls,
            "agents_connected": agents,
            "gunicorn": f"-w 2 -k gthread --threads {threads}",
            "gunicorn_workers": len(workers),
            "database": "sqlite",
            "events": "redis pub/sub",
        },
        "screenpop_webhook_to_sse": pop,
        "menu_webhook_response": hook,
        "bare_redis_publish_to_get_message": redis,
        "ratio_p50": round(pop["p50_ms"] / redis["p50_ms"], 1),
        "ratio_p99": round(pop["p99_ms"] / redis["p99_ms"], 1),
        "target_p99_ms": TARGET_P99_MS,
        "met": pop["p99_ms"] < TARGET_P99_MS,
    }


def print_table(result: dict) -> None:
    rows = [
        ("webhook → screenpop on SSE", result["screenpop_webhook_to_sse"]),
        ("menu webhook response", result["menu_webhook_response"]),
        ("bare Redis publish → get", result["bare_redis_publish_to_get_message"]),
    ]
    setup = result["setup"]
    print(
        f"{setup['calls']} calls, {setup['agents_connected']} agents connected, "
        f"gunicorn {setup['gunicorn']}, {setup['database']}, {setup['events']}"
    )
    print(f"{'':30} {'n':>5} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for name, row in rows:
        print(
            f"{name:30} {row['n']:>5} {row['p50_ms']:>9.2f} "
            f"{row['p99_ms']:>9.2f} {row['max_ms']:>9.2f}"
        )
    verdict = "PASS" if result["met"] else "MISS"
    print(
        f"ratio to bare Redis: p50 x{result['ratio_p50']}, p99 x{result['ratio_p99']}"
        f"; target p99 < {result['target_p99_ms']:.0f} ms: {verdict}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--threads", type=int, default=64)
    args = parser.parse_args()
    try:
        result = run(args.calls, args.agents, args.threads)
    except RuntimeError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    out = ROOT / "bench" / "results" / "screenpop.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
