"""Lambda handler: Kinesis sales events in, sales predictions out.

Each invocation gets one batch of Kinesis records (one shard). Every record's data is a JSON sales event
{"store_id": int, "date": "YYYY-MM-DD", "promo": 0|1}. The model for RUN_ID is read once per container from
s3://$MODEL_BUCKET/$MODEL_PREFIX$RUN_ID/model.json; one prediction per good record goes to
$PREDICTIONS_STREAM_NAME (partition key = store_id). The answer lists the sequence numbers of the records that
were not handled (malformed, or rejected by PutRecords) as batchItemFailures, so with ReportBatchItemFailures
only those are retried. A model that cannot be loaded is an exception: the whole batch is retried. An empty
batch ({"Records": []}, which Kinesis never sends) loads the model too: it is the deploy's smoke test.
boto3 honours AWS_ENDPOINT_URL, so the same code runs against AWS and a local emulator.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import boto3

from model import Model, SalesEvent, load_model, parse_sales_event

MAX_RECORDS_PER_PUT = 500
MAX_BYTES_PER_PUT = 5 * 1024 * 1024  # data + partition keys of one PutRecords request


@dataclass(frozen=True)
class Settings:
    model_bucket: str
    model_prefix: str
    run_id: str
    predictions_stream: str

    @classmethod
    def from_env(cls) -> Settings:
        missing = [name for name in ("MODEL_BUCKET", "RUN_ID", "PREDICTIONS_STREAM_NAME") if not os.environ.get(name)]
        if missing:
            raise RuntimeError(f"missing environment variables: {', '.join(missing)}")
        return cls(
            model_bucket=os.environ["MODEL_BUCKET"],
            model_prefix=os.environ.get("MODEL_PREFIX", ""),
            run_id=os.environ["RUN_ID"],
            predictions_stream=os.environ["PREDICTIONS_STREAM_NAME"],
        )

    @property
    def model_key(self) -> str:
        return f"{self.model_prefix}{self.run_id}/model.json"


@dataclass(frozen=True)
class Entry:
    """One PutRecords entry and the input record it answers."""

    sequence_number: str
    partition_key: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data) + len(self.partition_key.encode())


@functools.cache
def s3_client() -> Any:
    return boto3.client("s3")


@functools.cache
def kinesis_client() -> Any:
    return boto3.client("kinesis")


_model_cache: dict[tuple[str, str], Model] = {}


def log(message: str, **fields: Any) -> None:
    """One JSON object per line on stdout (CloudWatch Logs keeps each line as one event)."""
    print(json.dumps({"message": message, **fields}, default=str), flush=True)


def current_model(settings: Settings) -> Model:
    """The model of settings.run_id; read from S3 only when the container has not loaded it yet."""
    location = (settings.model_bucket, settings.model_key)
    if location not in _model_cache:
        started = time.monotonic()
        body = s3_client().get_object(Bucket=location[0], Key=location[1])["Body"].read()
        model = load_model(body)
        if model.run_id != settings.run_id:
            raise ValueError(f"s3://{location[0]}/{location[1]} holds run {model.run_id!r}, not {settings.run_id!r}")
        _model_cache.clear()
        _model_cache[location] = model
        log("model loaded", run_id=model.run_id, source=f"s3://{location[0]}/{location[1]}",
            load_ms=round(1000 * (time.monotonic() - started), 1))
    return _model_cache[location]


def decode_record(record: dict[str, Any]) -> SalesEvent:
    """The sales event in one Kinesis record; ValueError when the data is not one."""
    try:
        raw = base64.b64decode(record["kinesis"]["data"], validate=True)
        payload = json.loads(raw)
    except KeyError as err:
        raise ValueError("the record has no kinesis.data") from err
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError, TypeError) as err:
        raise ValueError(f"data is not base64-encoded JSON: {err}") from err
    return parse_sales_event(payload)


def prediction_entry(model: Model, event: SalesEvent, sequence_number: str) -> Entry:
    prediction = {
        "store_id": event.store_id,
        "date": event.date.isoformat(),
        "promo": event.promo,
        "predicted_sales": round(model.predict(event), 2),
        "run_id": model.run_id,
        "source_sequence_number": sequence_number,
    }
    return Entry(sequence_number, str(event.store_id), json.dumps(prediction, separators=(",", ":")).encode())


def chunks(entries: Sequence[Entry], max_records: int = MAX_RECORDS_PER_PUT,
           max_bytes: int = MAX_BYTES_PER_PUT) -> Iterator[list[Entry]]:
    """Consecutive groups of entries, each within the PutRecords count and size limits."""
    chunk: list[Entry] = []
    size = 0
    for entry in entries:
        if chunk and (len(chunk) == max_records or size + entry.size > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += entry.size
    if chunk:
        yield chunk


def put_predictions(stream: str, entries: Sequence[Entry]) -> list[str]:
    """Write the entries; the sequence numbers of the input records whose prediction PutRecords rejected."""
    rejected = []
    for chunk in chunks(entries):
        response = kinesis_client().put_records(
            StreamName=stream,
            Records=[{"Data": entry.data, "PartitionKey": entry.partition_key} for entry in chunk],
        )
        for entry, result in zip(chunk, response["Records"]):
            if result.get("ErrorCode"):
                rejected.append(entry.sequence_number)
                log("prediction rejected", source_sequence_number=entry.sequence_number,
                    error_code=result["ErrorCode"], error_message=result.get("ErrorMessage"))
    return rejected


def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    """One Kinesis batch. An empty batch still loads the model, so {"Records": []} smoke-tests a new version."""
    started = time.monotonic()
    records = event.get("Records") or []
    settings = Settings.from_env()
    model = current_model(settings)

    entries: list[Entry] = []
    malformed: list[str] = []
    for record in records:
        sequence_number = record["kinesis"]["sequenceNumber"]
        try:
            entries.append(prediction_entry(model, decode_record(record), sequence_number))
        except ValueError as err:
            malformed.append(sequence_number)
            log("malformed record", source_sequence_number=sequence_number, error=str(err))
    rejected = set(put_predictions(settings.predictions_stream, entries))

    failed = set(malformed) | rejected
    failures = [
        {"itemIdentifier": record["kinesis"]["sequenceNumber"]}
        for record in records
        if record["kinesis"]["sequenceNumber"] in failed
    ]
    log("batch done", run_id=model.run_id, records=len(records), predicted=len(entries) - len(rejected),
        malformed=len(malformed), rejected=len(rejected), duration_ms=round(1000 * (time.monotonic() - started), 1))
    return {"batchItemFailures": failures}
