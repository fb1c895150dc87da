#!/usr/bin/env bash
# Install (if missing) and start Debian's PostgreSQL on loopback, with a `webgen` role and a test database.
# Idempotent. Prints the SQLAlchemy URL the tests use (WEBGEN_TEST_POSTGRES_URL's default).
set -euo pipefail
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
if ! command -v pg_lsclusters >/dev/null; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
fi
read -r version cluster port status _ < <(pg_lsclusters --no-header | head -n 1)
if [ "$status" != "online" ]; then
  $sudo pg_ctlcluster "$version" "$cluster" start -- -o "-c listen_addresses=127.0.0.1"
fi
as_postgres() { if [ "$(id -u)" -eq 0 ]; then su postgres -c "$1"; else sudo -u postgres bash -c "$1"; fi; }
as_postgres "psql -p $port -tAc \"SELECT 1 FROM pg_roles WHERE rolname='webgen'\" | grep -q 1 || psql -p $port -qc \"CREATE ROLE webgen LOGIN PASSWORD 'webgen' CREATEDB\""
as_postgres "psql -p $port -tAc \"SELECT 1 FROM pg_database WHERE datname='webgen_test'\" | grep -q 1 || createdb -p $port -O webgen webgen_test"
echo "postgresql+psycopg://webgen:webgen@127.0.0.1:$port/webgen_test"
