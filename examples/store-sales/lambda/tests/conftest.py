"""Fixtures: moto in process (no server, no network), fake credentials, a trained model in S3, a stream."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

import handler
from model import Model
from train import DataConfig, train

REGION = "us-east-1"
BUCKET = "store-sales-models"
PREFIX = "store-sales/"
STREAM = "store-sales-predictions"
SMALL_DATA = DataConfig(seed=11, stores=4, days=400)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """moto's in-process mock with fake credentials; nothing from the machine's AWS setup leaks in."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_KINESIS", "AWS_PROFILE",
                 "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def fresh_container() -> Iterator[None]:
    """A new Lambda container: no clients, no model loaded."""
    def reset() -> None:
        handler.s3_client.cache_clear()
        handler.kinesis_client.cache_clear()
        handler._model_cache.clear()

    reset()
    yield
    reset()


def upload_model(run_id: str, data: DataConfig) -> Model:
    """Train on data and put the model where the handler looks for run_id; the trained model."""
    model, document = train(run_id, data)
    boto3.client("s3").put_object(Bucket=BUCKET, Key=f"{PREFIX}{run_id}/model.json", Body=json.dumps(document))
    return model


@pytest.fixture
def pipeline(aws: None, fresh_container: None, monkeypatch: pytest.MonkeyPatch) -> Model:
    """A model bucket holding run-a, an empty one-shard predictions stream, the handler's settings; run-a."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    boto3.client("kinesis").create_stream(StreamName=STREAM, ShardCount=1)
    model = upload_model("run-a", SMALL_DATA)
    monkeypatch.setenv("MODEL_BUCKET", BUCKET)
    monkeypatch.setenv("MODEL_PREFIX", PREFIX)
    monkeypatch.setenv("RUN_ID", "run-a")
    monkeypatch.setenv("PREDICTIONS_STREAM_NAME", STREAM)
    return model


def sequence_number(index: int) -> str:
    return str(49590338271490256608559692538361571095921575989136588898 + index)


def kinesis_event(payloads: list[Any]) -> dict[str, Any]:
    """A Kinesis event source mapping batch; a bytes payload is sent as is, anything else as JSON."""
    records = []
    for index, payload in enumerate(payloads):
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        seq = sequence_number(index)
        records.append({
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": "sales",
                "sequenceNumber": seq,
                "data": base64.b64encode(raw).decode(),
                "approximateArrivalTimestamp": 1767225600.123,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"shardId-000000000000:{seq}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::123456789012:role/store-sales",
            "awsRegion": REGION,
            "eventSourceARN": f"arn:aws:kinesis:{REGION}:123456789012:stream/store-sales-events",
        })
    return {"Records": records}


def read_stream(stream: str = STREAM) -> list[tuple[str, dict[str, Any]]]:
    """Every record in the stream, oldest first per shard: (partition key, decoded JSON)."""
    kinesis = boto3.client("kinesis")
    found = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            found += [(r["PartitionKey"], json.loads(r["Data"])) for r in page["Records"]]
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return found
