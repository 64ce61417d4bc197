#!/usr/bin/env bash
# Installs the mlops/mlops provider into Terraform's implied local mirror, where `terraform init` finds it
# without a registry. ASSUMPTION: the provider is published as GitHub release assets of the project
# (terraform-provider-mlops_<version>_<os>_<arch>.zip and terraform-provider-mlops_<version>_SHA256SUMS, the
# layout the Registry also uses). Once it is on a registry, drop this script: `terraform init` downloads it.
#
# usage: install-mlops-provider.sh VERSION [OWNER/REPO]
set -euo pipefail

version="${1:?usage: $0 VERSION [OWNER/REPO]}"
repo="${2:-${MLOPS_PROVIDER_REPO:?set MLOPS_PROVIDER_REPO to the provider repository (owner/name)}}"
os=linux
arch=amd64
zip="terraform-provider-mlops_${version}_${os}_${arch}.zip"
sums="terraform-provider-mlops_${version}_SHA256SUMS"
base="https://github.com/${repo}/releases/download/v${version}"
dest="${HOME}/.terraform.d/plugins/registry.terraform.io/mlops/mlops/${version}/${os}_${arch}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

curl --fail --silent --show-error --location --proto '=https' --output "$tmp/$zip" "$base/$zip"
curl --fail --silent --show-error --location --proto '=https' --output "$tmp/$sums" "$base/$sums"
(cd "$tmp" && grep " ${zip}\$" "$sums" | sha256sum --check --strict -)

mkdir -p "$dest"
unzip -o -q "$tmp/$zip" -d "$dest"
echo "installed mlops/mlops ${version} into ${dest}"
