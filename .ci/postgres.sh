# Starts the machine's PostgreSQL 15 cluster (installing it with apt where missing) and sets
# CUSTODY_TEST_POSTGRES_URL to a superuser-owned database the ledger tests create schemas in.
# Sourced by .ci/run and scripts that need a real PostgreSQL.

start_postgres() {
  local version=15 cluster=main port=5432
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ ! -d /usr/lib/postgresql/$version ]; then
    echo "installing postgresql-$version"
    export DEBIAN_FRONTEND=noninteractive
    sudo_or_root apt-get update -qq
    sudo_or_root apt-get install -y -qq "postgresql-$version" >/dev/null
  fi
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$version $cluster"; then
    sudo_or_root pg_createcluster "$version" "$cluster" >/dev/null
  fi
  if ! pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1==v && $2==c {print $4}' | grep -qx online; then
    sudo_or_root pg_ctlcluster "$version" "$cluster" start
  fi
  port=$(pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1==v && $2==c {print $3}')
  for _ in $(seq 1 50); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 0.2
  done
  as_postgres psql -q -p "$port" -v ON_ERROR_STOP=1 <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'custody') THEN
    CREATE ROLE custody LOGIN SUPERUSER PASSWORD 'custody';
  END IF;
END \$\$;
SQL
  if ! as_postgres psql -p "$port" -tAc "SELECT 1 FROM pg_database WHERE datname='custody_test'" | grep -q 1; then
    as_postgres createdb -p "$port" -O custody custody_test
  fi
  CUSTODY_TEST_POSTGRES_URL="postgres://custody:custody@127.0.0.1:$port/custody_test"
  echo "PostgreSQL $version up: $CUSTODY_TEST_POSTGRES_URL"
}

sudo_or_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then su postgres -c "$(printf '%q ' "$@")"; else sudo -u postgres "$@"; fi
}
