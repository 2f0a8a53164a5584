#!/bin/sh
# mariadb_server.sh - a throwaway MariaDB for the tests of the mysql driver
# (label "mysql"); the counterpart of tests/pg_server.sh.
#
#   tests/mariadb_server.sh start DIR [OPTION...]
#                                       mariadb-install-db + start a server
#                                       whose files live in DIR, with the
#                                       OPTIONs added to mariadbd's (they
#                                       win over the defaults below, e.g.
#                                       --log-bin --server-id=1); writes
#                                       DIR/url    mysql://root@127.0.0.1:PORT/mysql
#                                       DIR/port   the TCP port (127.0.0.1 only)
#                                       DIR/socket the unix socket
#   tests/mariadb_server.sh stop DIR    stop it and remove DIR
#
# start first stops and removes whatever a previous run left in DIR, so it
# is safe to run again after a crash. `root` has no password and exists for
# localhost (the socket) and 127.0.0.1 only; the server listens on
# 127.0.0.1 only. performance_schema is on (the driver reads connection
# attributes from it); no binary log; durability off: the data is thrown
# away. As root the server runs with --user=root (mariadbd refuses root
# otherwise); as any other user it runs as that user. When DIR is too long
# a path for the unix socket (about 107 bytes), the server lives in a
# directory under /tmp that DIR/root names; stop removes both.
# Fails loudly, with the command that installs what is missing.
set -eu

# shellcheck source=tests/free_port.sh
. "$(dirname "$0")/free_port.sh"

die() {
	echo "mariadb_server.sh: $*" >&2
	exit 1
}

usage() {
	die "usage: $0 start DIR [MARIADBD-OPTION...] | stop DIR"
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
shift 2
[ "$cmd" = start ] || [ $# -eq 0 ] || usage
case $dir in
/*) ;;
*) dir=$(pwd)/$dir ;;
esac

# the programs; mariadbd lives in /usr/sbin, which a plain user's PATH lacks
find_prog() {
	for p in "/usr/sbin/$1" "/usr/bin/$1"; do
		if [ -x "$p" ]; then
			echo "$p"
			return 0
		fi
	done
	command -v "$1" 2>/dev/null || true
}
mariadbd=$(find_prog mariadbd)
install_db=$(find_prog mariadb-install-db)
admin=$(find_prog mariadb-admin)
client=$(find_prog mariadb)

as_root=0
[ "$(id -u)" -eq 0 ] && as_root=1

# the directory holding the server: DIR itself, or the one DIR/root names
server_root() {
	if [ -f "$dir/root" ]; then
		cat "$dir/root"
	else
		echo "$dir"
	fi
}

# is pid a running process (a zombie is not)?
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)
	[ "$state" != Z ]
}

# is pid the mariadbd of this server root (not a recycled pid)?
is_our_server() {
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "--datadir=$2/data"
}

# wait up to $2 seconds for pid $1 to go away
wait_gone() {
	n=0
	while alive "$1"; do
		n=$((n + 1))
		[ $n -gt $(($2 * 10)) ] && return 1
		sleep 0.1
	done
	return 0
}

# stop the server of root $1 (quietly; it may not be running)
stop_server() {
	r=$1
	[ -f "$r/mariadbd.pid" ] || return 0
	pid=$(head -n 1 "$r/mariadbd.pid" 2>/dev/null || true)
	case $pid in
	'' | *[!0-9]*) return 0 ;;
	esac
	alive "$pid" && is_our_server "$pid" "$r" || return 0
	if [ -n "$admin" ] && [ -S "$r/sock" ]; then
		"$admin" --no-defaults --user=root --socket="$r/sock" \
			--connect-timeout=5 shutdown >/dev/null 2>&1 || true
	fi
	if ! wait_gone "$pid" 30; then
		kill -TERM "$pid" 2>/dev/null || true
		wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
		wait_gone "$pid" 5 || true
	fi
}

do_stop() {
	[ -e "$dir" ] || return 0
	root=$(server_root)
	stop_server "$root"
	if [ "$root" != "$dir" ]; then
		case $root in
		/tmp/migrate-mdb.*) rm -rf "$root" ;;
		esac
	fi
	rm -rf "$dir"
}

# DIR's data directory, as mariadb-install-db makes it. root@localhost and
# root@127.0.0.1 without a password; the bootstrap's temporary tables in the
# server root, not /tmp, where bootstraps of servers started side by side
# collided (#sql-temptable-...).
# With MG_SERVER_TEMPLATES naming a directory (ctest sets it to one in the
# build tree), the first start keeps a copy of the fresh data directory
# there, under a key naming the server's version, the OS user and these
# options, and later starts copy it instead of bootstrapping again: the
# same files, without the several seconds mariadb-install-db takes once per
# test file. The copy is published by a rename, so a start running beside
# it sees a whole template or none.
INSTALL_OPTS="--auth-root-authentication-method=normal --skip-test-db --skip-name-resolve --innodb-log-file-size=48M"
install_datadir() {
	tpl=
	if [ -n "${MG_SERVER_TEMPLATES:-}" ]; then
		key=$({ "$mariadbd" --version; id -u; echo "$INSTALL_OPTS"; } | cksum | cut -d' ' -f1)
		tpl=$MG_SERVER_TEMPLATES/mariadb-$key
		if [ -d "$tpl/data" ] && cp -a --sparse=always "$tpl/data" "$root/data"; then
			echo "data directory copied from $tpl" >"$root/install-db.log"
			return 0
		fi
		rm -rf "$root/data"
	fi
	# shellcheck disable=SC2086 # user_opt is one word or none, INSTALL_OPTS words
	if ! (cd "$root" && "$install_db" --no-defaults $user_opt \
		--datadir="$root/data" --tmpdir="$root" $INSTALL_OPTS) \
		>"$root/install-db.log" 2>&1; then
		cat "$root/install-db.log" >&2
		die "mariadb-install-db failed"
	fi
	[ -n "$tpl" ] || return 0
	# keeping the template is an optimisation: a failure here is not one
	tmp=$MG_SERVER_TEMPLATES/.mariadb-$key.$$
	if mkdir -p "$tmp" && cp -a --sparse=always "$root/data" "$tmp/data" &&
		mv -T "$tmp" "$tpl" 2>/dev/null; then
		return 0
	fi
	rm -rf "$tmp"
}

do_start() {
	for p in "$mariadbd" "$install_db" "$admin" "$client"; do
		[ -n "$p" ] ||
			die "MariaDB server programs not found (mariadbd, mariadb-install-db, mariadb-admin, mariadb)
install them with: apt-get install -y mariadb-server"
	done

	do_stop
	mkdir -p "$dir"
	chmod 755 "$dir"
	root=$dir
	# unix socket paths are limited to about 107 bytes ("$root/sock")
	if [ ${#dir} -gt 90 ]; then
		root=$(mktemp -d /tmp/migrate-mdb.XXXXXX)
		chmod 755 "$root"
		echo "$root" >"$dir/root"
	fi
	log=$root/server.log
	user_opt=
	[ $as_root -eq 1 ] && user_opt=--user=root

	install_datadir

	started=0
	for attempt in 1 2 3 4 5; do
		port=$(free_port)
		rm -f "$root/mariadbd.pid" "$root/sock"
		# shellcheck disable=SC2086
		(cd "$root" && exec "$mariadbd" --no-defaults $user_opt \
			--datadir="$root/data" --tmpdir="$root" \
			--pid-file="$root/mariadbd.pid" --log-error="$log" \
			--socket="$root/sock" --port="$port" --bind-address=127.0.0.1 \
			--skip-name-resolve --performance-schema=ON --skip-log-bin \
			--character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
			--max-connections=200 \
			--innodb-buffer-pool-size=128M --innodb-log-file-size=48M \
			--innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
			"$@" </dev/null >>"$log" 2>&1) &
		pid=$!
		n=0
		while [ $n -lt 600 ]; do
			if ! alive "$pid"; then
				break
			fi
			if "$client" --no-defaults --user=root --host=127.0.0.1 \
				--port="$port" --protocol=tcp --connect-timeout=2 \
				--batch --skip-column-names \
				-e 'SELECT @@performance_schema' 2>/dev/null | grep -qx 1; then
				started=1
				break
			fi
			n=$((n + 1))
			sleep 0.1
		done
		[ $started -eq 1 ] && break
		# most likely the port was taken between probing and binding
		if alive "$pid"; then
			kill -KILL "$pid" 2>/dev/null || true
			wait_gone "$pid" 10 || true
		fi
		echo "mariadb_server.sh: start on port $port failed (try $attempt)" >&2
	done
	if [ $started -ne 1 ]; then
		tail -n 40 "$log" >&2 2>/dev/null || true
		die "could not start MariaDB in '$root'"
	fi
	echo "$port" >"$dir/port"
	echo "$root/sock" >"$dir/socket"
	echo "mysql://root@127.0.0.1:$port/mysql" >"$dir/url"
}

case $cmd in
start) do_start "$@" ;;
stop) do_stop ;;
*) usage ;;
esac
