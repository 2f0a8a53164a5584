#!/bin/sh
# The core reaches drivers only through the mg_db_* wrappers of
# drivers/driver.c (driver.h): they supply the defaults of optional methods
# and host the test builds' fault injection, so a call that bypasses them
# (ctx->conn->drv->lock(...), a `d = conn->drv` kept to call d->method)
# would miss both. This fails listing every place in src/ that touches a
# connection's method table directly.
#
# Allowed: the reading of the capability bits (src/cmd/plan.c, the
# planner), and the planner freeing the data a driver hangs on its answers
# (`x->drv_free(x->drv)`: a description's drv, not a connection's table).
# usage: no_driver_calls.sh SRC_DIR
set -eu
src=${1:?usage: no_driver_calls.sh SRC_DIR}
found=$(grep -rn -e '->drv\b' --include='*.c' "$src" |
	grep -v -e '->drv->caps' -e '->drv_free(' || true)
if [ -n "$found" ]; then
	echo "direct driver calls in src/ (use the mg_db_* wrappers of drivers/driver.h):" >&2
	echo "$found" >&2
	exit 1
fi
echo "no direct driver calls in $src"
