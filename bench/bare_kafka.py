"""The raw baselines: bare aiokafka in its own process, no database, no framework.

    python -m bench.bare_kafka relay --bootstrap B --in T --out U --template F --group G [--batch]
    python -m bench.bare_kafka produce --bootstrap B --topic T --messages F

`relay` consumes T and, for each record, produces one record shaped like F (same value and
headers, a fresh ce_id, the input's key, correlation and id as causation) to U. By default
it works one record at a time with the platform's delivery contract: the output is
acknowledged by the broker before the input's offset is committed, as the service's
consumer commits only after its transaction (FastStream reads one record at a time too).
`--batch` is the ceiling: up to 1,000 records per poll, produced together, one commit.

`produce` reads (key, value, headers) lines, says "ready", waits for "go" on stdin, sends
them all through one producer, and says "done <seconds>".

Producers use the outbox relay's settings (idempotent, linger RELAY_LINGER_MS).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid

from aiokafka import AIOKafkaConsumer

from bench.kafka_tools import BASELINE_ACCESS, relay_like_producer


def _read_messages(path: str) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    messages = []
    with open(path) as source:
        for line in source:
            key, value, headers = json.loads(line)
            messages.append((key.encode(), value.encode(), [(k, v.encode()) for k, v in headers]))
    return messages


def _say(word: str) -> None:
    sys.stdout.write(word + "\n")
    sys.stdout.flush()


def _shaped(template: list[tuple[str, bytes]], incoming: list[tuple[str, bytes]] | tuple) -> list[tuple[str, bytes]]:
    given = dict(incoming or ())
    out = []
    for k, v in template:
        if k == "ce_id":
            v = str(uuid.uuid4()).encode()
        elif k == "ce_causationid" and given.get("ce_id"):
            v = given["ce_id"]
        elif k == "ce_correlationid" and given.get("ce_correlationid"):
            v = given["ce_correlationid"]
        out.append((k, v))
    return out


async def relay(args: argparse.Namespace) -> None:
    (_, value, template), = _read_messages(args.template)
    producer = relay_like_producer(args.bootstrap, "bare-relay")
    consumer = AIOKafkaConsumer(
        getattr(args, "in"), bootstrap_servers=args.bootstrap, group_id=args.group,
        auto_offset_reset="earliest", enable_auto_commit=False, **BASELINE_ACCESS(),
    )
    await producer.start()
    await consumer.start()
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        _say("ready")
        if args.batch:
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=1000)
                futures = [
                    await producer.send(args.out, value, key=r.key, headers=_shaped(template, r.headers))
                    for records in batch.values() for r in records
                ]
                if futures:
                    await asyncio.gather(*futures)
                    await consumer.commit()
        else:
            async for r in consumer:
                await producer.send_and_wait(args.out, value, key=r.key, headers=_shaped(template, r.headers))
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


async def produce(args: argparse.Namespace) -> None:
    messages = _read_messages(args.messages)
    producer = relay_like_producer(args.bootstrap, "bare-producer")
    await producer.start()
    try:
        # One warm-up record, so that metadata and the idempotent producer id are in place.
        await producer.send_and_wait(args.topic + ".warmup", b"{}", key=b"warmup")
        _say("ready")
        command = await asyncio.to_thread(sys.stdin.readline)
        if command.strip() != "go":
            return
        started = time.perf_counter()
        futures = [await producer.send(args.topic, value, key=key, headers=headers) for key, value, headers in messages]
        await asyncio.gather(*futures)
        _say(f"done {time.perf_counter() - started:.6f}")
        await asyncio.to_thread(sys.stdin.readline)  # until the harness lets go
    finally:
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.bare_kafka")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("relay")
    r.add_argument("--bootstrap", required=True)
    r.add_argument("--in", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--template", required=True)
    r.add_argument("--group", required=True)
    r.add_argument("--batch", action="store_true")
    p = sub.add_parser("produce")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--messages", required=True)
    args = parser.parse_args()
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        run = asyncio.run
    try:
        run(relay(args) if args.command == "relay" else produce(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
