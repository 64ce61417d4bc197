#!/usr/bin/env bash
# `make demo`: the lambda module on the local default (moto, the local registry and Docker engine),
# with the real Terraform and the provider installed from a filesystem mirror, as a user would.
#
# One line per step on stdout (its duration and its log); everything terraform, cargo, docker and
# python say goes to the log files under the run directory printed first. A failing step prints
# its log's tail and stops. Nothing in the repository is modified: the example, the module and the
# image context are copied into the run directory and used from there.
#
# Needs scripts/testenv.sh up (MLOPS_TF_BIN, MLOPS_MOTO_ENDPOINT, MLOPS_REGISTRY from env.sh).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tools="${MLOPS_TOOLS:-$HOME/.cache/mlops-tools}"
# shellcheck disable=SC1091
. "$tools/env.sh"
python="$tools/venv/bin/python"
target="${CARGO_TARGET_DIR:-$root/target}"
version="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)"

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/mlops-demo.XXXXXX")"
logs="$run_dir/logs"
mkdir -p "$logs"
echo "demo run directory: $run_dir (logs in $logs)"
trap 'echo "run.sh stopped at line $LINENO (exit $?); logs in $logs" >&2' ERR
# Once something may exist in moto, a failure destroys it (the state is in the run directory, so a
# later run could not), and says so.
deployed=0
cleanup() {
    local rc=$?
    # The provider copies (mirror, .terraform) are large and rebuilt by every run; the logs stay.
    trap - EXIT
    if [[ $rc -ne 0 && $deployed -eq 1 ]]; then
        if tf destroy -auto-approve "${vars[@]}" -var "base_image=$base_image" >"$logs/cleanup-destroy.log" 2>&1; then
            echo "cleaned up: destroyed what the demo made (log: $logs/cleanup-destroy.log)"
        else
            echo "cleanup failed: terraform destroy in $example (log: $logs/cleanup-destroy.log)"
        fi
    fi
    rm -rf "${mirror:-/nonexistent}" "${example:-/nonexistent}/.terraform"
    exit "$rc"
}
trap cleanup EXIT

step_no=0
# step "what it does" command...: runs the command with all output in a log of its own. (errexit
# does not apply inside it, so the step functions below chain their commands with && themselves.)
step() {
    local title="$1" slug log start rc=0 took
    shift
    step_no=$((step_no + 1))
    slug="$(printf '%02d-%s' "$step_no" "$(tr -c 'a-z0-9\n' '-' <<<"${title,,}" | tr -s '-' | sed 's/-$//')")"
    log="$logs/$slug.log"
    start=$(date +%s%N)
    "$@" >"$log" 2>&1 || rc=$?
    took=$(awk -v ns="$(($(date +%s%N) - start))" 'BEGIN { printf "%.1fs", ns / 1e9 }')
    if [[ $rc -ne 0 ]]; then
        printf '%2d. %-58s FAILED after %s (exit %d)  log: %s\n' "$step_no" "$title" "$took" "$rc" "$log"
        echo "---- last 40 lines of $log ----"
        tail -n 40 "$log"
        exit "$rc"
    fi
    printf '%2d. %-58s %7s  log: %s\n' "$step_no" "$title" "$took" "$log"
}

# The copy the demo works in: example, module and image context at the same relative places.
work="$run_dir/work"
example="$work/examples/local"
context="$work/examples/store-sales/lambda"
copy_sources() {
    mkdir -p "$work/examples/store-sales" "$work/terraform/modules" &&
        cp -R "$here" "$example" &&
        cp -R "$root/examples/store-sales/lambda" "$context" &&
        cp -R "$root/terraform/modules/lambda" "$work/terraform/modules/lambda" &&
        rm -rf "$example/.terraform" "$example/.terraform.lock.hcl" "$example"/terraform.tfstate* &&
        find "$work" -type f | sort
}

# The provider as a user installs it: a filesystem mirror in the unpacked layout, and a CLI config
# that takes mlops/mlops only from there (everything else would come from the registry).
mirror="$run_dir/mirror"
cli_config="$run_dir/terraformrc"
install_provider() {
    local dir="$mirror/registry.terraform.io/mlops/mlops/$version/linux_amd64"
    [[ -n "$version" ]] || { echo "no version in $root/Cargo.toml"; return 1; }
    mkdir -p "$dir" && cp "$target/debug/terraform-provider-mlops" "$dir/terraform-provider-mlops_v$version" || return 1
    cat >"$cli_config" <<RC
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/mlops/mlops"]
  }
  direct {
    exclude = ["registry.terraform.io/mlops/mlops"]
  }
}
RC
    ls -lR "$mirror"
    cat "$cli_config"
}

tfvar() { sed -n "s/^$1 *= *\"\(.*\)\"/\1/p" "$here/vars/local.tfvars"; }
bucket="$(tfvar model_bucket)"
prefix="$(tfvar model_prefix)"
run_1="$(tfvar model_run_id)"
run_2="${run_1%-*}-2"
source_stream="$(tfvar source_stream_arn)"
output_stream="$(tfvar output_stream_arn)"
failure_queue="$(tfvar failure_queue_arn)"
failure_queue="${failure_queue##*:}"

# Trains the model of a run and puts it where the function will look: s3://bucket/prefix+run/model.json.
train() { # $1 = run id, $2 = data seed
    (cd "$context" && AWS_ENDPOINT_URL="$MLOPS_MOTO_ENDPOINT" AWS_ACCESS_KEY_ID=testing \
        AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
        "$python" train.py --run-id "$1" --seed "$2" --out "$run_dir/models/$1" --upload "s3://$bucket/$prefix") &&
        "$python" "$here/seed.py" exists "s3://$bucket/$prefix$1/model.json"
}

export TF_CLI_CONFIG_FILE="$cli_config" TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
export MLOPS_CACHE_DIR="$run_dir/mlops-cache"
unset TF_LOG
tf() { (cd "$example" && "$MLOPS_TF_BIN" "$@" -no-color); }
vars=(-var-file=vars/local.tfvars -var "aws_endpoint=$MLOPS_MOTO_ENDPOINT" -var "registry=$MLOPS_REGISTRY")

base_image=""
ensure_base_image() {
    bash "$root/scripts/base-image.sh" >"$run_dir/base-image.name" || return 1
    base_image="$(tail -n 1 "$run_dir/base-image.name")"
    [[ -n "$base_image" ]] && echo "base image: $base_image"
}

# A plan whose exit code must be $1 (0 = no changes, 2 = changes), its text kept in $2.
plan_expect() {
    local want="$1" out="$2" rc=0
    shift 2
    tf plan -detailed-exitcode "${vars[@]}" -var "base_image=$base_image" "$@" >"$out" 2>&1 || rc=$?
    cat "$out"
    if [[ $rc -ne $want ]]; then
        echo "expected plan exit code $want, got $rc"
        return 1
    fi
}

outputs() { tf output -json >"$run_dir/outputs.json"; }
out() { "$python" -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2], {}).get("value"); print("null" if v is None else v)' "$run_dir/outputs.json" "$1"; }

step "Copy example, module and image context" copy_sources
step "Base image (scripts/base-image.sh, cached)" ensure_base_image
step "Build the provider and mlops-local (cargo build)" bash -c \
    "cd '$root' && cargo build --bin terraform-provider-mlops --bin mlops-local"
step "Install provider $version into a filesystem mirror" install_provider
step "Streams (2 shards each), model bucket, failure queue" bash -c \
    "'$python' '$here/seed.py' streams '${source_stream##*/}' '${output_stream##*/}' &&
     '$python' '$here/seed.py' bucket '$bucket' && '$python' '$here/seed.py' queue '$failure_queue'"
step "Train and upload model run $run_1" train "$run_1" 42
step "terraform init" tf init
deployed=1
step "terraform apply (build, push, deploy)" tf apply -auto-approve "${vars[@]}" -var "base_image=$base_image"
step "Read the outputs" outputs
for o in image_uri function_name alias_arn role_arn log_group_name live_version previous_version; do
    printf '      %-17s %s\n' "$o" "$(out "$o")"
done
step "Second plan is empty (-detailed-exitcode = 0)" plan_expect 0 "$run_dir/plan-unchanged.txt"

# The data plane: sales events in, mlops-local runs the deployed image with the mapping's
# semantics, predictions out. Each run resumes from the checkpoints of the one before.
local_plane() {
    "$target/debug/mlops-local" run --endpoint "$MLOPS_MOTO_ENDPOINT" --checkpoints "$run_dir/checkpoints.json" \
        --function "$(out function_name)" --until-idle-s 5 --stats-interval-s 2
}
last_json() { tail -n 1 "$1" | "$python" -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$2"; }
since="" predicted="" failed_over=""
send_events() { # $1 = count
    since="$(date +%s.%N)"
    "$python" "$here/seed.py" send "${source_stream##*/}" "$1"
}
read_predictions() {
    "$python" "$here/seed.py" read "${output_stream##*/}" "$since" >"$run_dir/predictions.txt" &&
        "$python" "$here/seed.py" drain "$failure_queue" >"$run_dir/failures.txt" &&
        cat "$run_dir/predictions.txt" "$run_dir/failures.txt"
}
# pipeline_line SENT: prints "pipeline: sent N, predicted M, failed over K" from the step logs.
pipeline_line() {
    predicted="$(last_json "$run_dir/predictions.txt" predicted)"
    failed_over="$(last_json "$run_dir/failures.txt" failed_over)"
    echo "pipeline: sent $1, predicted $predicted, failed over $failed_over"
    local records
    records="$(last_json "$run_dir/predictions.txt" prediction_records)"
    if [[ $records -ne $predicted ]]; then
        echo "      ($records prediction records for $predicted events: after a partial batch failure the batch resumes"
        echo "       at the failed record, so the records after it run again — at least once, as on AWS)"
    fi
}

sent=40
step "Send $sent sales events (one malformed) to ${source_stream##*/}" send_events "$sent"
step "Run the data plane until idle (mlops-local)" local_plane
step "Read predictions and the failure queue" read_predictions
pipeline_line "$sent"
if [[ $predicted -ne $((sent - 1)) || $failed_over -ne 1 ]]; then
    echo "expected $((sent - 1)) predictions and 1 failed-over record; see $logs"
    exit 1
fi

live_before="$(out live_version)"
previous_before="$(out previous_version)"
step "Train and upload model run $run_2" train "$run_2" 43
step "terraform apply with model_run_id = $run_2" \
    tf apply -auto-approve "${vars[@]}" -var "base_image=$base_image" -var "model_run_id=$run_2"
step "Read the outputs" outputs
printf '      live_version      %s -> %s\n' "$live_before" "$(out live_version)"
printf '      previous_version  %s -> %s\n' "$previous_before" "$(out previous_version)"

sent=20
step "Send $sent more sales events" send_events "$sent"
step "Run the data plane again (resumes from its checkpoints)" local_plane
step "Read predictions and the failure queue" read_predictions
pipeline_line "$sent"
runs="$(last_json "$run_dir/predictions.txt" run_ids)"
echo "      predictions of the new batches come from run_id $runs"
if [[ $runs != "['$run_2']" ]]; then
    echo "expected every new prediction from $run_2; see $run_dir/predictions.txt"
    exit 1
fi

# The handler module, which the image certainly contains (a comment: the code stays the same).
edited=""
edit_context() {
    local f
    for f in handler.py app.py model.py; do
        if [[ -f "$context/$f" ]]; then
            edited="$f"
            break
        fi
    done
    [[ -n "$edited" ]] || { echo "no handler.py, app.py or model.py in $context"; return 1; }
    printf '\n# edited by the demo at %s\n' "$(date -u +%FT%TZ)" >>"$context/$edited" &&
        echo "appended a comment to $context/$edited"
}
step "Edit a file in the image context (the copy)" edit_context
step "Plan names the changed file (rebuild_reason)" plan_expect 2 "$run_dir/plan-edited.txt" -var "model_run_id=$run_2"
grep -E 'rebuild_reason' "$run_dir/plan-edited.txt" | sed 's/^ */      /'
if ! grep -E 'rebuild_reason' "$run_dir/plan-edited.txt" | grep -qF "$edited"; then
    echo "the plan's rebuild_reason does not name $edited; see $run_dir/plan-edited.txt"
    exit 1
fi

step "terraform destroy" tf destroy -auto-approve "${vars[@]}" -var "base_image=$base_image" -var "model_run_id=$run_2"
deployed=0
echo "demo finished; logs in $logs"
