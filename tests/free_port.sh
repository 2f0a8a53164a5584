# shellcheck shell=sh
# free_port.sh - sourced by the throwaway-server scripts (pg_server.sh,
# mariadb_server.sh): free_port prints a TCP port on 127.0.0.1 that is free
# now. The caller retries on a clash, since another process may take it.

free_port() {
	if [ -x /usr/bin/python3 ]; then
		/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
	else
		# no python: a pseudo-random port; start retries on a clash
		echo $((20000 + ($$ * 7919 + $(date +%N | sed 's/^0*//;s/^$/0/')) % 30000))
	fi
}
