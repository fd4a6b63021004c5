#!/usr/bin/env bash
# The image of a service `svcinfra new service` generates, proven as the reference services' are
# (CI-1): in a copy of this repository (its tracked and new files, committed there: copier renders
# the template at a commit), `svcinfra new service` with every part, its hash-pinned
# requirements.txt (scripts/lock_services.py, as the command's next steps say), then
# `PROVE=1 scripts/build-images.sh` on it: prod and dev built twice, the layers compared, the prod
# process run as its non-root user, no sources inside. What `make images` runs after the three
# services; as root, with the same settings as scripts/build-images.sh (WORK, PYTHON_PREFIX...).
#
#   scripts/prove-new-service-image.sh [NAME]     # default NAME: demo-images
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAME="${1:-demo-images}"
PARTS=postgres,redis,publish,consume,http-api,external-api
VENV="${VENV:-$ROOT/.venv}"
WORK="${WORK:-/var/tmp/svcinfra-images}"
say() { echo "prove-new-service-image: $*" >&2; }
now() { date +%s; }
T0=$(now)

mkdir -p "$WORK"
copy="$(mktemp -d "$WORK/new-service.XXXXXX")"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$copy"' EXIT
cd "$ROOT"
git ls-files -z -co --exclude-standard | tar --null -T - -cf - | tar -C "$copy" -xf -
cd "$copy"
git init -q
git add -A
git -c user.name=ci -c user.email=ci@localhost commit -q -m copy
"$VENV/bin/svcinfra" new service "$NAME" --with "$PARTS" >/dev/null
folder="$(ls -d services/*/"$NAME")"
"$VENV/bin/python" scripts/lock_services.py "$folder"
say "phase generate $folder: $(( $(now) - T0 )) s"
PROVE=1 PYTHON="$VENV/bin/python" scripts/build-images.sh "$folder"
say "done in $(( $(now) - T0 )) s"
