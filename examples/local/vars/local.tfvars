# The local environment (make demo): names in moto and the local registry. run.sh creates the
# streams and the bucket and uploads the model of run `local-1` before the first apply.
name            = "local-store-sales-predict"
repository_name = "local/store-sales-predict"

source_stream_arn = "arn:aws:kinesis:us-east-1:123456789012:stream/local-sales-events"
output_stream_arn = "arn:aws:kinesis:us-east-1:123456789012:stream/local-sales-predictions"

model_bucket = "local-store-sales-models"
model_prefix = "models/store-sales/"
model_run_id = "local-1"

batch_size = 50

failure_queue_arn = "arn:aws:sqs:us-east-1:123456789012:local-sales-failures"
