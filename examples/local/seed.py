"""What the local demo needs in the AWS emulator before its first apply, made by hand as a real
account's platform team would (the demo's Terraform consumes these, it does not own them).

    seed.py streams NAME...        Kinesis streams with 2 shards each (kept if they exist)
    seed.py bucket NAME            an S3 bucket (kept if it exists)
    seed.py upload FILE S3_URL     FILE to s3://BUCKET/KEY
    seed.py exists S3_URL          exit 0 when the object exists, 1 when not

The endpoint is MLOPS_MOTO_ENDPOINT (scripts/testenv.sh); credentials are moto's test ones.
"""

import os
import sys
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
    else:
        sys.exit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
