#!/usr/bin/env bash
# Benchmark for mlops_ecr_image against the hand-written recipe, measured side by side in one run:
#   * apply after a one-file change  vs  `docker build && docker push` of the same change (target <= 1.1x)
#   * no-op `terraform plan`          vs  a fully cached `docker build` of the same context (target >= 20x)
# Prints medians and ratios. Needs the test environment: `scripts/testenv.sh up` (make env-up).
# Usage: benches/ecr_apply.sh [runs] [files] [MiB]
set -euo pipefail
runs="${1:-5}" files="${2:-2000}" mib="${3:-256}"
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="${MLOPS_TOOLS:-$HOME/.cache/mlops-tools}"
# shellcheck disable=SC1091
. "$tools/env.sh"
target="${CARGO_TARGET_DIR:-$HOME/.cache/mlops-target}"
(cd "$root" && cargo build --release --quiet --bin terraform-provider-mlops)
docker="$MLOPS_DOCKER_CLI"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tf/app" "$work/hand"
python3 - "$work/tf/app" "$files" "$mib" <<'PY'
import os, sys, random
root, files, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(7)
size = (mib << 20) // files
for i in range(files):
    d = os.path.join(root, f"pkg{i % 50:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05d}.bin"), "wb") as f:
        f.write(rnd.randbytes(size))
with open(os.path.join(root, "Dockerfile"), "w") as f:
    f.write("FROM scratch\nCOPY . /srv/\n")
with open(os.path.join(root, "model.bin"), "wb") as f:
    f.write(rnd.randbytes(8 << 20))
PY
cp -r "$work/tf/app" "$work/hand/app"
repo="bench-$$"
cat > "$work/tf/main.tf" <<TF
terraform {
  required_providers {
    mlops = { source = "mlops/mlops" }
  }
}
provider "mlops" {
  region            = "us-east-1"
  access_key        = "testing"
  secret_key        = "testing"
  ecr_registry_host = "$MLOPS_REGISTRY"
  endpoints {
    sts = "$MLOPS_MOTO_ENDPOINT"
    ecr = "$MLOPS_MOTO_ENDPOINT"
  }
}
resource "mlops_ecr_image" "m" {
  repository_name = "$repo"
  context         = "\${path.module}/app"
}
TF
cat > "$work/rc" <<RC
provider_installation {
  dev_overrides {
    "registry.terraform.io/mlops/mlops" = "$target/release"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE="$work/rc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1 MLOPS_CACHE_DIR="$work/cache"
tf() { (cd "$work/tf" && "$MLOPS_TF_BIN" "$@" -input=false >/dev/null); }
secs() { local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N); awk "BEGIN { print $t1 - $t0 }"; }
div() { awk "BEGIN { print $1 / $2 }"; }
quiet() { "$@" >/dev/null 2>&1; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
hand_build() { "$docker" build -q -t "$MLOPS_REGISTRY/$repo-hand:$1" "$work/hand/app" >/dev/null && "$docker" push -q "$MLOPS_REGISTRY/$repo-hand:$1" >/dev/null; }

echo "context: $files files + an 8 MiB model.bin, $mib MiB in all; $runs runs; $(nproc) cores"
tf apply -auto-approve
hand_build warm
"$docker" build -q -t "$repo-cached" "$work/hand/app" >/dev/null
DOCKER_BUILDKIT=1 "$docker" build -q -t "$repo-cached-bk" "$work/hand/app" >/dev/null
apply_t=() hand_t=()
if [ "${BENCH_PARTS:-apply,plan}" != "${BENCH_PARTS/apply/}" ]; then
for i in $(seq 1 "$runs"); do
  head -c 8388608 /dev/urandom > "$work/tf/app/model.bin"
  cp "$work/tf/app/model.bin" "$work/hand/app/model.bin"
  apply_t+=("$(secs tf apply -auto-approve)")
  hand_t+=("$(secs hand_build "r$i")")
done
a=$(printf '%s\n' "${apply_t[@]}" | median) h=$(printf '%s\n' "${hand_t[@]}" | median)
printf 'apply after a one-file change: %.2fs | docker build && docker push: %.2fs | ratio %.2fx (target <= 1.1x)\n' "$a" "$h" "$(div "$a" "$h")"
fi

plan_t=() cached_t=() cached_bk_t=()
for _ in $(seq 1 "$runs"); do
  plan_t+=("$(secs tf plan -detailed-exitcode)")
  cached_t+=("$(secs quiet "$docker" build -q -t "$repo-cached" "$work/hand/app")")
  cached_bk_t+=("$(secs quiet env DOCKER_BUILDKIT=1 "$docker" build -q -t "$repo-cached-bk" "$work/hand/app")")
done
p=$(printf '%s\n' "${plan_t[@]}" | median)
c=$(printf '%s\n' "${cached_t[@]}" | median)
cb=$(printf '%s\n' "${cached_bk_t[@]}" | median)
printf 'no-op terraform plan (whole CLI, incl. refresh): %.3fs | cached docker build (default builder): %.3fs, ratio %.1fx | cached BuildKit build: %.3fs, ratio %.1fx (target >= 20x)\n' \
  "$p" "$c" "$(div "$c" "$p")" "$cb" "$(div "$cb" "$p")"
tf destroy -auto-approve
