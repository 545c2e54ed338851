# shellcheck shell=bash
# Shared helpers for scripts/run and scripts/test. Source it, don't execute it:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sourcing changes the working directory to the repository root (ROOT).

if [ -z "${BASH_VERSION:-}" ]; then
    echo "scripts/lib.sh: needs bash" >&2
    return 1 2>/dev/null || exit 1
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
cd "$ROOT" || return 1

say() { printf '==> %s\n' "$*" >&2; }
die() {
    printf '==> ERROR: %s\n' "$*" >&2
    exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# --------------------------------------------------------------------------
# Python virtualenv
# --------------------------------------------------------------------------

# Print the requirement files FILE pulls in (itself first, then every
# "-r"/"-c" include, recursively), one path per line.
_req_files() {
    local file="$1" line inc dir
    [ -f "$file" ] || die "requirements file not found: $file"
    printf '%s\n' "$file"
    dir="$(dirname "$file")"
    while IFS= read -r line || [ -n "$line" ]; do
        line="${line%%#*}"
        if [[ "$line" =~ ^[[:space:]]*(-r|-c|--requirement|--constraint)[[:space:]=]+([^[:space:]]+) ]]; then
            inc="${BASH_REMATCH[2]}"
            [[ "$inc" = /* ]] || inc="$dir/$inc"
            _req_files "$inc"
        fi
    done <"$file"
}

# ensure_venv [REQUIREMENTS_FILE]
# Create .venv if missing (or broken) and pip-install REQUIREMENTS_FILE when
# its content (including -r/-c includes) changed since the last successful
# install. The stamp lives in .venv/.stamp-<file name>.
ensure_venv() {
    local req="${1:-requirements.txt}" stamp want have=""
    if [ -d "$VENV" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        say "virtualenv $VENV is broken (python moved?), recreating it"
        rm -rf "$VENV"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        command -v python3 >/dev/null 2>&1 || die "python3 not found (Debian package: python3)"
        say "creating virtualenv .venv ($(python3 --version 2>&1))"
        if ! python3 -m venv "$VENV"; then
            rm -rf "$VENV"
            # Debian's python3 has no ensurepip without python3-venv.
            if is_root && command -v apt-get >/dev/null 2>&1; then
                ensure_apt_packages python3-venv
                python3 -m venv "$VENV" || die "python3 -m venv failed"
            else
                die "python3 -m venv failed; install the Debian package python3-venv (apt-get install python3-venv)"
            fi
        fi
    fi
    # Hash the file's path-independent content plus the interpreter version,
    # so a different python or an edited include triggers a reinstall.
    want="$({
        "$VENV/bin/python" -c 'import sys; print(sys.version)'
        _req_files "$req" | while IFS= read -r f; do cat "$f"; echo; done
    } | sha256sum | cut -d' ' -f1)"
    stamp="$VENV/.stamp-$(basename "$req")"
    [ -f "$stamp" ] && have="$(cat "$stamp")"
    if [ "$want" != "$have" ]; then
        say "installing $req into .venv"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$req" \
            || die "pip install -r $req failed"
        printf '%s\n' "$want" >"$stamp"
    fi
}

# --------------------------------------------------------------------------
# Debian packages
# --------------------------------------------------------------------------

_APT_UPDATED=""

_dpkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# ensure_apt_packages PKG...
# Install the Debian packages that are not installed yet. Needs root; when not
# root, fail with the apt-get command to run. apt-get update runs at most once
# per script run.
ensure_apt_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        _dpkg_installed "$pkg" || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    if ! is_root; then
        die "missing Debian package(s): ${missing[*]} -- install with: sudo apt-get install -y ${missing[*]}"
    fi
    command -v apt-get >/dev/null 2>&1 \
        || die "missing package(s) ${missing[*]} and no apt-get on this machine"
    if [ -z "$_APT_UPDATED" ]; then
        say "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
        _APT_UPDATED=1
    fi
    say "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || die "apt-get install ${missing[*]} failed"
}

# --------------------------------------------------------------------------
# Misc
# --------------------------------------------------------------------------

# pg_bindir: print the PostgreSQL server bin dir. Deliberately does not look
# at PATH (this machine has stray symlinks in /usr/local/bin, and Debian's
# /usr/bin/pg_* are version-picking wrappers).
pg_bindir() {
    local d best=""
    if [ -x /usr/lib/postgresql/15/bin/initdb ] && [ -x /usr/lib/postgresql/15/bin/pg_ctl ]; then
        echo /usr/lib/postgresql/15/bin
        return 0
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5n); do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && best="$d"
    done
    if [ -n "$best" ]; then
        echo "==> WARNING: PostgreSQL 15 not found, using $best (the suite targets 15)" >&2
        echo "$best"
        return 0
    fi
    echo "==> ERROR: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (Debian package: postgresql)" >&2
    return 1
}

# free_port: print a TCP port that is currently free on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# redis_ping PORT: true if a Redis answers PING on 127.0.0.1:PORT (bounded:
# redis-cli itself would hang forever on a port owned by something else).
redis_ping() {
    [ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
}

# port_in_use PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
    python3 -c 'import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

# --------------------------------------------------------------------------
# Throwaway PostgreSQL
# --------------------------------------------------------------------------

# Run a PostgreSQL binary as the postgres system user when we are root
# (initdb and postgres refuse to run as root), directly otherwise.
_as_pg_user() {
    if is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# start_postgres DIR PORT
# Start a throwaway PostgreSQL (trust auth, superuser "postgres", no fsync)
# with its cluster in DIR/pgdata, its socket in DIR, its log in DIR/pg.log,
# listening on 127.0.0.1:PORT, and create the database "marketplace".
# When root, DIR is chowned to the postgres user. Re-running with the same DIR
# after a failed start (e.g. port taken) reuses the cluster.
start_postgres() {
    local dir="$1" port="$2" bin locale_opt i
    [ -n "$dir" ] && [ -n "$port" ] || die "usage: start_postgres DIR PORT"
    bin="$(pg_bindir)" || exit 1
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    # The socket path DIR/.s.PGSQL.PORT must fit in sun_path (107 bytes).
    [ "${#dir}" -le 90 ] || die "start_postgres: DIR path too long for a unix socket: $dir"
    if is_root; then
        getent passwd postgres >/dev/null \
            || die "no 'postgres' system user (it comes with the Debian package postgresql)"
        command -v runuser >/dev/null 2>&1 || die "runuser not found (Debian package: util-linux)"
        chown postgres: "$dir"
        chmod 700 "$dir"
        runuser -u postgres -- test -w "$dir" \
            || die "user postgres cannot write $dir (is a parent directory closed to it? try TMPDIR=/tmp)"
    fi
    if [ ! -f "$dir/pgdata/PG_VERSION" ]; then
        rm -rf "$dir/pgdata"
        # C.UTF-8 gives UTF-8 aware upper()/lower() (Django's iexact, icontains)
        # with deterministic byte-order collation; fall back to plain C.
        if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
            locale_opt=--locale=C.UTF-8
        else
            locale_opt=--no-locale
        fi
        say "initdb $dir/pgdata (PostgreSQL $(basename "$(dirname "$bin")"))"
        (cd "$dir" && _as_pg_user "$bin/initdb" -D "$dir/pgdata" -A trust -U postgres \
            --no-sync -E UTF8 "$locale_opt" >"$dir/initdb.log" 2>&1) \
            || { cat "$dir/initdb.log" >&2; die "initdb failed (log above)"; }
    fi
    say "starting PostgreSQL on 127.0.0.1:$port"
    if ! (cd "$dir" && _as_pg_user "$bin/pg_ctl" -D "$dir/pgdata" -w -t 60 -l "$dir/pg.log" \
        -o "-h 127.0.0.1 -p $port -k '$dir' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null); then
        tail -n 20 "$dir/pg.log" >&2 2>/dev/null || true
        die "PostgreSQL did not start (log: $dir/pg.log)"
    fi
    for i in $(seq 1 60); do
        "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres && break
        [ "$i" -eq 60 ] && die "PostgreSQL on port $port is not ready (log: $dir/pg.log)"
        sleep 0.5
    done
    if ! "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc \
        "select 1 from pg_database where datname = 'marketplace'" | grep -q 1; then
        "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres marketplace \
            || die "createdb marketplace failed"
    fi
}

# stop_postgres DIR: stop the server started by start_postgres DIR (no-op if
# it is not running).
stop_postgres() {
    local dir="$1" bin pid i
    [ -f "$dir/pgdata/postmaster.pid" ] || return 0
    bin="$(pg_bindir)" || return 1
    say "stopping PostgreSQL"
    (cd "$dir" && _as_pg_user "$bin/pg_ctl" -D "$dir/pgdata" -m fast -w -t 30 stop >/dev/null 2>&1) \
        || (cd "$dir" && _as_pg_user "$bin/pg_ctl" -D "$dir/pgdata" -m immediate -w -t 10 stop >/dev/null 2>&1) \
        && return 0
    # pg_ctl gave up (e.g. interrupted during start): signal the postmaster
    # named in the pid file directly, if it is still there.
    pid="$(head -n 1 "$dir/pgdata/postmaster.pid" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        kill -QUIT "$pid" 2>/dev/null || true
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || return 0
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        echo "==> WARNING: had to kill PostgreSQL (pid $pid) in $dir" >&2
    fi
    return 0
}

# --------------------------------------------------------------------------
# Throwaway Redis
# --------------------------------------------------------------------------

# start_redis DIR PORT: start a daemonized, non-persistent Redis on
# 127.0.0.1:PORT with pid/log/working files in DIR; wait until it answers PING.
start_redis() {
    local dir="$1" port="$2" i
    [ -n "$dir" ] && [ -n "$port" ] || die "usage: start_redis DIR PORT"
    command -v redis-server >/dev/null 2>&1 || die "redis-server not found (Debian package: redis-server)"
    command -v redis-cli >/dev/null 2>&1 || die "redis-cli not found (Debian package: redis-tools)"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    say "starting Redis on 127.0.0.1:$port"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" \
        || die "redis-server failed to start"
    for i in $(seq 1 50); do
        redis_ping "$port" && [ -s "$dir/redis.pid" ] && return 0
        sleep 0.2
    done
    tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
    die "Redis on port $port did not answer PING (log: $dir/redis.log)"
}

# stop_redis DIR: stop the Redis started by start_redis DIR (no-op if none).
stop_redis() {
    local dir="$1" pid i
    [ -s "$dir/redis.pid" ] || return 0
    pid="$(cat "$dir/redis.pid")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        say "stopping Redis"
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$dir/redis.pid"
    return 0
}
