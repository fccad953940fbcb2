#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian bookworm machine (run as root).
# Used by README's test command and by .ci/run. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(docker.io openssh-server openssh-client bind9 bind9-dnsutils bind9-utils prometheus prometheus-node-exporter
      busybox-static iproute2 nftables mawk cron procps util-linux mount passwd e2fsprogs xz-utils curl python3)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Distribution services must not run on their own: the lab starts its own instances.
for svc in named bind9 prometheus prometheus-node-exporter docker ssh cron; do
  (command -v systemctl >/dev/null && systemctl stop "$svc" 2>/dev/null) || true
done
python3 -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v -E '^(WARNING|DEPRECATION)' || true
# the lab (its own distribution: lab/pyproject.toml) that the lab tests build and `inv lab.up` runs
python3 -m pip install -q --disable-pip-version-check -e ./lab 2>&1 | grep -v -E '^(WARNING|DEPRECATION)' || true
python3 -c 'import opskit, opskit_lab, fabric, dns, boto3, moto, fabric_protos, cryptography' 
