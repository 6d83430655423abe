#!/usr/bin/env bash
# Build the base image without a registry: debootstrap a minimal Debian bookworm and `docker import` it.
# Usage: build-base.sh IMAGE_TAG
# The mirror is the one this host's apt already uses (first deb822 "URIs:" of a bookworm entry,
# else http://deb.debian.org/debian); the image gets the host's Debian sources so Dockerfiles FROM
# it can apt-get install from the same mirror.
set -euo pipefail
tag=${1:?usage: build-base.sh IMAGE_TAG}

mirror=""
security=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -e "$f" ] || continue
  while read -r key value; do
    [ "$key" = "URIs:" ] || continue
    case "$value" in
      *debian-security*) [ -n "$security" ] || security=$value ;;
      *debian*)          [ -n "$mirror" ] || mirror=$value ;;
    esac
  done < "$f"
done
mirror=${mirror:-http://deb.debian.org/debian}
security=${security:-http://deb.debian.org/debian-security}

rootfs=$(mktemp -d /tmp/engine-harness-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
  echo "debootstrap failed (mirror $mirror); last lines of its log:" >&2
  tail -20 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"

cat > "$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
SOURCES
# keep images small and keep packages from starting services during builds
printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
chmod +x "$rootfs/usr/sbin/policy-rc.d"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

tar --numeric-owner -C "$rootfs" -c . | docker import --change 'LABEL engine-harness=1' \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
echo "$tag"
