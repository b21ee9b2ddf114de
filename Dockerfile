# driftcar: the capture proxy as a container beside any model server.
# Build: docker build -t driftcar .   Run: docker run -e DRIFTCAR_UPSTREAM=http://model:8000 -p 8080:8080 driftcar
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sidecar ./sidecar
COPY detectors ./detectors
COPY storage ./storage
COPY alerts ./alerts
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /data driftcar && mkdir -p /data && chown driftcar /data
COPY --from=build /install /usr/local
USER driftcar
WORKDIR /data
ENV DRIFTCAR_HOST=0.0.0.0 \
    DRIFTCAR_ADMIN_HOST=0.0.0.0 \
    DRIFTCAR_DATABASE_URL=sqlite+aiosqlite:////data/driftcar.db \
    DRIFTCAR_CAPTURE__SPOOL_DIR=/data/spool \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=2).status != 200)"
# exec form: SIGTERM reaches driftcar itself, which drains requests and flushes records before exiting.
ENTRYPOINT ["driftcar", "serve"]
