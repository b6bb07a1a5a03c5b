# syntax=docker/dockerfile:1
# Vigil's image: one image for every role (Ray head / worker, web app, stream writer, migrations).
#
#   docker build -t vigil:0.1.0 .
#   docker compose up -d                  (docker-compose.yml runs it in each role)
#
# The environment is exactly uv.lock (`uv sync --locked` fails if pyproject.toml and the lock
# disagree), without the dev group. Nothing secret is baked in: URLs and keys come from the
# environment at run time (VIGIL_DATABASE_URL, VIGIL_REDIS_URL, ...).

ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

# --- builder: resolve and install the locked environment into /app/.venv -----------------------
FROM ${PYTHON_IMAGE} AS builder
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /usr/local/bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first (their layer is reused until pyproject.toml or uv.lock change) ...
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-project
# ... then Vigil itself (installed editable: the default config, rules and model ship in /app).
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev

# --- runtime: the same Python, the environment and the source, as an unprivileged user ---------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 vigil \
    && useradd --system --uid 10001 --gid vigil --create-home --home-dir /home/vigil vigil
# Code and environment stay root-owned (read-only to the service); it writes only its data dir
# and the rule files (the web app publishes rules; compose shares them through a volume).
COPY --from=builder /app /app
WORKDIR /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    RAY_USAGE_STATS_ENABLED=0 \
    VIGIL_DATA_DIR=/app/var \
    VIGIL_HTTP_HOST=0.0.0.0 \
    VIGIL_UI_HOST=0.0.0.0
RUN mkdir -p /app/var && chown -R vigil:vigil /app/var /app/config/rules
USER vigil
# gateway, web app, Ray GCS, dashboard, metrics export
EXPOSE 8000 8080 6380 8265 9108
# The gateway's liveness; compose overrides it for the roles that run no gateway.
HEALTHCHECK --interval=15s --timeout=5s --start-period=180s --retries=5 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
# Single-container mode: PostgreSQL and Redis from VIGIL_*_URL (embedded when unset), local Ray.
CMD ["vigil", "up", "--no-ui"]
