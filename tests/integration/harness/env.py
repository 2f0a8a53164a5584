"""Child processes and servers: a clean environment for everything the
tests start, free loopback ports, and the body of a server fixture."""

import os
import socket

import pytest

# Environment variables that would change what the binary, libpq or the
# MySQL/MariaDB client library does; removed from every child environment so
# the outer shell cannot leak in.
_STRIP_PREFIXES = ("MIGRATE_", "PG", "MYSQL_", "MARIADB_", "LIBMYSQL_")
_STRIP_NAMES = ("DATABASE_URL",)


def _clean_env(extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_STRIP_PREFIXES) and k not in _STRIP_NAMES}
    env.setdefault("LC_ALL", "C.UTF-8")
    if extra:
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
    return env


def _is_root():
    return os.geteuid() == 0


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(server, what):
    """A server fixture's body: start it (failing loudly, never skipping),
    yield it, stop it."""
    try:
        server.start()
    except Exception as e:  # fail loudly, never skip
        server.stop()
        pytest.fail(f"{what} did not start: {e}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
