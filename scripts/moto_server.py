"""moto_server with its own Kinesis -> Lambda delivery switched off.

Why: stock moto delivers every record put into a stream that has an event source mapping by invoking
the mapped function synchronously, inside the PutRecord(s) call (LambdaBackend.send_kinesis_message).
It cannot run container-image functions, so for the functions this project deploys that delivery
crashes and PutRecord answers HTTP 500 (the record is stored anyway; see FACTS.md). `mlops-local`
is the data plane that replaces it: it polls the streams through GetShardIterator/GetRecords and
runs the function's image with the mapping's semantics. Everything else is stock moto.

Usage: python moto_server.py [moto_server arguments...]   (e.g. -H 127.0.0.1 -p 5050)
"""

import os
import sys
import time

# moto stamps an event source mapping's LastModified with time.mktime(utcnow()), which reads UTC
# as local time: on a host whose time zone is not UTC the stamp is hours off, and mlops-local
# starts LATEST mappings there. In UTC the two agree.
os.environ["TZ"] = "UTC"
time.tzset()

from moto.awslambda.models import LambdaBackend  # noqa: E402  (after the time zone is set)
from moto.server import main  # noqa: E402


def _no_synchronous_delivery(self, *args, **kwargs):
    """Records stay in the stream; mlops-local (or any consumer) reads them."""
    return None


LambdaBackend.send_kinesis_message = _no_synchronous_delivery

if __name__ == "__main__":
    print(
        "moto_server.py: moto's synchronous Kinesis -> Lambda delivery is switched off: it cannot run "
        "container-image functions (PutRecord would answer HTTP 500); mlops-local is the data plane",
        file=sys.stderr,
        flush=True,
    )
    sys.argv[0] = "moto_server"
    sys.exit(main())
