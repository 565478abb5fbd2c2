# The project image: the locked environment and the code, for the Prefect worker, the churn
# service, MLflow's server and the one-off pipeline in docker-compose.yml.
#
# Dependencies install in their own layer from uv.lock alone, so editing code rebuilds in
# seconds; nothing is installed when a container starts.
FROM python:3.11-slim AS base

COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /uvx /bin/

ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PATH=/opt/venv/bin:$PATH \
    ECOM_HOME=/var/lib/ecom \
    PYTHONUNBUFFERED=1

WORKDIR /app

# curl for the health checks; libgomp for XGBoost's OpenMP runtime.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl libgomp1 \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

COPY . .
RUN uv sync --frozen --no-dev \
    && mkdir -p "$ECOM_HOME"

# A non-root user owns the state folder; the code stays read-only to it.
RUN useradd --create-home --uid 1000 ecom && chown -R ecom "$ECOM_HOME"
USER ecom

CMD ["ecom", "--help"]
