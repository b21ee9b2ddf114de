# driftcar: the capture proxy as a container beside any model server.
#   docker build -t driftcar .
#   docker run -e DRIFTCAR_UPSTREAM=http://model:8000 -p 8080:8080 -p 9090:9090 -v driftcar-data:/data driftcar
# No Docker engine runs where driftcar is developed: tests/deploy/test_dockerfile.py parses this file, checks the
# properties below and replays the build stage's install step (docs/deploy.md: what is and is not checked).
# The base is pinned by tag; pin it by digest (python:3.11-slim-bookworm@sha256:...) when you release an image.

FROM python:3.11-slim-bookworm AS build
# Every dependency ships manylinux wheels: no compiler or -dev package is needed, even in this stage.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sidecar ./sidecar
COPY detectors ./detectors
COPY storage ./storage
COPY alerts ./alerts
# Runtime dependencies only (no [test] extra); pip compiles the .pyc files here, so the read-only runtime
# never writes any.
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="driftcar" \
      org.opencontainers.image.description="Model-monitoring and drift-detection sidecar: a capture proxy, drift/bias detectors, reports and signed alerts." \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"
# driftcar's settings below beat a mounted YAML config (environment > file): override them by environment.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DRIFTCAR_HOST=0.0.0.0 \
    DRIFTCAR_ADMIN_HOST=0.0.0.0 \
    DRIFTCAR_DATABASE_URL=sqlite+aiosqlite:////data/driftcar.db \
    DRIFTCAR_CAPTURE__SPOOL_DIR=/data/spool
RUN groupadd --system --gid 10001 driftcar \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin driftcar \
    && mkdir -p /data/spool \
    && chown -R 10001:10001 /data
COPY --from=build /install /usr/local
# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
WORKDIR /data
# The SQLite file and the spool: records survive a restart of the container.
VOLUME ["/data"]
EXPOSE 8080 9090
# No curl in the image: the interpreter asks /healthz on the admin port (urlopen raises, exit 1, unless 2xx).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('DRIFTCAR_ADMIN_PORT', '9090'), timeout=2)"]
STOPSIGNAL SIGTERM
# Exec form, no shell in between: SIGTERM reaches driftcar (PID 1), which stops accepting, finishes in-flight
# requests and flushes every record before it exits. Arguments after the image name are `serve` options.
ENTRYPOINT ["driftcar", "serve"]
