# shellcheck shell=bash
# Helpers for bin/test: system packages, virtualenvs and private throwaway
# database servers on 127.0.0.1. Sourced, not executed; expects `set -euo
# pipefail` and the repository root as the working directory.

BM_PG_BINDIR=/usr/lib/postgresql/15/bin
BM_SECANTUS_VERSION=0.7.0b3
BM_MOTO_VERSION=5.2.5
# Installed with --no-install-recommends (fonts-liberation: readable text in the browser
# tests' screenshots; nginx: `nginx -t` of deploy/nginx.conf). No service is left enabled or
# running: see bm_apt_install.
BM_APT_PACKAGES=(mariadb-server mariadb-client libmariadb-dev pkg-config chromium fonts-liberation zstd age
    openssh-server nginx)

bm_log() { printf '[bin/test %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
bm_die() { bm_log "ERROR: $*"; exit 1; }

# Seconds since the epoch with milliseconds, for phase timings.
bm_now() { date +%s.%3N; }
bm_elapsed() { awk -v a="$1" -v b="$(bm_now)" 'BEGIN { printf "%.1fs", b - a }'; }

bm_random_secret() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

# Print a TCP port on 127.0.0.1 that was free a moment ago.
bm_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

bm_have() { command -v "$1" >/dev/null 2>&1 || [[ -x /usr/sbin/$1 || -x /usr/bin/$1 ]]; }

# apt-get that waits for a concurrent apt/dpkg run instead of failing.
bm_apt_get() {
    local attempt
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        if DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 "$@"; then
            return 0
        fi
        bm_log "apt-get $1 failed (attempt $attempt), retrying in 10s"
        sleep 10
    done
    return 1
}

# Install the system packages the suite needs, but only when one is missing.
bm_ensure_system_packages() {
    local missing=() packages=()
    bm_have mariadbd || bm_have mysqld || missing+=(mariadbd)
    bm_have mariadb-install-db || bm_have mysql_install_db || missing+=(mariadb-install-db)
    bm_have mariadb-dump || missing+=(mariadb-dump)
    bm_have mariadb-admin || missing+=(mariadb-admin)
    [[ -x /usr/bin/chromium ]] || missing+=(chromium)
    bm_have pkg-config || missing+=(pkg-config)
    bm_have zstd || missing+=(zstd)
    { bm_have age && bm_have age-keygen; } || missing+=(age)
    [[ -x /usr/sbin/sshd ]] || missing+=(sshd)
    bm_have mysql_config || bm_have mariadb_config || missing+=(libmariadb-dev)
    bm_have nginx || missing+=(nginx)
    ((${#missing[@]})) && packages+=("${BM_APT_PACKAGES[@]}")
    if [[ ! -x $BM_PG_BINDIR/initdb ]]; then
        missing+=(initdb)
        packages+=(postgresql-15)
    fi
    ((${#packages[@]})) || return 0
    [[ $(id -u) == 0 ]] || bm_die "missing ${missing[*]}; run as root or: apt-get install ${packages[*]}"
    bm_log "missing ${missing[*]}: installing ${packages[*]}"
    bm_apt_get update
    bm_apt_install "${packages[@]}"
}

# The system services these packages bring (the tests start private servers of their own).
BM_APT_SERVICES=(mariadb.service nginx.service ssh.service postgresql.service)

# apt-get install --no-install-recommends, leaving the machine's services as they were: while
# it runs, a policy-rc.d forbids starting services (unless the machine has its own), and on a
# systemd host the units the packages enabled are disabled and stopped again.
bm_apt_install() {
    local policy=/usr/sbin/policy-rc.d ours=0 unit rc=0 was_enabled=()
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# bin/test: no service starts during its apt-get install\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        ours=1
    fi
    if [[ -d /run/systemd/system ]]; then
        for unit in "${BM_APT_SERVICES[@]}"; do
            systemctl is-enabled --quiet "$unit" 2>/dev/null && was_enabled+=("$unit")
        done
    fi
    bm_apt_get install -y --no-install-recommends "$@" || rc=$?
    ((ours)) && rm -f "$policy"
    if [[ -d /run/systemd/system ]]; then
        for unit in "${BM_APT_SERVICES[@]}"; do
            [[ " ${was_enabled[*]} " == *" $unit "* ]] && continue
            if systemctl is-enabled --quiet "$unit" 2>/dev/null || systemctl is-active --quiet "$unit" 2>/dev/null; then
                bm_log "disabling $unit, enabled by its package"
                systemctl disable --now "$unit" >/dev/null 2>&1 || true
            fi
        done
    fi
    return "$rc"
}

# pip install quietly; show the whole log only when it fails.
bm_pip_install() {
    local venv=$1 log
    shift
    log=$(mktemp)
    if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        bm_die "pip install into $venv failed"
    fi
    rm -f "$log"
}

# Create a virtualenv if needed; the venv ignores itself in git.
bm_make_venv() {
    local venv=$1
    if [[ ! -x $venv/bin/python ]]; then
        bm_log "creating $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
    fi
    [[ -f $venv/.gitignore ]] || echo '*' >"$venv/.gitignore"
}

# .venv with requirements-dev.txt; skipped when the requirements are unchanged.
bm_ensure_dev_venv() {
    local venv=.venv stamp wanted
    bm_make_venv "$venv"
    stamp=$venv/.bm-requirements.sha256
    wanted=$(cat requirements.txt requirements-dev.txt <("$venv/bin/python" -V) | sha256sum | cut -d' ' -f1)
    if [[ -f $stamp && $(<"$stamp") == "$wanted" ]]; then
        return 0
    fi
    bm_log "installing requirements-dev.txt into $venv"
    bm_pip_install "$venv" -r requirements-dev.txt
    echo "$wanted" >"$stamp"
}

# .venv-secantus with secantusdb (its dependencies must not leak into .venv).
bm_ensure_secantus_venv() {
    local venv=.venv-secantus stamp
    bm_make_venv "$venv"
    stamp=$venv/.bm-secantusdb-version
    if [[ -f $stamp && $(<"$stamp") == "$BM_SECANTUS_VERSION" && -x $venv/bin/secantusd-py ]]; then
        return 0
    fi
    bm_log "installing secantusdb==$BM_SECANTUS_VERSION into $venv"
    bm_pip_install "$venv" --pre "secantusdb==$BM_SECANTUS_VERSION"
    echo "$BM_SECANTUS_VERSION" >"$stamp"
}

# .venv-moto with moto's standalone S3 server (tests/destinations start it per session).
bm_ensure_moto_venv() {
    local venv=.venv-moto stamp
    bm_make_venv "$venv"
    stamp=$venv/.bm-moto-version
    if [[ -f $stamp && $(<"$stamp") == "$BM_MOTO_VERSION" && -x $venv/bin/moto_server ]]; then
        return 0
    fi
    bm_log "installing moto[server]==$BM_MOTO_VERSION into $venv"
    bm_pip_install "$venv" "moto[server]==$BM_MOTO_VERSION"
    echo "$BM_MOTO_VERSION" >"$stamp"
}

# --- servers -------------------------------------------------------------

BM_TMP=
BM_MARIADB_PID=
BM_SECANTUS_PID=

# Everything lives in one temp dir: $BM_TMP/pg (postgres) and
# $BM_TMP/mysql (mysql); the top is world-traversable so both users reach
# their own subdirectory.
# The tests' own temp files (data folders with their generated keys, the worker's
# bm-run-* snapshots, pytest's folders, sites' logs) go there too, through TMPDIR (so it is
# sticky and world-writable like /tmp: mariadbd writes its temp files there as mysql):
# bm_stop_servers removes it all on any exit (Ctrl-C included).
bm_make_tmp() {
    BM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/bm-test.XXXXXX")
    chmod 1777 "$BM_TMP"
    export TMPDIR=$BM_TMP
}

bm_stop_servers() {
    if [[ -n $BM_SECANTUS_PID ]]; then
        kill "$BM_SECANTUS_PID" 2>/dev/null || true
        wait "$BM_SECANTUS_PID" 2>/dev/null || true
        BM_SECANTUS_PID=
    fi
    if [[ -n $BM_TMP && -f $BM_TMP/pg/data/postmaster.pid ]]; then
        runuser -u postgres -- "$BM_PG_BINDIR/pg_ctl" -D "$BM_TMP/pg/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    if [[ -n $BM_MARIADB_PID ]]; then
        kill "$BM_MARIADB_PID" 2>/dev/null || true
        wait "$BM_MARIADB_PID" 2>/dev/null || true
        BM_MARIADB_PID=
    fi
    if [[ -n $BM_TMP ]]; then
        rm -rf "$BM_TMP"
        BM_TMP=
    fi
}

# Private PostgreSQL 15 cluster: trust on its own unix socket, scram-sha-256
# with a random superuser password over TCP on 127.0.0.1 only.
bm_start_postgres() {
    local dir=$BM_TMP/pg port password attempt
    mkdir -p "$dir"
    password=$(bm_random_secret)
    printf '%s\n' "$password" >"$dir/pwfile"
    chown -R postgres: "$dir"
    chmod 700 "$dir"
    chmod 600 "$dir/pwfile"
    runuser -u postgres -- "$BM_PG_BINDIR/initdb" -D "$dir/data" -U postgres \
        --pwfile="$dir/pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; bm_die "initdb failed"; }
    rm -f "$dir/pwfile"
    for attempt in 1 2 3; do
        port=$(bm_free_port)
        # fsync off etc.: the cluster is thrown away, durability is irrelevant.
        if runuser -u postgres -- "$BM_PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >/dev/null; then
            break
        fi
        ((attempt < 3)) || { cat "$dir/server.log" >&2; bm_die "PostgreSQL did not start"; }
        bm_log "PostgreSQL failed to start on port $port, retrying"
    done
    runuser -u postgres -- "$BM_PG_BINDIR/createdb" -h "$dir" -p "$port" bm_meta
    export BM_TEST_PG_HOST=127.0.0.1
    export BM_TEST_PG_PORT=$port
    export BM_TEST_PG_USER=postgres
    export BM_TEST_PG_PASSWORD=$password
    export BM_TEST_PG_BINDIR=$BM_PG_BINDIR
}

bm_mariadb_sock() { echo "$BM_TMP/mysql/mysql.sock"; }

# Private MariaDB: root only over its unix socket (unix_socket auth), user
# `bm` with a random password and every privilege over TCP.
bm_start_mariadb() {
    local dir=$BM_TMP/mysql port password sock deadline attempt
    sock=$(bm_mariadb_sock)
    mkdir -p "$dir"
    chown mysql: "$dir"
    chmod 700 "$dir"
    mariadb-install-db --no-defaults --user=mysql --datadir="$dir/data" \
        --auth-root-authentication-method=socket --skip-test-db --skip-name-resolve \
        >"$dir/install.log" 2>&1 ||
        { cat "$dir/install.log" >&2; bm_die "mariadb-install-db failed"; }
    for attempt in 1 2 3; do
        port=$(bm_free_port)
        # setsid: a Ctrl-C in the terminal must not reach the server before
        # the EXIT trap stops it in order.
        setsid mariadbd --no-defaults --user=mysql --datadir="$dir/data" \
            --port="$port" --bind-address=127.0.0.1 --socket="$sock" \
            --pid-file="$dir/mariadbd.pid" --log-error="$dir/error.log" \
            --skip-name-resolve --skip-log-bin --max-connections=300 \
            --innodb-buffer-pool-size=64M --innodb-log-file-size=48M \
            --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
            --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
            </dev/null >/dev/null 2>&1 &
        BM_MARIADB_PID=$!
        deadline=$((SECONDS + 60))
        while ! mariadb-admin --no-defaults --socket="$sock" -uroot --connect-timeout=1 ping >/dev/null 2>&1; do
            if ! kill -0 "$BM_MARIADB_PID" 2>/dev/null || ((SECONDS > deadline)); then
                kill "$BM_MARIADB_PID" 2>/dev/null || true
                wait "$BM_MARIADB_PID" 2>/dev/null || true
                BM_MARIADB_PID=
                break
            fi
            sleep 0.1
        done
        [[ -n $BM_MARIADB_PID ]] && break
        ((attempt < 3)) || { cat "$dir/error.log" >&2; bm_die "MariaDB did not start"; }
        bm_log "MariaDB failed to start on port $port, retrying"
    done
    password=$(bm_random_secret)
    mariadb --no-defaults --socket="$sock" -uroot <<SQL
CREATE USER 'bm'@'%' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO 'bm'@'%' WITH GRANT OPTION;
CREATE USER 'bm'@'localhost' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO 'bm'@'localhost' WITH GRANT OPTION;
SQL
    export BM_TEST_MYSQL_HOST=127.0.0.1
    export BM_TEST_MYSQL_PORT=$port
    export BM_TEST_MYSQL_USER=bm
    export BM_TEST_MYSQL_PASSWORD=$password
    export BM_TEST_MYSQL_SOCKET=$sock
}

# Start a throwaway secantusd in the background; bm_check_secantus then
# proves pymongo (from .venv) can write and read through it. The tests start
# their own instance per session from $BM_TEST_SECANTUSD.
bm_start_secantus_probe() {
    local dir=$BM_TMP/secantus port
    mkdir -p "$dir"
    port=$(bm_free_port)
    echo "$port" >"$dir/port"
    # cd: secantusd-py auto-discovers ./secantusd.toml; keep it away from ours.
    (cd "$dir" && exec setsid "$BM_TEST_SECANTUSD" --host 127.0.0.1 --port "$port" \
        --storage-path "$dir/data" </dev/null >"$dir/server.log" 2>&1) &
    BM_SECANTUS_PID=$!
}

bm_check_secantus() {
    local dir=$BM_TMP/secantus
    if ! .venv/bin/python - "$(<"$dir/port")" <<'PY'; then
import sys, time
import pymongo

port = int(sys.argv[1])
deadline = time.monotonic() + 30
while True:
    client = pymongo.MongoClient("127.0.0.1", port, directConnection=True, serverSelectionTimeoutMS=300)
    try:
        client.admin.command("ping")
        break
    except pymongo.errors.PyMongoError:
        client.close()
        if time.monotonic() > deadline:
            raise
        time.sleep(0.1)
coll = client.bm_probe.items
coll.insert_one({"probe": 1})
assert coll.find_one({"probe": 1}, {"_id": 0}) == {"probe": 1}
client.close()
PY
        cat "$dir/server.log" >&2
        bm_die "secantusd did not accept a pymongo insert/find ($BM_TEST_SECANTUSD)"
    fi
    kill "$BM_SECANTUS_PID" 2>/dev/null || true
    wait "$BM_SECANTUS_PID" 2>/dev/null || true
    BM_SECANTUS_PID=
}
