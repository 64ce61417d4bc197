#!/usr/bin/env bash
# The one release script: what `make release` and .github/workflows/release.yml run.
#
#   scripts/release.sh all VERSION             build + zip the host platform, then sums + signature (make release)
#   scripts/release.sh build VERSION [OS_ARCH] cargo build --release (--target for a non-host platform) + the zip
#   scripts/release.sh sign VERSION            manifest, SHA256SUMS over every zip of VERSION in DIST_DIR, signature
#
# Writes to DIST_DIR (the assets the Terraform Registry ingests from a GitHub release):
#   terraform-provider-mlops_VERSION_OS_ARCH.zip     one entry: terraform-provider-mlops_vVERSION[.exe], mode 0755
#   terraform-provider-mlops_VERSION_manifest.json   a copy of terraform-registry-manifest.json
#   terraform-provider-mlops_VERSION_SHA256SUMS      sha256 of the zips and the manifest, sorted by name
#   terraform-provider-mlops_VERSION_SHA256SUMS.sig  detached binary GPG signature of SHA256SUMS
#
# Reproducible: a zip depends only on the binary's bytes, VERSION and SOURCE_DATE_EPOCH (one fixed entry
# timestamp, fixed mode, fixed order, no extra fields), so rebuilding the same commit gives the same zip and
# the zh: hashes users' lock files recorded stay valid.
#
# Environment:
#   GPG_FINGERPRINT    the signing key's fingerprint (sign, all). RSA: Terraform 1.x refuses ed25519 keys
#   GNUPGHOME          keyring holding that secret key (gpg's default when unset)
#   GPG_PASSPHRASE     the key's passphrase, if it has one and gpg-agent does not have it cached
#   DIST_DIR           output directory; default dist/ in the repository (made git-ignored)
#   SOURCE_DATE_EPOCH  zip entry timestamp; default the HEAD commit's time (1980-01-01 outside git)
#   CARGO_TARGET_DIR   as for cargo
#
# One line per step with its duration; tool output goes to DIST_DIR/logs/.
set -Eeuo pipefail
# Exit status 3 is die(): already explained, so the trap stays quiet for it (also through $(...)).
trap 'rc=$?; ((rc == 3)) || printf "[release] ERROR: line %s: \`%s\` failed (exit %s)\n" "$LINENO" "$BASH_COMMAND" "$rc" >&2' ERR

readonly NAME=terraform-provider-mlops
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
DIST=${DIST_DIR:-$ROOT/dist}
[[ $DIST == /* ]] || DIST=$PWD/$DIST
LOGS=$DIST/logs

say() { printf '[release] %s\n' "$*"; }
die() {
	printf '[release] ERROR: %s\n' "$*" >&2
	exit 3
}
usage() {
	sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# now: seconds since 1970 with a fraction where the shell has it (bash 5), whole seconds elsewhere.
now() { if [[ -n ${EPOCHREALTIME:-} ]]; then echo "${EPOCHREALTIME/,/.}"; else date +%s; fi; }

# step TITLE LOGNAME CMD...: run CMD with its output in LOGS/LOGNAME.log; one line with the duration.
step() {
	local title=$1 log="$LOGS/$2.log" start rc=0
	shift 2
	start=$(now)
	"$@" >"$log" 2>&1 || rc=$?
	local secs
	secs=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	if ((rc != 0)); then
		printf '[release] %-32s FAILED after %ss (exit %s); log: %s\n' "$title" "$secs" "$rc" "$log" >&2
		tail -n 25 "$log" | sed 's/^/    /' >&2
		exit "$rc"
	fi
	printf '[release] %-32s %6ss  log: %s\n' "$title" "$secs" "$log"
}

find_python() {
	local p
	for p in python3 python; do
		if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 7))' 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "python 3.7+ is required (zip writing and checksums)"
}
PY=$(find_python)

check_version() {
	local v=${1#v}
	[[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
		die "VERSION '$1' is not a semantic version x.y.z (e.g. make release VERSION=0.3.1)"
	echo "$v"
}

host_platform() {
	local os arch
	case $(uname -s) in
	Linux) os=linux ;;
	Darwin) os=darwin ;;
	MINGW* | MSYS* | CYGWIN*) os=windows ;;
	*) die "unsupported build host OS $(uname -s)" ;;
	esac
	case $(uname -m) in
	x86_64 | amd64) arch=amd64 ;;
	aarch64 | arm64) arch=arm64 ;;
	*) die "unsupported build host architecture $(uname -m)" ;;
	esac
	echo "${os}_$arch"
}

rust_target() {
	case $1 in
	linux_amd64) echo x86_64-unknown-linux-gnu ;;
	linux_arm64) echo aarch64-unknown-linux-gnu ;;
	darwin_amd64) echo x86_64-apple-darwin ;;
	darwin_arm64) echo aarch64-apple-darwin ;;
	windows_amd64) echo x86_64-pc-windows-msvc ;;
	*) die "unknown platform '$1' (linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64)" ;;
	esac
}

source_date_epoch() {
	if [[ -n ${SOURCE_DATE_EPOCH:-} ]]; then
		[[ $SOURCE_DATE_EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH must be seconds since 1970"
		echo "$SOURCE_DATE_EPOCH"
	elif git -C "$ROOT" rev-parse --verify -q HEAD >/dev/null 2>&1; then
		git -C "$ROOT" log -1 --format=%ct HEAD
	else
		echo 315532800 # 1980-01-01T00:00:00Z, the earliest time a zip entry can hold
	fi
}

prepare_dist() {
	mkdir -p "$DIST" "$LOGS"
	# Release artifacts never belong in git; this keeps dist/ out of `git status` without touching .gitignore.
	[[ -f $DIST/.gitignore ]] || printf '*\n' >"$DIST/.gitignore"
}

# zip_one BINARY ZIP ENTRY EPOCH: the reproducible zip (python's zipfile: no extra fields, no local times).
zip_one() {
	"$PY" - "$@" <<'PY'
import os, sys, time, zipfile
src, dst, entry, epoch = sys.argv[1:5]
info = zipfile.ZipInfo(entry, date_time=time.gmtime(max(int(epoch), 315532800))[:6])
info.create_system = 3                 # "made by Unix", so the mode below is honoured on extraction
info.external_attr = 0o100755 << 16    # regular file, rwxr-xr-x, whatever the umask or filesystem
info.compress_type = zipfile.ZIP_DEFLATED
with open(src, "rb") as f:
    data = f.read()
tmp = dst + ".tmp"
with zipfile.ZipFile(tmp, "w") as z:
    z.writestr(info, data, compresslevel=6)
os.replace(tmp, dst)
print(f"{dst}: {entry} ({len(data)} bytes), entry time {info.date_time} UTC, mode 0755")
PY
}

# sha256sums FILE...: "HEX  NAME" lines sorted by name (sha256sum's format), on any OS.
sha256sums() {
	"$PY" - "$@" <<'PY'
import hashlib, os, sys
for path in sorted(sys.argv[1:], key=os.path.basename):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    sys.stdout.write(f"{h.hexdigest()}  {os.path.basename(path)}\n")
PY
}

target_dir() {
	local dir
	dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" |
		"$PY" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
	# Git Bash on Windows: C:\a\b -> /c/a/b
	if command -v cygpath >/dev/null 2>&1; then dir=$(cygpath -u "$dir"); fi
	echo "$dir"
}

cmd_build() {
	local version platform target args=() exe="" bin zip epoch
	version=$(check_version "${1:-}")
	platform=${2:-$(host_platform)}
	target=$(rust_target "$platform")
	[[ $platform == windows_* ]] && exe=.exe
	prepare_dist
	# The host platform builds without --target, so it shares target/release with `make build`.
	if [[ $platform == "$(host_platform)" ]]; then
		bin="$(target_dir)/release/$NAME$exe"
	else
		args=(--target "$target")
		bin="$(target_dir)/$target/release/$NAME$exe"
	fi
	# SOURCE_DATE_EPOCH is for the zip only: aws-lc-sys's build script reruns whenever it changes, which would
	# rebuild nearly everything (and nothing in the binary depends on it).
	step "build $platform" "build-$platform" env -u SOURCE_DATE_EPOCH \
		cargo build --release --locked --bin "$NAME" ${args[@]+"${args[@]}"} --manifest-path "$ROOT/Cargo.toml"
	[[ -f $bin ]] || die "cargo finished but $bin does not exist"
	zip="$DIST/${NAME}_${version}_$platform.zip"
	epoch=$(source_date_epoch)
	step "zip $platform" "zip-$platform" zip_one "$bin" "$zip" "${NAME}_v$version$exe" "$epoch"
}

# signing_algo FPR: the public-key algorithm of exactly that (sub)key, from gpg's colon listing.
signing_algo() {
	gpg --batch --with-colons --fixed-list-mode --list-secret-keys "$1" 2>/dev/null |
		awk -F: -v fpr="$1" '$1 == "sec" || $1 == "ssb" { algo = $4 } $1 == "fpr" && $10 == fpr { print algo; exit }'
}

sign_sums() {
	local sums=$1 fpr=$2
	local args=(--batch --yes --local-user "$fpr!" --detach-sign --output "$sums.sig")
	if [[ -n ${GPG_PASSPHRASE:-} ]]; then
		gpg "${args[@]}" --pinentry-mode loopback --passphrase-fd 0 "$sums" <<<"$GPG_PASSPHRASE" || return 1
	else
		gpg "${args[@]}" "$sums" || return 1
	fi
	# Check what we publish: a good signature by exactly that key.
	local status
	status=$(gpg --batch --status-fd 1 --verify "$sums.sig" "$sums" 2>&1) || {
		echo "$status"
		return 1
	}
	echo "$status"
	[[ $status == *"[GNUPG:] VALIDSIG $fpr "* ]] || {
		echo "gpg --verify did not report a valid signature by $fpr"
		return 1
	}
}

# check_signing_key: the normalized GPG_FINGERPRINT in FPR, after checking gpg has that secret key and that it
# is RSA. Done before the build, so a wrong key fails in a second, not after a release build.
FPR=""
check_signing_key() {
	local algo
	FPR=${GPG_FINGERPRINT:-}
	FPR=${FPR//[[:space:]]/}
	FPR=$(printf '%s' "$FPR" | tr '[:lower:]' '[:upper:]')
	[[ $FPR =~ ^[0-9A-F]{40}$ ]] ||
		die "set GPG_FINGERPRINT to the 40-hex-digit fingerprint of the signing key (and GNUPGHOME to its keyring)"
	command -v gpg >/dev/null || die "gpg is required to sign (Debian: apt-get install gnupg)"
	algo=$(signing_algo "$FPR") || true
	[[ -n $algo ]] || die "no secret key $FPR in the keyring at ${GNUPGHOME:-~/.gnupg} (set GNUPGHOME)"
	# gpg algorithm ids 1-3 are RSA. Terraform 1.x's openpgp refuses the others, e.g. ed25519 (22):
	# "unsupported feature: public key type: 22".
	[[ $algo == 1 || $algo == 2 || $algo == 3 ]] ||
		die "key $FPR uses gpg public-key algorithm $algo, not RSA; Terraform cannot verify such a signature. Use an RSA key"
}

cmd_sign() {
	local version sums manifest zips=()
	version=$(check_version "${1:-}")
	check_signing_key
	prepare_dist
	shopt -s nullglob
	zips=("$DIST/${NAME}_${version}_"*.zip)
	shopt -u nullglob
	((${#zips[@]})) || die "no $DIST/${NAME}_${version}_*.zip to sign; run: $0 build $version [OS_ARCH]"
	manifest="$DIST/${NAME}_${version}_manifest.json"
	cp "$ROOT/terraform-registry-manifest.json" "$manifest"
	sums="$DIST/${NAME}_${version}_SHA256SUMS"
	rm -f "$sums" "$sums.sig"
	sha256sums "${zips[@]}" "$manifest" >"$sums.tmp"
	mv -f "$sums.tmp" "$sums"
	step "sign SHA256SUMS (key ${FPR:24})" sign sign_sums "$sums" "$FPR"
	say "assets of $version in $DIST:"
	sed 's/^/    /' "$sums"
	printf '    %s\n' "$(basename "$sums")" "$(basename "$sums.sig")"
}

cmd_all() {
	local version
	version=$(check_version "${1:-}")
	check_signing_key
	prepare_dist
	# Start from nothing for this version: stale zips of other platforms would be signed along.
	rm -f "$DIST/${NAME}_${version}_"*
	cmd_build "$version"
	cmd_sign "$version"
}

case "${1:-}" in
all) cmd_all "${2:-}" ;;
build) cmd_build "${2:-}" "${3:-}" ;;
sign) cmd_sign "${2:-}" ;;
*) usage ;;
esac
