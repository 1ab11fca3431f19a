#!/usr/bin/env python3
"""Reads costflow's cost.records with fastavro: the consumer side of the contract.

Prints one JSON object per record, money as exact decimal strings and times as
microseconds since the epoch, then stops once it has read --count records or the
topic stayed quiet for --idle seconds.

    python3 read_cost_records.py --brokers 127.0.0.1:9092 --topic cost.records \\
        --schemas schemas/ --group my-reader
"""

import argparse
import datetime
import glob
import io
import json
import os
import sys
import time

import fastavro
from confluent_kafka import Consumer

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def writer_schemas(folder, reader_version=None):
    """Every kept cost record version by its header bytes, and the reader schema:
    the newest version, or the one asked for."""
    by_header = {}
    versions = []
    for path in glob.glob(os.path.join(folder, "cost_record.v*.avsc")):
        with open(path, encoding="utf-8") as f:
            schema = fastavro.parse_schema(json.load(f))
        version = int(path.rsplit(".v", 1)[1].split(".")[0])
        canonical = fastavro.schema.to_parsing_canonical_form(schema)
        header = b"\xc3\x01" + bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
        by_header[header] = schema
        versions.append((version, schema))
    if reader_version is not None:
        return by_header, dict(versions)[reader_version]
    return by_header, max(versions, key=lambda v: v[0])[1]


def decode(payload, by_header, reader):
    writer = by_header.get(payload[:10])
    if writer is None:
        raise ValueError(f"unknown writer schema, header {payload[:10].hex()}")
    return fastavro.schemaless_reader(io.BytesIO(payload[10:]), writer, reader)


def plain(value):
    """JSON-ready: datetimes as µs since the epoch, everything else as is."""
    if isinstance(value, datetime.datetime):
        delta = value - EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="cost.records")
    parser.add_argument("--schemas", required=True, help="costflow's schemas/ folder")
    parser.add_argument("--group", required=True)
    parser.add_argument("--count", type=int, default=0, help="stop after this many")
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument(
        "--reader-version",
        type=int,
        help="read into this schema version instead of the newest (as an older reader)",
    )
    args = parser.parse_args()

    by_header, reader = writer_schemas(args.schemas, args.reader_version)
    consumer = Consumer(
        {
            "bootstrap.servers": args.brokers,
            "group.id": args.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([args.topic])
    read, quiet_since = 0, time.monotonic()
    try:
        while time.monotonic() - quiet_since < args.idle:
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error():
                raise RuntimeError(message.error())
            record = decode(message.value(), by_header, reader)
            print(json.dumps({k: plain(v) for k, v in record.items()}, sort_keys=True))
            read += 1
            quiet_since = time.monotonic()
            if args.count and read >= args.count:
                break
    finally:
        consumer.close()
    print(f"read {read} records", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
