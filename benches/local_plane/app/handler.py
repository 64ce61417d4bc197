"""Trivial function for benches/local_plane.rs.

It counts the records of the event and says how long it took, so the bench can subtract the
function's own time from each round trip: what remains is the data plane's overhead (and the
runtime's, awslambdaric, which Lambda has too). No imports beyond the standard library, so a cold
start is the runtime's start and nothing else.
"""

import time


def handler(event, context):
    started = time.perf_counter()
    records = len(event.get("Records") or ())
    return {"records": records, "handler_ms": (time.perf_counter() - started) * 1000.0}
