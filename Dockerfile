# syntax=docker/dockerfile:1
# vigil in a container: the host, Debian's Chromium (the headless shell: about half the memory
# of the full browser per session) and fonts, state on a volume at /data.
#   docker build -t vigil .
#   docker run -d --name vigil -v vigil-data:/data -p 8080:8080 -e VIGIL_API_TOKEN=... vigil
# Checked (without a Docker engine) by tests/deploy.rs.

FROM rust:1-bookworm AS build
WORKDIR /src
# The whole workspace: the host reads plugins/wit at compile time; tests/ holds workspace members.
COPY . .
RUN cargo build --release --locked -p vigil --no-default-features \
    && install -m 0755 target/release/vigil /usr/local/bin/vigil

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium-headless-shell fonts-liberation ca-certificates tini curl \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/vigil vigil \
    && mkdir -p /data /app/plugins \
    && chown vigil:vigil /data
COPY --from=build /usr/local/bin/vigil /usr/local/bin/vigil
COPY scripts/ /app/scripts/
WORKDIR /app
ENV VIGIL_DATA_DIR=/data \
    VIGIL_SCRIPTS_DIR=/app/scripts \
    VIGIL_PLUGINS_DIR=/app/plugins \
    VIGIL_SESSIONS__CHROMIUM=/usr/bin/chromium-headless-shell \
    VIGIL_API__LISTEN=0.0.0.0:8080 \
    VIGIL_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
USER vigil
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["vigil", "run"]
