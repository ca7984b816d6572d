#!/usr/bin/env bash
# Builds the platform's container images on a machine that cannot pull from any registry:
# everything comes from Debian's packages, PyPI and the Kafka jars from Maven Central.
#
#   conformity-local/debian:bookworm      debootstrap (minbase) from this machine's apt mirror
#   conformity-local/python:3.11-bookworm Debian's python3.11 (stands in for python:3.11-slim-bookworm)
#   conformity-local/kafka:<version>      the local broker's jars (stands in for apache/kafka:<version>)
#   conformity-local/postgres:15          Debian's postgresql (stands in for postgres:15-bookworm)
#   conformity-local/haproxy:2.6          Debian's haproxy (stands in for haproxy:2.6; the cluster's proxy)
#   conformity-local/platform:<inputs>    ../Dockerfile built on the Python image above, tagged with
#                                         the hash of its inputs (and :latest, the newest built)
#
# Installs Docker's engine (docker.io), docker-compose and debootstrap from Debian's packages
# and starts dockerd when no engine answers. Each image is labelled with a hash of its inputs
# and skipped when an image with that label exists. Writes the image names to
# var/containers/images.env for docker-compose (--env-file) and the testcontainers fixtures.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HERE="$ROOT/containers"
STATE="${CONFORMITY_CONTAINERS_STATE:-$ROOT/var/containers}"
DOCKERD_LOG="${CONFORMITY_DOCKERD_LOG:-/var/log/conformity-dockerd.log}"  # dockerd outlives this work tree
PYTHON="${PYTHON:-python3}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
LABEL=conformity.inputs
SUITE=bookworm

DEBIAN_IMAGE=conformity-local/debian:$SUITE
PYTHON_IMAGE=conformity-local/python:3.11-$SUITE
POSTGRES_IMAGE=conformity-local/postgres:15
HAPROXY_IMAGE=conformity-local/haproxy:2.6
PLATFORM_REPOSITORY=conformity-local/platform

mkdir -p "$STATE"
log() { printf '[containers %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
hash_text() { sha256sum | cut -c1-16; }

# ---------------------------------------------------------------------------- the engine
APT_UPDATED=""
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing from Debian packages: ${missing[*]}"
  if [ -z "$APT_UPDATED" ]; then $SUDO apt-get update -q >"$STATE/apt.log" 2>&1 || die "apt-get update failed (see $STATE/apt.log)"; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$STATE/apt.log" 2>&1 \
    || die "apt-get install ${missing[*]} failed (see $STATE/apt.log)"
}

engine_answers() { $SUDO docker info >/dev/null 2>&1; }

# A pid file whose process is gone (or a zombie, where nothing reaps it) is left over from
# an engine that was killed; dockerd refuses to start while it is there.
pid_alive() {
  local pid
  pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] \
    && [ "$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f1)" != Z ]
}

ensure_engine() {
  command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  command -v docker >/dev/null 2>&1 || apt_install docker.io
  if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
    apt_install docker-compose  # Compose v1 (1.29); bookworm packages no v2 plugin
  fi
  engine_answers && return 0
  if [ -d /run/systemd/system ]; then
    log "starting the Docker engine (systemctl start docker)"
    $SUDO systemctl start docker
  else
    if pid_alive /var/run/docker.pid; then
      log "dockerd is running but does not answer yet; waiting"
    else
      $SUDO rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
      # No init system to ask: start dockerd in the background; it outlives this script.
      log "starting dockerd in the background (log: $DOCKERD_LOG)"
      $SUDO bash -c "nohup dockerd >>'$DOCKERD_LOG' 2>&1 </dev/null &"
    fi
  fi
  for _ in $(seq 1 120); do
    engine_answers && { log "Docker engine ready: $($SUDO docker version -f '{{.Server.Version}}')"; return 0; }
    sleep 0.5
  done
  die "the Docker engine did not answer within 60 s (see $DOCKERD_LOG)"
}

DOCKER=(docker)
[ -n "$SUDO" ] && ! docker info >/dev/null 2>&1 && DOCKER=(sudo docker)

# The classic builder needs no buildx plugin and no frontend image (which could not be pulled);
# --force-rm: it removes the containers of failed steps too.
BUILD_FLAGS=()
if ! docker buildx version >/dev/null 2>&1; then export DOCKER_BUILDKIT=0; BUILD_FLAGS=(--force-rm); fi

image_inputs() { "${DOCKER[@]}" image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true; }
image_id() { "${DOCKER[@]}" image inspect -f '{{.Id}}' "$1"; }
up_to_date() {  # image, hash
  if [ "$(image_inputs "$1")" = "$2" ]; then log "$1 is up to date ($2)"; return 0; fi
  return 1
}

# ------------------------------------------------------------ Debian's mirror, from apt's own configuration
# Prints "URI SUITE" for each Debian suite of this release that apt is configured with.
apt_suites() {
  local file
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    awk -v release="$SUITE" '
      function flush() { if (types ~ /(^| )deb( |$)/ && uris != "") { n = split(uris, u, " "); m = split(suites, s, " ");
          for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) if (s[j] ~ "^" release "(-|$)") print u[i], s[j] } types = uris = suites = "" }
      /^[ \t]*$/ { flush(); next }
      /^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
      /^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0 }
      /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
      END { flush() }' "$file"
  done
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$file" ] || continue
    awk -v release="$SUITE" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
      if ($(i + 1) ~ "^" release "(-|$)") print $i, $(i + 1) }' "$file"
  done
}

build_debian() {
  local suites mirror sources hash rootfs
  suites=$(apt_suites | awk '!seen[$0]++')
  mirror=$(awk -v release="$SUITE" '$2 == release { print $1; exit }' <<<"$suites")
  [ -n "$mirror" ] || die "no '$SUITE' suite found in /etc/apt/sources.list{,.d/*} to debootstrap from"
  sources=$(awk '{ print "deb " $1 " " $2 " main" }' <<<"$suites")
  # Certificate authorities this machine added (/usr/local/share/ca-certificates, as Debian's
  # update-ca-certificates reads them), e.g. a proxy's: the images trust what the machine trusts.
  local cas=(/usr/local/share/ca-certificates/*.crt)
  [ -e "${cas[0]}" ] || cas=()
  hash=$( { echo "minbase ca-certificates $SUITE $mirror"; echo "$sources"; cat "${cas[@]}" /dev/null; } | hash_text)
  up_to_date "$DEBIAN_IMAGE" "$hash" && return 0
  apt_install debootstrap
  rootfs=$(mktemp -d "${TMPDIR:-/var/tmp}/conformity-rootfs-XXXXXX")
  log "debootstrap --variant=minbase $SUITE from $mirror (log: $STATE/debootstrap.log)"
  $SUDO debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$rootfs" "$mirror" >"$STATE/debootstrap.log" 2>&1 \
    || { $SUDO rm -rf "$rootfs"; die "debootstrap failed (see $STATE/debootstrap.log)"; }
  if [ ${#cas[@]} -gt 0 ]; then
    $SUDO cp "${cas[@]}" "$rootfs/usr/local/share/ca-certificates/"
    $SUDO chroot "$rootfs" update-ca-certificates >>"$STATE/debootstrap.log" 2>&1
  fi
  # apt inside the images uses the same suites (updates, security) as this machine.
  echo "$sources" | $SUDO tee "$rootfs/etc/apt/sources.list" >/dev/null
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\nAcquire::Languages "none";\n' \
    | $SUDO tee "$rootfs/etc/apt/apt.conf.d/90conformity" >/dev/null
  $SUDO rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
  log "docker import -> $DEBIAN_IMAGE"
  $SUDO tar --numeric-owner -C "$rootfs" -c . | "${DOCKER[@]}" import \
    --change "LABEL $LABEL=$hash" --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' - "$DEBIAN_IMAGE" >/dev/null
  $SUDO rm -rf "$rootfs"
}

# ------------------------------------------------------------ images built from a Dockerfile
# build_image IMAGE CONTEXT HASH [docker build args...]
build_image() {
  local image=$1 context=$2 hash=$3; shift 3
  up_to_date "$image" "$hash" && return 0
  local logfile
  logfile="$STATE/build-$(basename "${image%%:*}").log"
  log "building $image (log: $logfile)"
  if ! "${DOCKER[@]}" build "${BUILD_FLAGS[@]}" --label "$LABEL=$hash" -t "$image" "$@" "$context" >"$logfile" 2>&1; then
    tail -n 30 "$logfile" >&2
    die "building $image failed (see $logfile)"
  fi
}

files_hash() {  # a hash of the named files' contents and paths, in a stable order
  (cd "$ROOT" && find "$@" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path '*/.pytest_cache/*' -print0 \
    | LC_ALL=C sort -z | xargs -0 sha256sum) | hash_text
}

build_python() {
  local hash
  hash=$( { image_id "$DEBIAN_IMAGE"; files_hash containers/python; } | hash_text)
  build_image "$PYTHON_IMAGE" "$HERE/python" "$hash" --build-arg "BASE_IMAGE=$DEBIAN_IMAGE"
}

build_postgres() {
  local hash
  hash=$( { image_id "$DEBIAN_IMAGE"; files_hash containers/postgres; } | hash_text)
  build_image "$POSTGRES_IMAGE" "$HERE/postgres" "$hash" --build-arg "BASE_IMAGE=$DEBIAN_IMAGE"
}

build_haproxy() {
  local hash
  hash=$( { image_id "$DEBIAN_IMAGE"; files_hash containers/haproxy; } | hash_text)
  build_image "$HAPROXY_IMAGE" "$HERE/haproxy" "$hash" --build-arg "BASE_IMAGE=$DEBIAN_IMAGE"
}

build_kafka() {
  local libs version hash context
  # The very jars the local broker runs (kafka_broker/pom.xml), fetched once into the cache.
  libs="${CONFORMITY_KAFKA_LIBS:-$(cd "$ROOT" && "$PYTHON" -m uv run --frozen --quiet conformity-broker fetch)}"
  [ -f "$libs/.complete" ] || die "no complete Kafka jar folder at '$libs'"
  version=$(cat "$libs/.complete")
  KAFKA_IMAGE=conformity-local/kafka:$version
  hash=$( { image_id "$DEBIAN_IMAGE"; files_hash containers/kafka; (cd "$libs" && sha256sum -- *.jar); } | hash_text)
  up_to_date "$KAFKA_IMAGE" "$hash" && return 0
  context=$(mktemp -d "${TMPDIR:-/tmp}/conformity-kafka-context-XXXXXX")
  cp -a "$HERE/kafka/." "$context/"
  mkdir "$context/libs"
  cp "$libs"/*.jar "$context/libs/"
  build_image "$KAFKA_IMAGE" "$context" "$hash" --build-arg "BASE_IMAGE=$DEBIAN_IMAGE" --build-arg "KAFKA_VERSION=$version"
  rm -rf "$context"
}

build_platform() {
  local hash
  hash=$( { image_id "$PYTHON_IMAGE"; files_hash Dockerfile .dockerignore pyproject.toml uv.lock shared services operators portal devstack/pyproject.toml; } | hash_text)
  # Tagged with its inputs: work trees of other branches on this machine build their own
  # platform image, and a shared tag would swap it under a test running here.
  PLATFORM_IMAGE=$PLATFORM_REPOSITORY:$hash
  build_image "$PLATFORM_IMAGE" "$ROOT" "$hash" --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE"
  "${DOCKER[@]}" tag "$PLATFORM_IMAGE" "$PLATFORM_REPOSITORY:latest"
}

write_env() {
  cat >"$STATE/images.env" <<EOF
# Written by containers/build.sh: the locally built images, for docker-compose --env-file
# and the testcontainers fixtures. Unset, the official public images are used.
CONFORMITY_PYTHON_IMAGE=$PYTHON_IMAGE
CONFORMITY_KAFKA_IMAGE=$KAFKA_IMAGE
CONFORMITY_POSTGRES_IMAGE=$POSTGRES_IMAGE
CONFORMITY_HAPROXY_IMAGE=$HAPROXY_IMAGE
CONFORMITY_IMAGE=$PLATFORM_IMAGE
EOF
  log "image names written to $STATE/images.env"
}

main() {
  local start=$SECONDS
  ensure_engine
  [ -n "$SUDO" ] && ! docker info >/dev/null 2>&1 && DOCKER=(sudo docker)
  build_debian
  build_python
  build_postgres
  build_haproxy
  build_kafka
  build_platform
  write_env
  # Earlier builds of these images, now untagged, would only take disk space.
  "${DOCKER[@]}" image prune -f --filter "label=$LABEL" >/dev/null
  log "images ready in $((SECONDS - start)) s"
}

main "$@"
