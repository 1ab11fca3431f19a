#!/usr/bin/env python3
"""A third-party collector: publishes a FOCUS CSV file to costflow's cost.records.

This is the worked example of docs/collectors.md, and the test suite runs it
unchanged (tests/collectors.rs). It needs only confluent-kafka and fastavro.

    python3 focus_collector.py --brokers 127.0.0.1:9092 --topic cost.records \\
        --schema schemas/cost_record.v1.avsc --provider acme-focus-export FILE.csv

Money never passes through float: cells are read as text, checked with
decimal.Decimal and sent as plain decimal strings.
"""

import argparse
import csv
import datetime
import decimal
import hashlib
import io
import json
import os
import struct
import sys

import fastavro
from confluent_kafka import Producer

NULLS = {"", "null", "(null)", "none", "n/a", "nan"}
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def load_schema(path):
    """The parsed writer schema and its 10-byte single-object header."""
    with open(path, encoding="utf-8") as f:
        schema = fastavro.parse_schema(json.load(f))
    canonical = fastavro.schema.to_parsing_canonical_form(schema)
    fingerprint = fastavro.schema.fingerprint(canonical, "CRC-64-AVRO")
    # fastavro prints the fingerprint's bytes in little-endian order, which is the
    # order the single-object header carries them in.
    return schema, b"\xc3\x01" + bytes.fromhex(fingerprint)


def field_kinds(schema):
    """Schema field name -> 'decimal', 'string' or 'time', for the optional columns."""
    kinds = {}
    for field in schema["fields"]:
        branches = field["type"] if isinstance(field["type"], list) else [field["type"]]
        for branch in branches:
            if isinstance(branch, dict) and branch.get("logicalType") == "decimal-string":
                kinds[field["name"]] = "decimal"
            elif branch == "string":
                kinds[field["name"]] = "string"
    return kinds


def cell(row, column):
    value = row.get(column)
    if value is None or value.strip().lower() in NULLS:
        return None
    return value.strip()


def utc_micros(text):
    """A FOCUS datetime (RFC 3339, or ISO 8601 without zone meaning UTC) in µs."""
    text = text.replace("Z", "+00:00")
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def decimal_text(text):
    """A plain base-10 string, exactly the value written: no float, no exponent."""
    value = decimal.Decimal(text)
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {text!r}")
    return format(value, "f")


def record_key(*parts):
    """SHA-256 over the parts, each preceded by its byte length as 8 bytes LE."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        digest.update(struct.pack("<Q", len(data)))
        digest.update(data)
    return digest.hexdigest()


def to_record(row, line, raw_cells, kinds, args):
    billing_start = utc_micros(cell(row, "BillingPeriodStart"))
    record = {
        # The natural key of a line of this file: the account, its billing period,
        # its line number and its text. A re-send of the same file under any name
        # gives the same keys, so costflow stores it once.
        "RecordKey": record_key(
            cell(row, "BillingAccountId") or "",
            str(billing_start),
            str(line),
            *raw_cells,
        ),
        "SourceProvider": args.provider,
        "SourceDataset": "FOCUS",
        "SourceUri": "file://" + os.path.abspath(args.file),
        "SourceLine": line,
        "SourceVersion": args.source_version,
        "FocusVersion": args.focus_version,
        "BillingAccountId": cell(row, "BillingAccountId") or "",
        "BillingCurrency": cell(row, "BillingCurrency") or "",
        "BillingPeriodStart": billing_start,
        "BillingPeriodEnd": utc_micros(cell(row, "BillingPeriodEnd")),
        "ChargePeriodStart": utc_micros(cell(row, "ChargePeriodStart")),
        "ChargePeriodEnd": utc_micros(cell(row, "ChargePeriodEnd")),
        "ChargeCategory": cell(row, "ChargeCategory") or "",
        "BilledCost": decimal_text(cell(row, "BilledCost")),
        "EffectiveCost": decimal_text(cell(row, "EffectiveCost")),
        "Tags": {},
        "Extensions": {},
    }
    for column, value in row.items():
        value = cell(row, column)
        if column in record or value is None:
            continue
        if column == "Tags":
            record["Tags"] = {k.strip(): tag_text(v) for k, v in json.loads(value).items()}
        elif kinds.get(column) == "decimal":
            record[column] = decimal_text(value)
        elif kinds.get(column) == "string":
            record[column] = value
        else:
            record["Extensions"][column] = value
    return record


def tag_text(value):
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="cost.records")
    parser.add_argument("--schema", required=True, help="the .avsc to write with")
    parser.add_argument("--provider", default="example-focus-collector")
    parser.add_argument("--focus-version", default="1.0")
    parser.add_argument(
        "--source-version",
        type=int,
        help="µs since the epoch; the export run's time (default: the file's mtime)",
    )
    parser.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a top-level string field of the schema on every record (repeatable)",
    )
    parser.add_argument("file")
    args = parser.parse_args()
    if args.source_version is None:
        args.source_version = os.stat(args.file).st_mtime_ns // 1_000

    schema, header = load_schema(args.schema)
    kinds = field_kinds(schema)
    producer = Producer(
        {
            "bootstrap.servers": args.brokers,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
        }
    )
    failures = []

    def delivered(err, _msg):
        if err is not None:
            failures.append(err)

    published = 0
    with open(args.file, encoding="utf-8-sig", newline="") as f:
        raw_lines = csv.reader(f)
        columns = next(raw_lines)
        for line, cells in enumerate(raw_lines, start=2):
            row = dict(zip(columns, cells))
            record = to_record(row, line, cells, kinds, args)
            for assignment in args.field:
                name, _, value = assignment.partition("=")
                record[name] = value
            body = io.BytesIO()
            fastavro.schemaless_writer(body, schema, record)
            producer.produce(
                args.topic,
                key=record["BillingAccountId"].encode("utf-8"),
                value=header + body.getvalue(),
                on_delivery=delivered,
            )
            producer.poll(0)
            published += 1

    remaining = producer.flush(120)
    if failures or remaining:
        print(f"FAILED: {len(failures)} not acknowledged, {remaining} unsent", file=sys.stderr)
        return 1
    print(f"published {published} records to {args.topic}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
