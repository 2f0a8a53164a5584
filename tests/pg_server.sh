#!/bin/sh
# pg_server.sh - a throwaway PostgreSQL for the tests that need a catalog
# (the golden plan tests: label "plan").
#
#   tests/pg_server.sh start DIR   initdb + start a server whose files live in
#                                  DIR; writes its URL to DIR/url
#                                  (postgresql://postgres@127.0.0.1:PORT/postgres)
#   tests/pg_server.sh stop DIR    stop it and remove DIR
#
# start first stops and removes whatever a previous run left in DIR, so it
# is safe to run again after a crash. Trust authentication on the unix socket
# (in DIR) and on 127.0.0.1 only; fsync off: the data is thrown away.
# PostgreSQL refuses to run as root, so as root the server programs run as
# Debian's `postgres` user (runuser) and DIR is chowned to it. When that user
# cannot reach DIR (a build tree under a private home), or DIR is too long a
# path for the unix socket, the cluster lives in a directory under /tmp that
# DIR/root names; stop removes both.
# Fails loudly, with the command that installs what is missing.
set -eu

# shellcheck source=tests/free_port.sh
. "$(dirname "$0")/free_port.sh"

die() {
	echo "pg_server.sh: $*" >&2
	exit 1
}

usage() {
	die "usage: $0 start|stop DIR"
}

[ $# -eq 2 ] || usage
cmd=$1
dir=$2
case $dir in
/*) ;;
*) dir=$(pwd)/$dir ;;
esac

bindir=
# shellcheck disable=SC2012 # version-sorted: 9.6 before 15
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
	if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
		bindir=$d
	fi
done

as_root=0
[ "$(id -u)" -eq 0 ] && as_root=1

# run a server program as the user the server runs as
pg() {
	prog=$1
	shift
	if [ $as_root -eq 1 ]; then
		(cd / && runuser -u postgres -- "$bindir/$prog" "$@")
	else
		"$bindir/$prog" "$@"
	fi
}

# the directory holding the cluster: DIR itself, or the one DIR/root names
cluster_root() {
	if [ -f "$dir/root" ]; then
		cat "$dir/root"
	else
		echo "$dir"
	fi
}

do_stop() {
	[ -e "$dir" ] || return 0
	root=$(cluster_root)
	if [ -f "$root/data/postmaster.pid" ]; then
		if [ -z "$bindir" ] ||
		   ! pg pg_ctl stop -D "$root/data" -m immediate -w -t 30 >/dev/null 2>&1; then
			pid=$(head -n 1 "$root/data/postmaster.pid" 2>/dev/null || true)
			case $pid in
			'' | *[!0-9]*) ;;
			*) kill -9 "$pid" 2>/dev/null || true ;;
			esac
		fi
	fi
	if [ "$root" != "$dir" ]; then
		case $root in
		/tmp/migrate-pgplan.*) rm -rf "$root" ;;
		esac
	fi
	rm -rf "$dir"
}

do_start() {
	[ -n "$bindir" ] ||
		die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin
install them with: apt-get install -y postgresql"
	if [ $as_root -eq 1 ]; then
		id postgres >/dev/null 2>&1 ||
			die "running as root but the OS user 'postgres' does not exist
it comes with the server package: apt-get install -y postgresql"
		command -v runuser >/dev/null 2>&1 ||
			die "runuser not found: apt-get install -y util-linux"
	fi

	do_stop
	mkdir -p "$dir"
	chmod 755 "$dir"
	root=$dir
	[ $as_root -eq 1 ] && chown postgres: "$dir"
	# unix socket paths are limited to about 100 bytes
	if [ ${#dir} -gt 80 ] ||
	   { [ $as_root -eq 1 ] && ! runuser -u postgres -- test -w "$dir"; }; then
		root=$(mktemp -d /tmp/migrate-pgplan.XXXXXX)
		chmod 755 "$root"
		[ $as_root -eq 1 ] && chown postgres: "$root"
		echo "$root" >"$dir/root"
	fi
	sockdir=$root
	log=$root/server.log

	if ! pg initdb -D "$root/data" -U postgres -E UTF8 --locale=C.UTF-8 \
		--no-sync --auth-local=trust --auth-host=trust >"$root/initdb.log" 2>&1; then
		cat "$root/initdb.log" >&2
		die "initdb failed"
	fi
	cat >"$root/data/pg_hba.conf" <<-EOF
	# written by tests/pg_server.sh: a throwaway test server
	local all all trust
	host  all all 127.0.0.1/32 trust
	EOF

	started=0
	for attempt in 1 2 3 4 5; do
		port=$(free_port)
		cat >"$root/data/postgresql.auto.conf" <<-EOF
		# written by tests/pg_server.sh
		port = $port
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$sockdir'
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		max_connections = 50
		log_min_messages = warning
		EOF
		[ $as_root -eq 1 ] && chown postgres: "$root/data/pg_hba.conf" \
			"$root/data/postgresql.auto.conf"
		if pg pg_ctl start -w -t 60 -D "$root/data" -l "$log" >/dev/null 2>&1; then
			started=1
			break
		fi
		# most likely the port was taken between probing and binding
		pg pg_ctl stop -D "$root/data" -m immediate >/dev/null 2>&1 || true
		echo "pg_server.sh: start on port $port failed (try $attempt)" >&2
	done
	if [ $started -ne 1 ]; then
		tail -n 40 "$log" >&2 2>/dev/null || true
		die "could not start PostgreSQL in '$root'"
	fi
	echo "postgresql://postgres@127.0.0.1:$port/postgres" >"$dir/url"
}

case $cmd in
start) do_start ;;
stop) do_stop ;;
*) usage ;;
esac
