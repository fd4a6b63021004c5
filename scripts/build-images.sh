#!/usr/bin/env bash
# Build the services' images for real with buildah (no daemon: chroot isolation), on a Python base
# made locally with debootstrap, for machines that reach no image registry (CI-1).
# Needs root, a Debian mirror (the first time only: the base is cached) and a Python package index.
#
#   scripts/build-images.sh [SERVICE_DIR...]   # default: every services/*/*/Dockerfile; TARGETS="prod dev"
#   PROVE=1 scripts/build-images.sh [SERVICE_DIR...]     # what `make images` runs (`make test`)
#       builds each image twice, each time in its own empty image storage and without any layer
#       cache, and fails unless both builds' layers are the same bit for bit (CI-1); then runs
#       each prod image's process as the image's own user and fails if that user is root or if
#       the image holds the service's sources or wheels. Phases and their seconds are printed.
#
# The base stands in for python:<version>-slim-bookworm: Debian's own python3, or with
# PYTHON_PREFIX=<a CPython install of this machine, e.g. ~/.pyenv/versions/3.11.7> that build
# grafted into /usr/local as the official image has it (the lock files are compiled for the
# dev venv's Python: an older one can need more, e.g. redis wants async-timeout below 3.11.3).
# Its version is passed as PYTHON_VERSION, so the base's tag tells the truth. The base is made
# once per machine and kept in $WORK (an OCI archive, keyed by what goes into it).
#
# The builds install what the Dockerfiles ask for, hash-checked (--require-hashes), from a
# wheelhouse in $WORK that the script fills once with `pip download` (same files, same hashes):
# it is lent to each RUN step (a read-only bind mount with a pip.conf: no-index, find-links), so
# no layer keeps it and the Dockerfiles are those a registry build runs. WHEELHOUSE=0: the index.
#
# Other settings: WORK (default /var/tmp/svcinfra-images), STORAGE_DRIVER (overlay when this
# machine can mount it, else vfs), DEBIAN_MIRROR, SOURCE_DATE_EPOCH, CA_BUNDLE, PYTHON (the
# interpreter whose pip fills the wheelhouse: .venv/bin/python, else python3), KEEP=1 (keep
# PROVE's two image stores, $WORK/prove/<pid>/{first,second}, after the run), ONCE="dev" (with
# PROVE, build those targets once only: a cheaper CI; prod is still built twice and run).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${WORK:-/var/tmp/svcinfra-images}"
TARGETS="${TARGETS:-prod dev}"
# Every file of every layer and the image's creation time get this time, so that the same
# sources give the same digest (the Dockerfile's ARG of the same name does it for byte code).
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-315532800}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
WHEELHOUSE="${WHEELHOUSE:-1}"
PYTHON="${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3)}"
SUITE=bookworm
INCLUDE=python3,python3-venv,python3-pip,python-is-python3,ca-certificates
# Changed whenever the recipe of the base below changes: a new key makes a new base.
BASE_RECIPE=3

say() { echo "build-images: $*" >&2; }
die() { say "$*"; exit 1; }
now() { date +%s; }
T0=$(now)
phase() {  # name start: one line per phase, grep-able for the CI log
  say "phase $1: $(( $(now) - $2 )) s (total $(( $(now) - T0 )) s)"
}

[ "$(id -u)" -eq 0 ] || die "run as root (buildah's chroot isolation, debootstrap)"
# buildah and debootstrap from Debian, as scripts/infra.sh installs the servers.
missing=()
command -v buildah >/dev/null || missing+=(buildah)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]} with apt"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ "$#" -gt 0 ]; then
  SERVICES=("$@")
else
  # Every service folder with a Dockerfile, a generated one too (as the Makefile's SERVICES).
  SERVICES=()
  for dockerfile in "$ROOT"/services/*/*/Dockerfile; do
    SERVICES+=("$(dirname "${dockerfile#"$ROOT/"}")")
  done
fi
mkdir -p "$WORK"

# overlay when the kernel lets this machine mount it (copies nothing per container), else vfs.
if [ -z "${STORAGE_DRIVER:-}" ]; then
  probe="$(mktemp -d "$WORK/probe.XXXXXX")"
  mkdir -p "$probe"/{lower,upper,work,merged}
  if mount -t overlay overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
    "$probe/merged" 2>/dev/null; then
    umount "$probe/merged"
    STORAGE_DRIVER=overlay
  else
    STORAGE_DRIVER=vfs
  fi
  rm -rf "$probe"
fi

# --- the base: a Debian rootfs with Python, as an OCI archive, made once per key ---------------
started=$(now)
python_version() {  # rootfs -> the version its python3 runs (/usr/local first, as in the image)
  chroot "$1" /usr/bin/env PATH=/usr/local/bin:/usr/bin python3 \
    -c 'import platform; print(platform.python_version())'
}
prefix_version=""
if [ -n "${PYTHON_PREFIX:-}" ]; then
  prefix_version="$("$PYTHON_PREFIX/bin/python3" -c 'import platform; print(platform.python_version())')"
fi
key="$(printf '%s\n' "$BASE_RECIPE" "$SUITE" "$INCLUDE" "$prefix_version" "$(uname -m)" | sha256sum | cut -c1-12)"
rootfs="$WORK/rootfs-$key"
archive="$WORK/base-$key.oci.tar"
if [ ! -s "$archive" ]; then
  MIRROR="${DEBIAN_MIRROR:-$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null)}"
  [ -n "$MIRROR" ] || { say "set DEBIAN_MIRROR (no apt mirror found)"; exit 2; }
  if [ ! -x "$rootfs/usr/bin/python3" ]; then
    rm -rf "$rootfs.tmp"
    debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$rootfs.tmp" "$MIRROR" >/dev/null
    # The official image's pip installs system-wide; Debian's marks the system Python as managed.
    rm -f "$rootfs.tmp"/usr/lib/python3*/EXTERNALLY-MANAGED
    rm -rf "$rootfs.tmp"/var/cache/apt/archives/*.deb "$rootfs.tmp"/var/lib/apt/lists/*
    if [ -n "$prefix_version" ]; then
      mkdir -p "$rootfs.tmp/usr/local/bin" "$rootfs.tmp/usr/local/lib"
      cp -a "$PYTHON_PREFIX"/bin/python3.* "$rootfs.tmp/usr/local/bin/"
      cp -a "$PYTHON_PREFIX"/lib/libpython3.* "$rootfs.tmp/usr/local/lib/" 2>/dev/null || true
      stdlib="$(basename "$(ls -d "$PYTHON_PREFIX"/lib/python3.*/)")"
      tar -C "$PYTHON_PREFIX/lib" --exclude="$stdlib/site-packages/*" --exclude=__pycache__ \
        --exclude="$stdlib/test" -cf - "$stdlib" | tar -C "$rootfs.tmp/usr/local/lib" -xf -
      ln -sf "$stdlib" "$rootfs.tmp/usr/local/bin/python3"
      ln -sf "$stdlib" "$rootfs.tmp/usr/local/bin/python"
      chroot "$rootfs.tmp" ldconfig
      chroot "$rootfs.tmp" /usr/local/bin/python3 -m ensurepip --default-pip >/dev/null
    fi
    mv "$rootfs.tmp" "$rootfs"
    phase debootstrap "$started"
  fi
  version="$(python_version "$rootfs")"
  store="$WORK/base-store"
  rm -rf "$store"
  B=(buildah --root "$store/root" --runroot "$store/run" --storage-driver "$STORAGE_DRIVER")
  container="$("${B[@]}" from scratch)"
  "${B[@]}" copy "$container" "$rootfs" /
  # pip trusts the system CA bundle (which the builds get from the host, see below), not its
  # vendored certifi: this machine reaches PyPI through a TLS-inspecting proxy.
  "${B[@]}" config --env LANG=C.UTF-8 --env PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --label "org.opencontainers.image.version=$version" --cmd python3 "$container"
  "${B[@]}" commit --rm --timestamp "$SOURCE_DATE_EPOCH" "$container" base
  rm -f "$archive.tmp"
  # Uncompressed: each run imports it twice, and gzip would cost more than the disk does.
  "${B[@]}" push --disable-compression base "oci-archive:$archive.tmp" >/dev/null
  "${B[@]}" rmi --all -f >/dev/null
  rm -rf "$store"
  echo "$version" >"$archive.version"
  mv "$archive.tmp" "$archive"
  phase base-image "$started"
else
  say "base: $archive (cached; remove it to make it again)"
fi
version="$(cat "$archive.version")"
base="localhost/python:${version}-slim-${SUITE}"

# --- the wheelhouse: every pinned requirement of the images, downloaded once -------------------
piphome="$WORK/pip-home"
VOLUMES=(--volume "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro")
if [ "$WHEELHOUSE" = 1 ]; then
  started=$(now)
  wheels="$WORK/wheels"
  mkdir -p "$wheels"
  reqs=(-r "$ROOT/requirements/build.txt" -r "$ROOT/requirements/reload.txt")
  for service in "${SERVICES[@]}"; do reqs+=(-r "$ROOT/$service/requirements.txt"); done
  # Offline first (every file already there), else from the index; pip checks the hashes.
  download=("$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps
    --require-hashes --dest "$wheels" "${reqs[@]}")
  if ! PIP_CONFIG_FILE=/dev/null "${download[@]}" --no-index --find-links "$wheels" >/dev/null 2>&1; then
    PIP_CONFIG_FILE=/dev/null "${download[@]}" >/dev/null
  fi
  mkdir -p "$piphome/.config/pip"
  printf '[global]\nno-index = true\nfind-links = /mnt\n' >"$piphome/.config/pip/pip.conf"
  # Over folders the base has (root's home, /mnt: empty in every Debian base): buildah leaves
  # a mount point it has to create in the layer (an empty /etc/pip.conf would stay behind).
  VOLUMES+=(--volume "$wheels:/mnt:ro" --volume "$piphome:/root:ro")
  phase wheelhouse "$started"
fi

# --- the builds -------------------------------------------------------------------------------
stores=()
# PROVE's stores are $WORK/prove/<this run's pid>/{first,second}: runs at once do not meet.
PROVE_DIR="$WORK/prove/$$"
store_of() {  # name (or a store's folder) -> buildah's options for that image store
  local dir="$1"
  [ "${dir#/}" != "$dir" ] || dir="$PROVE_DIR/$1"
  echo "--root $dir/root --runroot $dir/run --storage-driver $STORAGE_DRIVER"
}
drop_store() {  # store's folder
  local dir="$1"
  [ -d "$dir" ] || return 0
  # shellcheck disable=SC2046
  buildah $(store_of "$dir") rm --all >/dev/null 2>&1 || true
  # shellcheck disable=SC2046
  buildah $(store_of "$dir") rmi --all -f >/dev/null 2>&1 || true
  grep -o " $dir/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$dir"
}
if [ -n "${PROVE:-}" ]; then
  stores=(first second)
  # What a run that was killed left (its process is gone).
  for dir in "$WORK"/prove/*/; do
    [ -d "$dir" ] || continue
    pid="$(basename "$dir")"
    case "$pid" in *[!0-9]*) continue ;; esac
    if ! kill -0 "$pid" 2>/dev/null; then
      for s in "$dir"*/; do [ -d "$s" ] && drop_store "${s%/}"; done
      rm -rf "${dir%/}"
    fi
  done
  mkdir -p "$PROVE_DIR"
  [ -n "${KEEP:-}" ] || trap 'for s in "${stores[@]}"; do drop_store "$PROVE_DIR/$s"; done; rmdir "$PROVE_DIR" 2>/dev/null || true' EXIT
else
  stores=(default)
fi
buildah_in() {  # store args...
  if [ "$1" = default ]; then
    shift
    buildah --storage-driver "$STORAGE_DRIVER" "$@"
  else
    local s="$1"
    shift
    # shellcheck disable=SC2046
    buildah $(store_of "$s") "$@"
  fi
}
started=$(now)
for s in "${stores[@]}"; do
  if ! buildah_in "$s" inspect --type image "$base" >/dev/null 2>&1; then
    buildah_in "$s" pull --quiet "oci-archive:$archive" >/dev/null
    buildah_in "$s" tag "$(buildah_in "$s" images --quiet | head -1)" "$base"
  fi
done
phase base-import "$started"

build() {  # store service-dir target tag
  # --layers=false: no layer cache, every instruction runs (the store is empty anyway with PROVE).
  # The host's CA bundle is lent to the RUN steps (pip behind a TLS-inspecting proxy), not
  # copied into any layer.
  buildah_in "$1" bud --quiet --isolation chroot --pull-never --layers=false --format docker \
    --timestamp "$SOURCE_DATE_EPOCH" "${VOLUMES[@]}" \
    --build-arg "PYTHON_VERSION=$version" \
    --target "$3" -f "$2/Dockerfile" -t "$4" . >/dev/null
}

layers() {  # store image -> the digests of its layers (what the image holds)
  # Not the image id: in the docker format (kept for HEALTHCHECK) buildah writes a random
  # container id and hostname into each build's config, so the config digest always differs;
  # the layers are the content, and they must be the same bit for bit (CI-1).
  buildah_in "$1" inspect --type image --format '{{.OCIv1.RootFS.DiffIDs}}' "$2"
}

prove_prod() {  # store service-dir image: its process runs as non-root, and no source is inside
  local name container mount found uid
  name="$(basename "$2")"
  container="$(buildah_in "$1" from --pull=never "$3")"
  mount="$(buildah_in "$1" mount "$container")"
  # The repository's folders, or the wheels the build stage made (the base's own pip and
  # setuptools wheels in /usr/share/python-wheels are Debian's, not ours), or the wheelhouse.
  found="$(find "$mount" -xdev \( -path "$mount/$2" -o -path "$mount/libs" -o -path "$mount/src" \
    -o -path "$mount/services" -o -name 'svcinfra-*.whl' -o -name "${name//-/_}-*.whl" \
    -o -path "$mount/opt/wheels/*" -o -path "$mount/mnt/*" -o -path "$mount/root/.config" -o -path "$mount/etc/pip.conf" \) \
    -print 2>/dev/null | head -5)"
  buildah_in "$1" umount "$container" >/dev/null
  if [ -n "$found" ]; then
    buildah_in "$1" rm "$container" >/dev/null
    die "$3 holds sources or wheels: $found"
  fi
  # The image's own user and entrypoint: `id -u` as that user, then the console script.
  uid="$(buildah_in "$1" run --isolation chroot "$container" -- id -u)"
  [ "$uid" != 0 ] || die "$3 runs as root"
  buildah_in "$1" run --isolation chroot "$container" -- "$name" --help >/dev/null \
    || die "$3: \`$name --help\` failed as uid $uid"
  buildah_in "$1" rm "$container" >/dev/null
  say "$3 runs \`$name\` as uid $uid; no sources, no wheels inside"
}

cd "$ROOT"
for service in "${SERVICES[@]}"; do
  [ -f "$service/Dockerfile" ] || die "$service/Dockerfile: no such file"
  name="$(basename "$service")"
  for target in $TARGETS; do
    image="localhost/svcinfra/$name:$target"
    digests=()
    # With PROVE, the two builds at once (each in its own store): they wait on different things.
    # ONCE="dev": with PROVE, those targets are built once (no comparison), to save CI time.
    using=("${stores[@]}")
    case " ${ONCE:-} " in *" $target "*) using=("${stores[0]}") ;; esac
    pids=()
    for s in "${using[@]}"; do
      ( started=$(now); build "$s" "$service" "$target" "$image" \
          && phase "build $name:$target ($s)" "$started" ) &
      pids+=($!)
    done
    for i in "${!pids[@]}"; do
      wait "${pids[$i]}" || die "$image: the build failed (${using[$i]})"
    done
    for s in "${using[@]}"; do digests+=("$(layers "$s" "$image")"); done
    if [ "${#using[@]}" = 1 ] && [ -n "${PROVE:-}" ]; then
      say "$image: built once (ONCE=$ONCE), not compared"
    elif [ -n "${PROVE:-}" ]; then
      [ "${digests[0]}" = "${digests[1]}" ] || die "$image is not reproducible: the layers of two
  builds differ: ${digests[0]}
           ${digests[1]}"
      say "$image: both builds have the layers ${digests[0]}"
      if [ "$target" = prod ]; then
        started=$(now)
        prove_prod first "$service" "$image"
        phase "run $name:$target" "$started"
      fi
    fi
  done
done
if [ -z "${PROVE:-}" ]; then
  buildah_in default images
fi
say "done in $(( $(now) - T0 )) s"
