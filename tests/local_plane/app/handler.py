"""Test function for the local data plane (tests/local_plane.rs).

Each record's data is JSON. The whole batch is checked first, so a failing batch writes nothing:
  {"fail": true}       raise (a function error) whenever this record is in the batch
  {"sleep": SECONDS}   sleep that long (past the function's timeout in the timeout test)
  {"fail_once": true}  report this record in batchItemFailures the first time this container sees it
Every other record is written to the stream OUT_STREAM (same partition key) as
{"seq", "key", "n", "version", "tag", "batch_first", "batch_size", "shard"}.

A tumbling-window event instead adds up its records' count and "n" in the window state, and the
final invocation of each window writes {"window_start", "count", "sum"} to OUT_STREAM.
"""

import base64
import json
import os
import time

import boto3

_seen = set()
_kinesis = None


def handler(event, context):
    global _kinesis
    records = event.get("Records", [])
    if "window" in event:
        return window(event, records)
    decoded = [(r, json.loads(base64.b64decode(r["kinesis"]["data"]))) for r in records]
    for r, data in decoded:
        if data.get("sleep"):
            time.sleep(float(data["sleep"]))
        if data.get("fail"):
            raise ValueError(f"poison record {r['kinesis']['sequenceNumber']}")
    if _kinesis is None:
        _kinesis = boto3.client("kinesis")
    failures = []
    first = records[0]["kinesis"]["sequenceNumber"] if records else None
    for r, data in decoded:
        seq = r["kinesis"]["sequenceNumber"]
        if data.get("fail_once") and seq not in _seen:
            _seen.add(seq)
            failures.append({"itemIdentifier": seq})
            continue
        out = {
            "seq": seq,
            "key": r["kinesis"]["partitionKey"],
            "n": data.get("n"),
            "version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION"),
            "tag": os.environ.get("TAG"),
            "batch_first": first,
            "batch_size": len(records),
            "shard": r["eventID"].split(":")[0],
        }
        _kinesis.put_record(StreamName=os.environ["OUT_STREAM"], PartitionKey=r["kinesis"]["partitionKey"],
                            Data=json.dumps(out).encode())
    print(json.dumps({"message": "batch done", "records": len(records), "failures": len(failures)}), flush=True)
    return {"batchItemFailures": failures}


def window(event, records):
    global _kinesis
    state = dict(event.get("state") or {})
    state["count"] = state.get("count", 0) + len(records)
    state["sum"] = state.get("sum", 0) + sum(json.loads(base64.b64decode(r["kinesis"]["data"])).get("n", 0)
                                             for r in records)
    if event.get("isFinalInvokeForWindow"):
        if _kinesis is None:
            _kinesis = boto3.client("kinesis")
        out = {"window_start": event["window"]["start"], "count": state["count"], "sum": state["sum"]}
        _kinesis.put_record(StreamName=os.environ["OUT_STREAM"], PartitionKey="windows", Data=json.dumps(out).encode())
    return {"state": state, "batchItemFailures": []}
