"""What the local demo needs in the AWS emulator before its first apply, made by hand as a real
account's platform team would (the demo's Terraform consumes these, it does not own them).

    seed.py streams NAME...        Kinesis streams with 2 shards each (kept if they exist)
    seed.py bucket NAME            an S3 bucket (kept if it exists)
    seed.py upload FILE S3_URL     FILE to s3://BUCKET/KEY
    seed.py exists S3_URL          exit 0 when the object exists, 1 when not
    seed.py queue NAME             an SQS queue for failed-over batches (created, or emptied if it exists)
    seed.py send STREAM N          N sales events to STREAM, the middle one malformed (not JSON)
    seed.py read STREAM SINCE      the predictions put to STREAM since SINCE (Unix seconds), summarised:
                                   source records predicted, prediction records (more when redelivered), run ids
    seed.py drain NAME             the messages in queue NAME (received and deleted), summarised

The endpoint is MLOPS_MOTO_ENDPOINT (scripts/testenv.sh); credentials are moto's test ones.
"""

import json
import os
import sys
from datetime import datetime, timezone
from urllib.parse import urlparse

import boto3
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get("MLOPS_MOTO_ENDPOINT", "http://127.0.0.1:5050")
SHARDS = 2


def client(service):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def s3_url(url):
    u = urlparse(url)
    if u.scheme != "s3" or not u.netloc or not u.path.strip("/"):
        sys.exit(f"not an s3://BUCKET/KEY URL: {url}")
    return u.netloc, u.path.lstrip("/")


def streams(names):
    kinesis = client("kinesis")
    for name in names:
        try:
            kinesis.create_stream(StreamName=name, ShardCount=SHARDS)
            print(f"stream {name}: created with {SHARDS} shards")
        except kinesis.exceptions.ResourceInUseException:
            print(f"stream {name}: exists")
        summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        print(f"  {summary['StreamARN']} ({summary['StreamStatus']}, {summary['OpenShardCount']} shards)")


def bucket(name):
    s3 = client("s3")
    try:
        s3.create_bucket(Bucket=name)
        print(f"bucket {name}: created")
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
        print(f"bucket {name}: exists")


def upload(path, url):
    b, key = s3_url(url)
    client("s3").upload_file(path, b, key)
    print(f"uploaded {path} to s3://{b}/{key}")


def exists(url):
    b, key = s3_url(url)
    try:
        head = client("s3").head_object(Bucket=b, Key=key)
    except ClientError as e:
        if e.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            print(f"s3://{b}/{key}: missing")
            return 1
        raise
    print(f"s3://{b}/{key}: {head['ContentLength']} bytes")
    return 0


def queue(name):
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    # Emptied by receiving (PurgeQueue may run only once a minute).
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    print(f"queue {name}: {arn} (empty)")


def send(stream, n):
    """Sales events {"store_id", "date", "promo"}, partition key = store; one in the middle is not JSON."""
    kinesis = client("kinesis")
    malformed = n // 2
    for i in range(n):
        store = 1 + i % 10
        if i == malformed:
            data = b"store_id=7;date=2026-12-01 (not JSON)"
        else:
            data = json.dumps({"store_id": store, "date": f"2026-12-{1 + i // 10:02d}", "promo": 1 if i % 3 == 0 else 0}).encode()
        out = kinesis.put_record(StreamName=stream, PartitionKey=f"store-{store}", Data=data)
        print(f"{out['ShardId']} {out['SequenceNumber']} {data.decode()}")
    print(json.dumps({"sent": n, "malformed": 1}))


def read(stream, since):
    """Predictions put since `since`, from every shard; prints a JSON summary on the last line."""
    kinesis = client("kinesis")
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    found = []
    for shard in shards:
        it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="AT_TIMESTAMP",
                                        Timestamp=datetime.fromtimestamp(float(since), tz=timezone.utc))["ShardIterator"]
        while it:
            page = kinesis.get_records(ShardIterator=it, Limit=10000)
            for r in page["Records"]:
                found.append(json.loads(r["Data"]))
                print(r["Data"].decode())
            it = page.get("NextShardIterator") if page["Records"] else None
    runs = sorted({p.get("run_id") for p in found})
    # A source record is identified by its store (which fixes its shard) and its sequence number.
    distinct = {(p.get("store_id"), p.get("source_sequence_number")) for p in found}
    print(json.dumps({"predicted": len(distinct), "prediction_records": len(found), "run_ids": runs}))


def drain(name):
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    messages = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            break
        for m in got:
            body = json.loads(m["Body"])
            messages.append(body)
            print(json.dumps(body, indent=2))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    records = sum(m.get("KinesisBatchInfo", {}).get("batchSize", 0) for m in messages)
    print(json.dumps({"messages": len(messages), "failed_over": records}))


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    command, args = argv[1], argv[2:]
    if command == "streams" and args:
        streams(args)
    elif command == "bucket" and len(args) == 1:
        bucket(args[0])
    elif command == "upload" and len(args) == 2:
        upload(*args)
    elif command == "exists" and len(args) == 1:
        return exists(args[0])
    elif command == "queue" and len(args) == 1:
        queue(args[0])
    elif command == "send" and len(args) == 2:
        send(args[0], int(args[1]))
    elif command == "read" and len(args) == 2:
        read(args[0], args[1])
    elif command == "drain" and len(args) == 1:
        drain(args[0])
    else:
        sys.exit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
