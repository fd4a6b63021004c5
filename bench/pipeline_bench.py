"""Pipeline benchmark: registrations turned into welcome emails, open loop, per hop (issue 19.5).

    .venv/bin/python bench/pipeline_bench.py          # full run (<= 4 min)
    .venv/bin/python bench/pipeline_bench.py --quick  # a smoke run (about 1 min)
    .venv/bin/python bench/pipeline_bench.py --rates 300,450,600 --seconds 5
    .venv/bin/python bench/pipeline_bench.py --env notifications-consumer:CONSUMER_PREFETCH=50

The whole stack runs as `make run` runs it (tools/devstack `Stack`: users API, users relay,
notifications consumer with the mail call, notifications relay, fake-mail at zero added latency).

  idle      registrations one at a time, spaced (the pipeline empty each time): register -> email
            from the 201 (fake-mail's `accepted_at` minus the instant the client read the 201;
            one machine, one clock), p50 and p99.
  rate R    an open-loop load: the POSTs leave at fixed instants, R per second for N seconds,
            whatever the answers do (a slow answer does not slow the arrivals, unlike a
            closed-loop client); the load generator is a child process. Each registration's
            latency is from its 201 to its email's `accepted_at`. A rate is sustained when the
            POSTs kept up (>= 95% of R answered 201), every email arrived, and p99 <= 50 ms.
            Rates are stepped up until one is not sustained (the next is then not tried).

Per hop, for each rate, from the services' own Prometheus histograms (their /metrics pages read
before and after the step; the difference is that step's), mean and p99 (bucket upper bound):

  The users API publishes the rows it commits itself (`Dispatcher`, up to its rate bound); the
  relay publishes the others. Each of the two has its rows:
  publish confirm   one publish until its broker confirm (`svcinfra_amqp_publish_duration_seconds`)
  commit -> sent    row committed (its `created_at`) -> confirmed
                    (`svcinfra_amqp_outbox_lag_seconds`)
  commit -> claim   (the relay only) row committed -> claimed by the users relay: the NOTIFY
                    wake, the wait behind the batch in flight, the claim statement
                    (`svcinfra_amqp_outbox_claim_lag_seconds`)
  commit -> handler row committed -> the consumer starts its first delivery: the hops above, the
                    broker, waiting in the queue (`svcinfra_amqp_delivery_lag_seconds`, from the
                    `outbox-committed-at` header the relay writes)
  handler           the consumer's handler: inbox check, intent, mail call, recording transaction
                    (`svcinfra_amqp_handler_duration_seconds`)
  mail call         the mail API call (`svcinfra_http_client_call_duration_seconds`)
  db <query>        each statement of the consumer (`svcinfra_db_query_duration_seconds{query}`)
  inbox commit      handler - mail call: inbox check, intent and the recording transaction
                    (means only); rest: that minus the statements (BEGIN, COMMIT, pool waits)

Then the CPU time each process spent per email over the step (PostgreSQL and RabbitMQ, shared
servers, not counted).

  drain     the email side's own capacity: with the notifications consumer stopped, N
            registrations are made and published (they wait in its queue); then the consumer
            starts and the rate at which fake-mail accepts their emails, first to last, is the
            rate the email side (consumer with the mail call, notifications relay, fake-mail)
            turns a backlog into emails with the API idle. Compare it with the POST rate
            (`service_bench.py`): the email side is not the bottleneck when it is higher.

docs/performance.md has the figures and what they say.

`notification.sent.v1` gets a subscriber queue first (bounded: the newest 1,000 kept), as a
deployment where something consumes the event has one: the broker then writes every event to a
quorum queue, the dearer case. (With none bound the broker confirms and drops it: the contract
publishes this event without `mandatory`.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aio_pika
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))  # devstack: not installed

from devstack import Ports, Stack
from service_bench import PROD_SAMPLE_RATIO, _pct, _read_response, cpu_seconds, metric

TARGET_P99_MS = 50.0
MAX_CONNECTIONS = 64
LATE_SECONDS = 0.005  # a POST sent this much after its instant counts as late
SETTLE_SECONDS = 15.0  # how long after a step's last POST its emails may take to arrive

# (hop, process role, histogram name, labels)
HOPS: tuple[tuple[str, str, str, dict[str, str]], ...] = (
    ("API: publish confirm", "users-api", "svcinfra_amqp_publish_duration_seconds", {}),
    ("API: commit -> sent", "users-api", "svcinfra_amqp_outbox_lag_seconds", {}),
    ("relay: commit -> claim", "users-relay", "svcinfra_amqp_outbox_claim_lag_seconds", {}),
    ("relay: publish confirm", "users-relay", "svcinfra_amqp_publish_duration_seconds", {}),
    ("relay: commit -> sent", "users-relay", "svcinfra_amqp_outbox_lag_seconds", {}),
    (
        "commit -> handler",
        "notifications-consumer",
        "svcinfra_amqp_delivery_lag_seconds",
        {},
    ),
    ("handler", "notifications-consumer", "svcinfra_amqp_handler_duration_seconds", {}),
    ("mail call", "notifications-consumer", "svcinfra_http_client_call_duration_seconds", {}),
)
# The consumer's statements, each its round trip: inbox__seen_many (the checks of messages
# arriving together) and intents__begin run alone (the latter's commit included), the others in
# the recording transaction (its COMMIT not): inbox__add_results for a group, inbox__add for a
# message recorded alone, then one statement per table for all of them (`record_many`).
CONSUMER_QUERIES = (
    "inbox__seen_many",
    "intents__begin",
    "inbox__add_results",
    "inbox__add",
    "deliveries__add_many",
    "outbox__add_many",
    "outbox__add_leased_many",
)
HOPS += tuple(
    (
        f"  db {query}",
        "notifications-consumer",
        "svcinfra_db_query_duration_seconds",
        {"query": query},
    )
    for query in CONSUMER_QUERIES
)


ROLES = ("users-api", "users-relay", "notifications-consumer", "notifications-relay", "fake-mail")


SUBSCRIBER_QUEUE = "bench.notification-sent"


async def _subscribe_sent(stack: Stack) -> None:
    """Bind a bounded queue to `notification.sent.v1`: the subscriber a deployment would have."""
    connection = await aio_pika.connect(stack.amqp_admin_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(
            SUBSCRIBER_QUEUE,
            durable=True,
            arguments={"x-queue-type": "quorum", "x-max-length": 1000, "x-overflow": "drop-head"},
        )
        await queue.bind("notifications.events", routing_key="notification.sent.v1")


def cpu_by_role(stack: Stack) -> dict[str, float]:
    """CPU seconds each process of the stack has used so far."""
    return {role: cpu_seconds(stack.process(role).pid or 0) for role in ROLES}


# --- the open-loop load generator (a child process) ---


async def _open_loop(port: int, rate: float, seconds: float, tag: str) -> dict[str, Any]:
    """POST `rate` registrations a second for `seconds`, each at its own instant."""
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    opened = 0
    answered: dict[str, float] = {}
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    late = 0

    async def one(i: int) -> None:
        nonlocal opened
        name = f"p{tag}_{i}"
        body = json.dumps({"email": f"{name}@example.com", "username": name, "display_name": name})
        payload = (
            "POST /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        ).encode()
        if idle:
            conn = idle.pop()
        else:
            opened += 1
            conn = await asyncio.open_connection("127.0.0.1", port)
        started = time.perf_counter()
        conn[1].write(payload)
        status = await _read_response(conn[0])
        latencies.append(time.perf_counter() - started)
        answered[f"{name}@example.com"] = time.time()
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        idle.append(conn)

    count = int(rate * seconds)
    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter() + 0.05
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -LATE_SECONDS:
            late += 1
        if len(tasks) >= MAX_CONNECTIONS:  # the server is far behind: wait for one
            _, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            late += 1
        task = asyncio.create_task(one(i))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks)
    elapsed = time.perf_counter() - start
    for _, writer in idle:
        writer.close()
    return {
        "answered": answered,
        "statuses": statuses,
        "rps": len(latencies) / elapsed,
        "post_p50": _pct(latencies, 0.5),
        "post_p99": _pct(latencies, 0.99),
        "late": late,
        "connections": opened,
    }


def run_open_loop(port: int, rate: float, seconds: float) -> dict[str, Any]:
    """Run the open-loop generator in a child process (its CPU is not the servers')."""
    tag = secrets.token_hex(3)
    argv = [sys.executable, __file__, "--load", str(port), str(rate), str(seconds), tag]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)  # noqa: S603
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# --- emails and metrics ---


def accepted_count(http: httpx.Client, stack: Stack) -> float:
    """Messages fake-mail has accepted so far (its counter: cheaper than listing them)."""
    return metric(http, stack.process("fake-mail").tech_url, "fake_mail_messages_accepted_total")


def wait_for_emails(
    stack: Stack,
    http: httpx.Client,
    answered: dict[str, float],
    settle: float,
    *,
    until: float | None = None,
    to: str | None = None,
) -> dict[str, float]:
    """Fake-mail's `accepted_at` (epoch seconds) of each address in `answered`.

    With `until`, waits for fake-mail's accepted counter to reach it before listing once (a
    listing of thousands of messages costs fake-mail CPU that would be counted as the step's);
    with `to`, lists that address only, every 10 ms.
    """
    deadline = time.monotonic() + settle
    if until is not None:
        while accepted_count(http, stack) < until and time.monotonic() < deadline:
            time.sleep(0.1)
    accepted: dict[str, float] = {}
    while True:
        listed = http.get(
            f"{stack.fake_mail_url}/v1/messages",
            headers=stack.fake_mail_headers,
            params={"to": to} if to else None,
        )
        for message in listed.raise_for_status().json()["messages"]:
            if message["to"] in answered:
                accepted[message["to"]] = datetime.fromisoformat(message["accepted_at"]).timestamp()
        if len(accepted) >= len(answered) or time.monotonic() > deadline:
            return accepted
        time.sleep(0.01 if to else 0.25)


def histograms(http: httpx.Client, stack: Stack) -> dict[str, dict[str, Any]]:
    """Each hop's histogram (buckets, sum, count) as its process's /metrics shows it now."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    pages: dict[str, str] = {}
    found: dict[str, dict[str, Any]] = {}
    for hop, role, name, labels in HOPS:
        if role not in pages:
            pages[role] = http.get(f"{stack.process(role).tech_url}/metrics").text
        buckets: dict[float, float] = {}
        total = count = 0.0
        for family in text_string_to_metric_families(pages[role]):
            for sample in family.samples:
                if not sample.name.startswith(name) or any(
                    sample.labels.get(k) != v for k, v in labels.items()
                ):
                    continue
                if sample.name == f"{name}_bucket":
                    le = float(sample.labels["le"])
                    buckets[le] = buckets.get(le, 0.0) + sample.value
                elif sample.name == f"{name}_sum":
                    total += sample.value
                elif sample.name == f"{name}_count":
                    count += sample.value
        found[hop] = {"buckets": buckets, "sum": total, "count": count}
    return found


def hop_figures(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> dict[str, tuple[float, float, float]]:
    """Per hop: (count, mean ms, p99 ms as the upper bound of its bucket) over the step."""
    figures: dict[str, tuple[float, float, float]] = {}
    for hop in after:
        count = after[hop]["count"] - before[hop]["count"]
        total = after[hop]["sum"] - before[hop]["sum"]
        p99 = float("nan")
        if count > 0:
            for le in sorted(after[hop]["buckets"]):
                seen = after[hop]["buckets"][le] - before[hop]["buckets"].get(le, 0.0)
                if seen >= 0.99 * count:
                    p99 = le * 1000
                    break
        figures[hop] = (count, total / count * 1000 if count else float("nan"), p99)
    if "handler" in figures and "mail call" in figures:
        rest = figures["handler"][1] - figures["mail call"][1]
        figures["inbox commit (handler - mail)"] = (figures["handler"][0], rest, float("nan"))
        statements = sum(
            figures[f"  db {q}"][1] for q in CONSUMER_QUERIES if figures[f"  db {q}"][0]
        )
        figures["  rest: BEGIN/COMMIT, waits"] = (
            figures["handler"][0],
            rest - statements,
            float("nan"),
        )
    return figures


# --- the sections ---


def bench_idle(stack: Stack, http: httpx.Client, count: int) -> dict[str, Any]:
    """Register `count` users one at a time, each after the previous email; ms from the 201,
    and the hops of those emails."""
    tag = secrets.token_hex(3)
    latencies = []
    before = histograms(http, stack)
    for i in range(count):
        name = f"i{tag}_{i}"
        body = {"email": f"{name}@example.com", "username": name, "display_name": name}
        http.post(f"{stack.users_api_url}/api/v1/users", json=body).raise_for_status()
        answered = {body["email"]: time.time()}
        accepted = wait_for_emails(stack, http, answered, 10.0, to=body["email"])
        if not accepted:
            raise SystemExit(f"the welcome email to {body['email']} did not arrive in 10 s")
        latencies.append((accepted[body["email"]] - answered[body["email"]]) * 1000)
        time.sleep(0.05)
    return {
        "latencies": latencies,
        "hops": hop_figures(before, histograms(http, stack)),
    }


def bench_rate(stack: Stack, http: httpx.Client, rate: float, seconds: float) -> dict[str, Any]:
    """One open-loop step at `rate`/s: POST side, register -> email, per-hop figures."""
    users = stack.process("users-api")
    assert users.api_port is not None  # noqa: S101
    before, cpu = histograms(http, stack), cpu_by_role(stack)
    emails_before = accepted_count(http, stack)
    load = run_open_loop(users.api_port, rate, seconds)
    answered: dict[str, float] = load["answered"]
    until = emails_before + load["statuses"].get("201", 0)
    accepted = wait_for_emails(stack, http, answered, SETTLE_SECONDS, until=until)
    after, cpu_after = histograms(http, stack), cpu_by_role(stack)
    latencies = [(accepted[e] - answered[e]) for e in accepted]
    created = load["statuses"].get("201", 0)
    http.delete(f"{stack.fake_mail_url}/v1/messages", headers=stack.fake_mail_headers)
    return {
        "rate": rate,
        "rps": load["rps"],
        "post_p99": load["post_p99"],
        "created": created,
        "emails": len(accepted),
        "p50": _pct(latencies, 0.5),
        "p99": _pct(latencies, 0.99),
        "max": max(latencies, default=0.0) * 1000,
        "late": load["late"],
        "hops": hop_figures(before, after),
        "cpu_us": {r: (cpu_after[r] - cpu[r]) / max(len(accepted), 1) * 1e6 for r in ROLES},
        "sustained": (
            created >= 0.95 * rate * seconds
            and len(accepted) == created
            and _pct(latencies, 0.99) <= TARGET_P99_MS
        ),
    }


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy so far (`/proc/stat`: all but idle and
    iowait), PostgreSQL and RabbitMQ included."""
    fields = [int(f) for f in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def bench_drain(stack: Stack, http: httpx.Client, count: int) -> dict[str, Any]:
    """The email side draining a backlog of `count` registrations (the consumer started last)."""
    users = stack.process("users-api")
    assert users.api_port is not None  # noqa: S101
    # The API publishes some rows itself (up to its rate bound), the relay the others.
    publishers = (users.tech_url, stack.process("users-relay").tech_url)
    consumer = stack.process("notifications-consumer")
    consumer.stop()

    def confirmed() -> float:
        name = "svcinfra_amqp_messages_confirmed_total"
        return sum(metric(http, url, name) for url in publishers)

    before = confirmed()
    load = run_open_loop(users.api_port, 200.0, count / 200.0)
    created = load["statuses"].get("201", 0)
    deadline = time.monotonic() + 60
    while confirmed() < before + created:
        if time.monotonic() > deadline:
            raise SystemExit("the users API and relay did not publish the backlog within 60 s")
        time.sleep(0.1)
    others = ("notifications-relay", "fake-mail")
    emails_before = accepted_count(http, stack)
    cpu = {role: cpu_seconds(stack.process(role).pid or 0) for role in others}
    cpu["the whole machine"] = 0.0
    busy = machine_busy_seconds()
    consumer.start()  # its CPU counts from 0: its start-up is in it
    accepted = wait_for_emails(stack, http, load["answered"], 120.0, until=emails_before + created)
    machine = machine_busy_seconds() - busy
    cpu_after = {role: cpu_seconds(stack.process(role).pid or 0) for role in others}
    cpu_after["the whole machine"] = machine
    cpu_after["notifications-consumer (with its start)"] = cpu_seconds(consumer.pid or 0)
    cpu["notifications-consumer (with its start)"] = 0.0
    consumer.wait_ready()
    http.delete(f"{stack.fake_mail_url}/v1/messages", headers=stack.fake_mail_headers)
    if len(accepted) < created:
        raise SystemExit(f"drain: {len(accepted)} of {created} emails within 120 s")
    first, last = min(accepted.values()), max(accepted.values())
    return {
        "count": created,
        "rate": (created - 1) / (last - first),
        "cpu_us": {r: (cpu_after[r] - cpu[r]) / created * 1e6 for r in cpu_after},
    }


def print_results(
    idle_step: dict[str, Any], steps: list[dict[str, Any]], seconds: float, tracing: str
) -> None:
    """The tables: idle, then one row per rate, then the hops of each rate."""
    load = os.getloadavg()
    print(
        f"pipeline bench (load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f},"
        f" {os.cpu_count()} cores; {tracing})"
    )
    idle = idle_step["latencies"]
    print(
        f"idle register -> email (from the 201), {len(idle)} one at a time:"
        f" p50 {_pct([v / 1000 for v in idle], 0.5):.2f} ms,"
        f" p99 {_pct([v / 1000 for v in idle], 0.99):.2f} ms"
    )
    print(
        f"open loop, {seconds:.0f} s per rate; register -> email from the 201;"
        f" sustained: >= 95% of R created, every email, p99 <= {TARGET_P99_MS:.0f} ms"
    )
    print(
        f"{'R/s':>5} {'POST/s':>7} {'POST p99':>9} {'created':>8} {'emails':>7}"
        f" {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'late':>5}  sustained"
    )
    best = 0.0
    for s in steps:
        print(
            f"{s['rate']:>5.0f} {s['rps']:>7.0f} {s['post_p99']:>9.1f} {s['created']:>8}"
            f" {s['emails']:>7} {s['p50']:>8.1f} {s['p99']:>8.1f} {s['max']:>8.1f}"
            f" {s['late']:>5}  {'yes' if s['sustained'] else 'NO'}"
        )
        if s["sustained"]:
            best = max(best, s["rate"])
    print(f"highest sustained rate: {best:.0f}/s")
    print("per hop: mean ms / p99 ms (upper bound of its bucket), this step's samples only")
    columns = [idle_step, *steps]
    hops = list(idle_step["hops"])
    print(f"{'hop':<32} {'idle':>15} " + " ".join(f"{s['rate']:>13.0f}/s" for s in steps))
    for hop in hops:
        cells = [f"{s['hops'][hop][1]:>7.1f} /{s['hops'][hop][2]:>6.0f}" for s in columns]
        print(f"{hop:<32} " + " ".join(f"{c:>15}" for c in cells))
    print(
        f"{'(samples of commit -> handler)':<32} "
        + " ".join(f"{s['hops']['commit -> handler'][0]:>15.0f}" for s in columns)
    )
    print("CPU per email, us (the step's CPU time of each process / emails; polls included)")
    print(f"{'R/s':>5} " + " ".join(f"{r:>22}" for r in ROLES))
    for s in steps:
        print(f"{s['rate']:>5.0f} " + " ".join(f"{s['cpu_us'][r]:>22.0f}" for r in ROLES))


def role_env(common: dict[str, str], overrides: list[str]) -> dict[str, dict[str, str]]:
    """Each role's extra variables: `common`, then the `ROLE:NAME=VALUE` overrides."""
    env = {role: dict(common) for role in ROLES}
    for override in overrides:
        role, _, assignment = override.partition(":")
        name, _, value = assignment.partition("=")
        if role not in env or not name:
            raise SystemExit(f"--env {override!r}: ROLE:NAME=VALUE, ROLE one of {ROLES}")
        env[role][name] = value
    return env


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--rates", help="comma-separated rates per second to step through")
    parser.add_argument("--seconds", type=float, help="seconds of load per rate")
    parser.add_argument("--all-rates", action="store_true", help="do not stop at the first miss")
    parser.add_argument(
        "--trace-all",
        action="store_true",
        help="trace every message, as ENV=dev does (default: TRACE_SAMPLE_RATIO=0.1, as deployed)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="ROLE:NAME=VALUE",
        help="a variable over a role's (e.g. notifications-consumer:CONSUMER_PREFETCH=50)",
    )
    parser.add_argument(
        "--drain", type=int, default=2000, help="registrations in the backlog (0: no drain)"
    )
    parser.add_argument(
        "--no-subscriber",
        action="store_true",
        help="bind no queue to notification.sent.v1 (as `make run`: nothing consumes it)",
    )
    parser.add_argument("--load", nargs=4, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    """Run the benchmark and print its tables."""
    args = _arguments()
    if args.load:
        port, rate, seconds, tag = args.load
        result = asyncio.run(_open_loop(int(port), float(rate), float(seconds), tag))
        print(json.dumps(result))
        return
    if args.quick:
        rates, seconds, idle_count = [100.0, 300.0, 600.0], 3.0, 20
    else:
        rates, seconds, idle_count = [50.0, 100.0, 200.0, 300.0, 400.0, 500.0, 600.0], 8.0, 50
    if args.rates:
        rates = [float(r) for r in args.rates.split(",")]
    if args.seconds:
        seconds = args.seconds
    logs = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    sampling = {} if args.trace_all else {"TRACE_SAMPLE_RATIO": PROD_SAMPLE_RATIO}
    stack = Stack(
        run_id=f"p{secrets.token_hex(4)}",
        ports=Ports.free(),
        log_dir=logs,
        env=dict.fromkeys(ROLES, sampling),
    )
    stack.start()
    steps: list[dict[str, Any]] = []
    try:
        if not args.no_subscriber:
            asyncio.run(_subscribe_sent(stack))  # the vhost, and the queue with it, go at stop()
        with httpx.Client(timeout=30) as http:
            bench_rate(stack, http, 50.0, 1.0)  # warm every process and connection
            idle = bench_idle(stack, http, idle_count)
            for rate in rates:
                steps.append(bench_rate(stack, http, rate, seconds))
                if not steps[-1]["sustained"] and not args.all_rates:
                    break
            drain = bench_drain(stack, http, args.drain) if args.drain else None
    except BaseException:
        print(f"the processes' logs are in {logs}")
        raise
    finally:
        stack.stop()
    shutil.rmtree(logs)
    tracing = "every message traced" if args.trace_all else "10% of traces sampled, as deployed"
    print_results(idle, steps, seconds, tracing)
    if drain is not None:
        cpu = ", ".join(f"{role} {us:,.0f}" for role, us in drain["cpu_us"].items())
        print(
            f"drain: {drain['count']} registrations queued with the consumer stopped, then "
            f"emailed at {drain['rate']:,.0f}/s (first to last email; the API idle)\n"
            f"  CPU per email, us: {cpu}"
        )


if __name__ == "__main__":
    main()
