#!/usr/bin/env bash
# Runs once, on the first start of the postgres container (docker-entrypoint-initdb.d):
# one database per service that keeps state, beside the warehouse itself.
set -euo pipefail
for database in ${ECOM_EXTRA_DATABASES:-mlflow prefect metabase}; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -c "create database \"$database\" owner \"$POSTGRES_USER\""
done
