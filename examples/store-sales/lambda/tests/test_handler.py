"""The handler against moto in process: records really go through S3 and a Kinesis stream."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from conftest import kinesis_event, read_stream, sequence_number, upload_model

import handler
from model import Model, SalesEvent, parse_date
from train import DataConfig


def count_calls(client: Any, operation: str) -> list[dict[str, Any]]:
    """The parameters of every later `operation` call made through client."""
    calls: list[dict[str, Any]] = []
    client.meta.events.register(f"before-parameter-build.*.{operation}", lambda params, **_: calls.append(params))
    return calls


def expected_sales(model: Model, payload: dict[str, Any]) -> float:
    event = SalesEvent(payload["store_id"], parse_date(payload["date"]), payload["promo"])
    return round(model.predict(event), 2)


def test_predictions_land_in_the_stream_one_per_record(pipeline: Model) -> None:
    payloads = [
        {"store_id": 1, "date": "2024-03-04", "promo": 0},
        {"store_id": 1, "date": "2024-03-04", "promo": 1},
        {"store_id": 3, "date": "2024-03-09", "promo": 0},
    ]

    assert handler.handler(kinesis_event(payloads), None) == {"batchItemFailures": []}

    written = read_stream()
    assert len(written) == 3
    for index, (payload, (partition_key, prediction)) in enumerate(zip(payloads, written)):
        assert partition_key == str(payload["store_id"])
        assert prediction == {
            **payload,
            "predicted_sales": expected_sales(pipeline, payload),
            "run_id": "run-a",
            "source_sequence_number": sequence_number(index),
        }
        assert prediction["predicted_sales"] > 0
    # the same store and day sells more with a promotion
    assert written[1][1]["predicted_sales"] > written[0][1]["predicted_sales"]


def test_malformed_records_are_reported_and_good_ones_written(pipeline: Model) -> None:
    good = {"store_id": 2, "date": "2024-05-01", "promo": 1}
    payloads: list[Any] = [
        good,
        b"not json at all",
        {"store_id": "2", "date": "2024-05-01", "promo": 0},  # store id as a string
        {"store_id": 2, "date": "2024-02-30", "promo": 0},  # no such day
        {"store_id": 2, "date": "2024-5-1", "promo": 0},  # not YYYY-MM-DD
        {"store_id": 2, "date": "2024-05-01", "promo": 2},
        {"store_id": True, "date": "2024-05-01", "promo": 0},
        {"date": "2024-05-01", "promo": 0},
        [1, "2024-05-01", 0],
        {"store_id": 4, "date": "2024-05-02", "promo": 0},
    ]
    event = kinesis_event(payloads)
    event["Records"][1]["kinesis"]["data"] = "%%% not base64 %%%"

    result = handler.handler(event, None)

    bad = range(1, 9)
    assert result == {"batchItemFailures": [{"itemIdentifier": sequence_number(i)} for i in bad]}
    written = read_stream()
    assert [p["source_sequence_number"] for _, p in written] == [sequence_number(0), sequence_number(9)]
    assert [p["store_id"] for _, p in written] == [2, 4]


def test_an_empty_batch_succeeds_without_writing(pipeline: Model) -> None:
    assert handler.handler({"Records": []}, None) == {"batchItemFailures": []}
    assert read_stream() == []


def test_an_empty_batch_smoke_tests_the_model(pipeline: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    gets = count_calls(handler.s3_client(), "GetObject")
    handler.handler({"Records": []}, None)
    assert len(gets) == 1

    monkeypatch.setenv("RUN_ID", "run-that-was-never-trained")
    with pytest.raises(ClientError, match="NoSuchKey"):
        handler.handler({"Records": []}, None)


def test_the_model_is_loaded_once_per_container_and_again_when_run_id_changes(
    pipeline: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    gets = count_calls(handler.s3_client(), "GetObject")
    batch = kinesis_event([{"store_id": 1, "date": "2024-06-03", "promo": 0}])

    for _ in range(3):
        handler.handler(batch, None)
    assert len(gets) == 1

    run_b = upload_model("run-b", DataConfig(seed=99, stores=4, days=400))
    monkeypatch.setenv("RUN_ID", "run-b")
    handler.handler(batch, None)
    handler.handler(batch, None)

    assert [call["Key"] for call in gets] == ["store-sales/run-a/model.json", "store-sales/run-b/model.json"]
    runs = [prediction["run_id"] for _, prediction in read_stream()]
    assert runs == ["run-a"] * 3 + ["run-b"] * 2
    last = read_stream()[-1][1]
    assert last["predicted_sales"] == expected_sales(run_b, {"store_id": 1, "date": "2024-06-03", "promo": 0})


def test_a_model_that_cannot_be_loaded_fails_the_whole_batch(pipeline: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUN_ID", "run-that-was-never-trained")

    with pytest.raises(ClientError, match="NoSuchKey"):
        handler.handler(kinesis_event([{"store_id": 1, "date": "2024-06-03", "promo": 0}]), None)
    assert read_stream() == []


def test_a_large_batch_is_written_in_putrecords_sized_chunks(pipeline: Model) -> None:
    puts = count_calls(handler.kinesis_client(), "PutRecords")
    payloads = [{"store_id": 1 + i % 4, "date": "2024-07-01", "promo": i % 2} for i in range(1201)]

    assert handler.handler(kinesis_event(payloads), None) == {"batchItemFailures": []}

    assert [len(call["Records"]) for call in puts] == [500, 500, 201]
    written = read_stream()
    assert [p["source_sequence_number"] for _, p in written] == [sequence_number(i) for i in range(1201)]


def test_chunks_never_exceed_the_byte_limit() -> None:
    entries = [handler.Entry(str(i), "7", b"x" * 299) for i in range(10)]  # 300 bytes with the key

    groups = list(handler.chunks(entries, max_records=4, max_bytes=1000))

    assert [len(group) for group in groups] == [3, 3, 3, 1]
    assert [entry for group in groups for entry in group] == entries


def test_records_rejected_by_putrecords_are_reported_as_their_input_records(pipeline: Model) -> None:
    # moto never rejects single records of a PutRecords call, so this one case stubs the Kinesis answer
    # with botocore's Stubber; S3 and the model still come from moto.
    payloads: list[Any] = [
        {"store_id": 1, "date": "2024-08-01", "promo": 0},
        b"{broken",
        {"store_id": 2, "date": "2024-08-01", "promo": 0},
        {"store_id": 3, "date": "2024-08-01", "promo": 1},
    ]
    kinesis = handler.kinesis_client()
    with Stubber(kinesis) as stub:
        stub.add_response("put_records", {
            "FailedRecordCount": 1,
            "Records": [
                {"SequenceNumber": "1", "ShardId": "shardId-000000000000"},
                {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"},
                {"SequenceNumber": "2", "ShardId": "shardId-000000000000"},
            ],
        })
        result = handler.handler(kinesis_event(payloads), None)
        stub.assert_no_pending_responses()

    # the second entry sent was the prediction for input record 2 (record 1 was malformed)
    assert result == {"batchItemFailures": [{"itemIdentifier": sequence_number(1)},
                                            {"itemIdentifier": sequence_number(2)}]}


def test_missing_settings_fail_the_batch(pipeline: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREDICTIONS_STREAM_NAME")

    with pytest.raises(RuntimeError, match="PREDICTIONS_STREAM_NAME"):
        handler.handler(kinesis_event([{"store_id": 1, "date": "2024-06-03", "promo": 0}]), None)
    assert read_stream() == []
