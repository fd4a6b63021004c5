#!/usr/bin/env bash
# Build the services' images for real with buildah (no daemon: chroot isolation, vfs storage), on
# a Python base made locally with debootstrap, for machines that reach no image registry.
# Not part of `make test`: it needs root, a Debian mirror and a Python package index.
#
#   scripts/build-images.sh [SERVICE_DIR...]      # default: the three services; TARGETS="prod dev"
#   PROVE=1 scripts/build-images.sh [SERVICE_DIR...]
#       builds each image twice and fails unless both have the same digest (CI-1); then runs the
#       prod image's process as its non-root user and fails if the image holds the sources.
#
# The base stands in for python:<version>-slim-bookworm: Debian's own python3, or with
# PYTHON_PREFIX=<a CPython install of this machine, e.g. ~/.pyenv/versions/3.11.7> that build
# grafted into /usr/local as the official image has it (the lock files are compiled for the
# dev venv's Python: an older one can need more, e.g. redis wants async-timeout below 3.11.3).
# Its version is passed as PYTHON_VERSION, so the base's tag tells the truth.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${WORK:-/var/tmp/svcinfra-images}"
# The Debian mirror this machine's apt uses (its first `URIs:` of a .sources file), unless given.
apt_mirror() {
  awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null
}
MIRROR="${DEBIAN_MIRROR:-$(apt_mirror)}"
[ -n "$MIRROR" ] || { echo "build-images: set DEBIAN_MIRROR (no apt mirror found)" >&2; exit 2; }
TARGETS="${TARGETS:-prod dev}"
# Every file of every layer and the image's creation time get this time, so that the same
# sources give the same digest (the Dockerfile's ARG of the same name does it for byte code).
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-315532800}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
BUILDAH=(buildah --storage-driver vfs)
# buildah and debootstrap from Debian, as scripts/infra.sh installs the servers.
missing=()
command -v buildah >/dev/null || missing+=(buildah)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "build-images: as root: apt-get install -y ${missing[*]}" >&2; exit 2; }
  echo "build-images: installing ${missing[*]} with apt" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ "$#" -gt 0 ]; then
  SERVICES=("$@")
else
  SERVICES=(services/dev/fake-mail services/internal/users services/internal/notifications)
fi

seconds() { date +%s; }

rootfs="$WORK/rootfs${PYTHON_PREFIX:+-$(basename "$PYTHON_PREFIX")}"
if [ ! -x "$rootfs/usr/bin/python3" ]; then
  started=$(seconds)
  mkdir -p "$WORK"
  debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
    bookworm "$rootfs" "$MIRROR"
  # The official image's pip installs system-wide; Debian's marks the system Python as managed.
  rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  echo "build-images: debootstrap took $(( $(seconds) - started )) s"
fi
if [ -n "${PYTHON_PREFIX:-}" ] && [ ! -x "$rootfs/usr/local/bin/python3" ]; then
  mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/lib"
  cp -a "$PYTHON_PREFIX"/bin/python3.* "$rootfs/usr/local/bin/"
  cp -a "$PYTHON_PREFIX"/lib/libpython3.* "$rootfs/usr/local/lib/" 2>/dev/null || true
  stdlib="$(basename "$(ls -d "$PYTHON_PREFIX"/lib/python3.*/)")"
  tar -C "$PYTHON_PREFIX/lib" --exclude="$stdlib/site-packages/*" --exclude=__pycache__ \
    --exclude="$stdlib/test" -cf - "$stdlib" | tar -C "$rootfs/usr/local/lib" -xf -
  ln -sf "$stdlib" "$rootfs/usr/local/bin/python3"
  ln -sf "$stdlib" "$rootfs/usr/local/bin/python"
  chroot "$rootfs" ldconfig
  chroot "$rootfs" /usr/local/bin/python3 -m ensurepip --default-pip >/dev/null
fi
version="$(chroot "$rootfs" /usr/bin/env PATH=/usr/local/bin:/usr/bin python3 \
  -c 'import platform; print(platform.python_version())')"
base="localhost/python:${version}-slim-bookworm"

if ! "${BUILDAH[@]}" inspect --type image "$base" >/dev/null 2>&1; then
  started=$(seconds)
  container="$("${BUILDAH[@]}" from scratch)"
  "${BUILDAH[@]}" copy "$container" "$rootfs" /
  # pip trusts the system CA bundle (which the builds get from the host, see below), not its
  # vendored certifi: this machine reaches PyPI through a TLS-inspecting proxy.
  "${BUILDAH[@]}" config --env LANG=C.UTF-8 --env PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd python3 "$container"
  "${BUILDAH[@]}" commit --rm "$container" "$base"
  echo "build-images: base $base committed in $(( $(seconds) - started )) s"
fi

build() {  # service-dir target tag
  # The host's CA bundle is lent to the RUN steps (pip behind a TLS-inspecting proxy), not
  # copied into any layer.
  "${BUILDAH[@]}" bud --isolation chroot --pull-never --layers=false --format docker \
    --timestamp "$SOURCE_DATE_EPOCH" \
    --volume "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" \
    --build-arg "PYTHON_VERSION=$version" \
    --target "$2" -f "$1/Dockerfile" -t "$3" .
}

image_digest() {  # image -> the digests of its layers (what the image holds)
  # Not the image id: in the docker format (kept for HEALTHCHECK) buildah writes a random
  # container id and hostname into each build's config, so the config digest always differs;
  # the layers are the content, and they must be the same bit for bit (CI-1).
  "${BUILDAH[@]}" inspect --type image --format '{{.OCIv1.RootFS.DiffIDs}}' "$1"
}

prove_prod() {  # service-dir image: its process runs as non-root, and no source is inside
  local name container mount found
  name="$(basename "$1")"
  container="$("${BUILDAH[@]}" from --pull=never "$2")"
  mount="$("${BUILDAH[@]}" mount "$container")"
  # The repository's folders, or the wheels the build stage made (the base's own pip and
  # setuptools wheels in /usr/share/python-wheels are Debian's, not ours).
  found="$(find "$mount" -xdev \( -path "$mount/$1" -o -path "$mount/libs" -o -path "$mount/src" \
    -o -path "$mount/services" -o -name 'svcinfra-*.whl' -o -name "${name//-/_}-*.whl" \
    -o -path "$mount/opt/wheels/*" \) -print 2>/dev/null | head -5)"
  "${BUILDAH[@]}" umount "$container" >/dev/null
  [ -z "$found" ] || { echo "build-images: $2 holds sources or wheels: $found" >&2; "${BUILDAH[@]}" rm "$container" >/dev/null; exit 1; }
  # The image's own user and entrypoint: `id -u` as that user, then the console script.
  uid="$("${BUILDAH[@]}" run --isolation chroot "$container" -- id -u)"
  [ "$uid" != 0 ] || { echo "build-images: $2 runs as root" >&2; exit 1; }
  "${BUILDAH[@]}" run --isolation chroot "$container" -- "$name" --help >/dev/null
  "${BUILDAH[@]}" rm "$container" >/dev/null
  echo "build-images: $2 runs \`$name\` as uid $uid; no sources, no wheels inside"
}

cd "$ROOT"
for service in "${SERVICES[@]}"; do
  name="$(basename "$service")"
  for target in $TARGETS; do
    started=$(seconds)
    build "$service" "$target" "localhost/svcinfra/$name:$target"
    echo "build-images: localhost/svcinfra/$name:$target built in $(( $(seconds) - started )) s"
    if [ -n "${PROVE:-}" ]; then
      first="$(image_digest "localhost/svcinfra/$name:$target")"
      started=$(seconds)
      build "$service" "$target" "localhost/svcinfra/$name:$target-again"
      second="$(image_digest "localhost/svcinfra/$name:$target-again")"
      echo "build-images: rebuilt in $(( $(seconds) - started )) s: $first / $second"
      [ "$first" = "$second" ] || { echo "build-images: $name:$target is not reproducible" >&2; exit 1; }
      [ "$target" = prod ] && prove_prod "$service" "localhost/svcinfra/$name:$target"
    fi
  done
done
"${BUILDAH[@]}" images
