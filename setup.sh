#!/usr/bin/env bash
# One idempotent setup step: Debian packages the backends and nemesis need (only when missing),
# then the harness itself with its test extras. Safe to run again. Needs root (apt, netns, iptables).
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(mariadb-server mariadb-client galera-4 postgresql postgresql-client iptables iproute2 rsync
          socat libfaketime graphviz libnetfilter-queue-dev procps chromium iputils-ping
          openssh-client openssh-server)
[ "${WITH_DOCKER:-0}" = 1 ] && PACKAGES+=(docker.io debootstrap)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  # keep the Debian packages from starting their own servers: the harness starts its own
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
echo "setup: ready ($(command -v harness))"
