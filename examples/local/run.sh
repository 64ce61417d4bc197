#!/usr/bin/env bash
# `make demo`: run the example against the local default environment with the real Terraform.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tools="${MLOPS_TOOLS:-$HOME/.cache/mlops-tools}"
# shellcheck disable=SC1091
. "$tools/env.sh"
target="${CARGO_TARGET_DIR:-$root/target}"
(cd "$root" && cargo build --quiet --bin terraform-provider-mlops)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$here/main.tf" "$here/app" "$work/"
cat > "$work/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "registry.terraform.io/mlops/mlops" = "$target/debug"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
cd "$work"
"$MLOPS_TF_BIN" apply -auto-approve -input=false -var "aws_endpoint=$MLOPS_MOTO_ENDPOINT"
echo
echo "== Second plan: nothing changed, so nothing to do"
"$MLOPS_TF_BIN" plan -detailed-exitcode -input=false -var "aws_endpoint=$MLOPS_MOTO_ENDPOINT" >/dev/null && echo "no changes"
echo
echo "== The model file changes: the plan says which file, and the image is rebuilt"
echo "demo model weights v2 ($(date +%s))" > app/model/weights.txt
"$MLOPS_TF_BIN" apply -auto-approve -input=false -var "aws_endpoint=$MLOPS_MOTO_ENDPOINT" | grep -E "rebuild_reason|image_uri|Apply complete"
echo
echo "== Clean up"
"$MLOPS_TF_BIN" destroy -auto-approve -input=false -var "aws_endpoint=$MLOPS_MOTO_ENDPOINT" | tail -n 1
