#!/usr/bin/env bash
# A Lambda-compatible Python 3.11 base image, made here without pulling anything.
#
#   scripts/base-image.sh               ensure the image exists; progress on stderr, the image name on stdout
#   scripts/base-image.sh --print-name  the same, quietly: only the image name on stdout (errors still on stderr)
#   scripts/base-image.sh --rebuild     ignore the image and the cached rootfs; build from the Debian mirror
#
# The image (mlops-local/lambda-python:3.11) follows the AWS Lambda base-image conventions, so a Dockerfile
# written for public.ecr.aws/lambda/python:3.11 builds on it with `--build-arg BASE_IMAGE=...`:
# the app lives in /var/task (LAMBDA_TASK_ROOT), the runtime in /var/runtime (LAMBDA_RUNTIME_DIR), and
# /lambda-entrypoint.sh runs `python3 -m awslambdaric "$@"`, so `CMD ["handler.handler"]` names the handler.
# Inside: Debian bookworm (minbase) with its python3 (3.11), ca-certificates, awslambdaric and boto3 (which
# honours AWS_ENDPOINT_URL). Wheels are downloaded on the host, so nothing runs pip inside a container.
#
# Cached, cheapest first:
#   1. the image carries the label mlops.base-image.recipe=<sha256 of the recipe below>: print its name;
#   2. $MLOPS_TOOLS/base-image/rootfs-<recipe>.tar.gz exists: `docker import` it;
#   3. otherwise debootstrap a rootfs, install into it, save that tarball, import it.
# Any change to the recipe (suite, packages, pins, layout, image config) changes the label and rebuilds.
#
# Needs root (debootstrap, chroot), a Docker daemon, the Debian mirror and PyPI.
# Knobs (environment): MLOPS_TOOLS (default ~/.cache/mlops-tools), MLOPS_DOCKER_CLI (default /usr/bin/docker),
# MLOPS_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

readonly IMAGE_NAME="mlops-local/lambda-python:3.11"
readonly LABEL_KEY="mlops.base-image.recipe"
TOOLS="${MLOPS_TOOLS:-${HOME:-/root}/.cache/mlops-tools}"
readonly TOOLS
readonly CACHE_DIR="$TOOLS/base-image"
readonly LOG="$TOOLS/logs/base-image.log"
readonly DOCKER="${MLOPS_DOCKER_CLI:-/usr/bin/docker}"
readonly MIRROR="${MLOPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# ---- the recipe: everything below up to the next rule goes into the label hash ------------------------
SUITE="bookworm"
APT_PACKAGES=(python3 ca-certificates)
PIP_REQUIREMENTS=(awslambdaric==4.2.2 boto3==1.44.8)
TRIM_PATHS=(usr/share/doc usr/share/man usr/share/info usr/share/lintian usr/share/locale
    var/lib/apt/lists var/cache/apt var/cache/debconf var/log)
IMAGE_CHANGES=(
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    "ENV LANG=C.UTF-8"
    "ENV TZ=UTC"
    "ENV LAMBDA_TASK_ROOT=/var/task"
    "ENV LAMBDA_RUNTIME_DIR=/var/runtime"
    "WORKDIR /var/task"
    'ENTRYPOINT ["/lambda-entrypoint.sh"]'
)

install_python() { # $1 = rootfs
    chroot "$1" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get update
    chroot "$1" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
    chroot "$1" apt-get clean
}

install_runtime() { # $1 = rootfs, $2 = wheel dir
    mkdir -p "$1/var/runtime" "$1/var/task"
    host_pip install --no-index --find-links "$2" --only-binary=:all: --no-compile \
        --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp \
        --target "$1/var/runtime" "${PIP_REQUIREMENTS[@]}"
    # /var/runtime is on sys.path of the image's python3 (after the standard library), as in the AWS image
    echo /var/runtime >"$1/usr/lib/python3/dist-packages/lambda-runtime.pth"
    cat >"$1/lambda-entrypoint.sh" <<'EOF'
#!/bin/sh
# The image CMD names the handler (module.function); awslambdaric serves it over AWS_LAMBDA_RUNTIME_API.
# The handler's module is found in LAMBDA_TASK_ROOT whatever the working directory.
if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
    echo "lambda-entrypoint: AWS_LAMBDA_RUNTIME_API is not set (host:port of a Lambda Runtime API)" >&2
    exit 1
fi
export PYTHONPATH="${LAMBDA_TASK_ROOT:-/var/task}${PYTHONPATH:+:$PYTHONPATH}"
exec /usr/bin/python3 -m awslambdaric "$@"
EOF
    chmod 0755 "$1/lambda-entrypoint.sh"
}

trim_rootfs() { # $1 = rootfs
    local path
    for path in "${TRIM_PATHS[@]}"; do
        rm -rf "${1:?}/$path"
        mkdir -p "$1/$path"
    done
    mkdir -p "$1/var/lib/apt/lists/partial" "$1/var/cache/apt/archives/partial"
    find "$1/var/runtime" -depth -name __pycache__ -type d -exec rm -rf {} +
}
# ---- end of the recipe ----------------------------------------------------------------------------------

QUIET=0
REBUILD=0

say() { [[ "$QUIET" == 1 ]] || printf 'base-image: %s\n' "$*" >&2; }
die() { printf 'base-image: ERROR: %s\n' "$*" >&2; exit 1; }

recipe_hash() {
    {
        declare -p SUITE APT_PACKAGES PIP_REQUIREMENTS TRIM_PATHS IMAGE_CHANGES
        declare -f install_python install_runtime trim_rootfs
    } | sha256sum | cut -d' ' -f1
}

image_recipe() { # the recipe label of the image, empty if it is absent
    "$DOCKER" image inspect --format "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$IMAGE_NAME" 2>/dev/null || true
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# step NAME FUNCTION ARGS...: run FUNCTION with its output in the log; one line with the duration, or the log tail
step() {
    local name="$1" start rc
    shift
    start="$(now)"
    printf '\n==== %s (%s)\n' "$name" "$(date -u +%FT%TZ)" >>"$LOG"
    set +e
    ("$@") >>"$LOG" 2>&1
    rc=$?
    set -e
    if [[ "$rc" != 0 ]]; then
        printf 'base-image: step "%s" failed after %s (exit %s); last lines of %s:\n' \
            "$name" "$(elapsed "$start")" "$rc" "$LOG" >&2
        tail -n 25 "$LOG" | sed 's/^/    /' >&2
        exit 1
    fi
    say "$name: $(elapsed "$start") (log: $LOG)"
}

HOST_PIP=()
host_pip() { "${HOST_PIP[@]}" "$@"; }

find_host_pip() { # the tools venv's pip, else a venv of our own next to the cached rootfs
    if "$TOOLS/venv/bin/python" -m pip --version >/dev/null 2>&1; then
        HOST_PIP=("$TOOLS/venv/bin/python" -m pip)
        return
    fi
    if ! "$CACHE_DIR/pip-venv/bin/python" -m pip --version >/dev/null 2>&1; then
        python3 -m venv "$CACHE_DIR/pip-venv" >/dev/null 2>&1 || {
            apt_install python3-venv >>"$LOG" 2>&1
            python3 -m venv "$CACHE_DIR/pip-venv"
        }
    fi
    HOST_PIP=("$CACHE_DIR/pip-venv/bin/python" -m pip)
}

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" || {
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
    }
}

download_wheels() { # $1 = wheel dir
    host_pip download --only-binary=:all: --platform manylinux2014_x86_64 --python-version 3.11 \
        --implementation cp --dest "$1" "${PIP_REQUIREMENTS[@]}"
}

run_debootstrap() { # $1 = rootfs
    debootstrap --variant=minbase "$SUITE" "$1" "$MIRROR"
}

pack_rootfs() { # $1 = rootfs, $2 = tarball
    tar --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -C "$1" -c . \
        | gzip -1 >"$2.partial"
    mv "$2.partial" "$2"
}

import_rootfs() { # $1 = tarball, $2 = recipe hash
    local args=() change
    for change in "${IMAGE_CHANGES[@]}" "LABEL $LABEL_KEY=$2"; do
        args+=(--change "$change")
    done
    "$DOCKER" import "${args[@]}" "$1" "$IMAGE_NAME"
    [[ "$(image_recipe)" == "$2" ]] || { echo "the imported image does not carry the recipe label"; exit 1; }
}

no_mounts_under() { # refuse to delete a directory that still has something mounted inside it
    ! awk -v dir="$1/" 'index($2, dir) == 1 { found = 1 } END { exit !found }' /proc/mounts
}

WORK=""
cleanup() {
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        if no_mounts_under "$WORK"; then
            rm -rf "$WORK"
        else
            printf 'base-image: left %s in place: something is still mounted inside it\n' "$WORK" >&2
        fi
    fi
}

build_tarball() { # $1 = tarball
    [[ "$(id -u)" == 0 ]] || die "building the rootfs needs root (debootstrap, chroot)"
    command -v debootstrap >/dev/null || step "install debootstrap (apt)" apt_install debootstrap
    find_host_pip
    WORK="$(mktemp -d "$CACHE_DIR/work.XXXXXX")"
    trap cleanup EXIT
    step "download wheels on the host (${PIP_REQUIREMENTS[*]})" download_wheels "$WORK/wheels"
    step "debootstrap --variant=minbase $SUITE" run_debootstrap "$WORK/rootfs"
    step "install ${APT_PACKAGES[*]} (chroot apt)" install_python "$WORK/rootfs"
    step "install the runtime into /var/runtime, /lambda-entrypoint.sh" install_runtime "$WORK/rootfs" "$WORK/wheels"
    step "trim docs, man pages, apt lists" trim_rootfs "$WORK/rootfs"
    step "pack the rootfs ($1)" pack_rootfs "$WORK/rootfs" "$1"
    cleanup
}

main() {
    local arg recipe tarball
    for arg in "$@"; do
        case "$arg" in
            --print-name) QUIET=1 ;;
            --rebuild) REBUILD=1 ;;
            -h | --help)
                sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
                return 0
                ;;
            *) die "unknown argument: $arg (try --help)" ;;
        esac
    done
    recipe="$(recipe_hash)"
    if [[ "$REBUILD" == 0 && "$(image_recipe)" == "$recipe" ]]; then
        printf '%s\n' "$IMAGE_NAME"
        return 0
    fi
    "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
        die "no Docker daemon answers through $DOCKER (start one: scripts/testenv.sh up)"
    mkdir -p "$CACHE_DIR" "$(dirname "$LOG")"
    # one build at a time; whoever waited finds the image the other one made
    exec 9>"$CACHE_DIR/lock"
    if ! flock -n 9; then
        say "waiting for another base-image.sh to finish"
        flock 9
    fi
    if [[ "$REBUILD" == 0 && "$(image_recipe)" == "$recipe" ]]; then
        printf '%s\n' "$IMAGE_NAME"
        return 0
    fi
    : >"$LOG"
    tarball="$CACHE_DIR/rootfs-$recipe.tar.gz"
    if [[ "$REBUILD" == 1 || ! -s "$tarball" ]]; then
        say "building $IMAGE_NAME from $MIRROR (recipe ${recipe:0:12}); this takes a few minutes once"
        build_tarball "$tarball"
        find "$CACHE_DIR" -maxdepth 1 -name 'rootfs-*.tar.gz' ! -name "rootfs-$recipe.tar.gz" -delete
    fi
    step "docker import $IMAGE_NAME" import_rootfs "$tarball" "$recipe"
    printf '%s\n' "$IMAGE_NAME"
}

main "$@"
