#!/bin/sh
# check_image.sh - build docker/Dockerfile without a Docker engine and run
# the image against a real PostgreSQL (issue 16). Run as root from the
# repository root:
#
#   sh scripts/check_image.sh
#
# What it does, following the files themselves (nothing is copied from
# them, so the check follows the Dockerfile and compose.yaml as they change):
#
#  1. A stand-in for debian:12-slim: no container registry is reachable
#     here, so `debootstrap --variant=minbase bookworm` from the APT mirror
#     this machine uses is imported into a private buildah storage under the name docker.io/library/debian:12-slim. Kept in the
#     cache directory: later runs reuse it (and the build's layers).
#     Storage driver: overlay (MIGRATE_IMAGE_STORAGE=vfs where the kernel
#     refuses overlay mounts).
#  2. `buildah bud --isolation chroot` of docker/Dockerfile, both stages,
#     every RUN and COPY as written.
#  3. The image, run with buildah's chroot isolation and the host network,
#     its ENTRYPOINT and USER as the Dockerfile says, against a throwaway
#     PostgreSQL on the host loopback (tests/pg_server.sh):
#     `--version`; the compose one-shot service's script (read from
#     docker/compose.yaml, `$$` turned into `$`) on migrations-examples/
#     with /state a volume owned by uid 10001: every migration contracted;
#     `status`; TLS with sslmode=verify-full against the system CA bundle
#     (refused for a CA the bundle lacks, accepted once the CA is added with
#     update-ca-certificates).
#
# Needs: buildah, debootstrap (Debian packages), openssl, psql, and what
# tests/pg_server.sh needs. Cache: $MIGRATE_IMAGE_CACHE (default
# /var/tmp/migrate-image-check); remove it to start from nothing.
# Exit 0 when every check passed; prints the times and the image size.
set -eu

die() {
	echo "check_image.sh: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (buildah's chroot isolation and debootstrap need it)"
[ -f docker/Dockerfile ] || die "run from the repository root"
for tool in buildah debootstrap openssl psql python3; do
	command -v "$tool" >/dev/null || die "$tool not found: apt-get install -y buildah debootstrap openssl postgresql-client python3-yaml"
done

repo=$(pwd)
cache=${MIGRATE_IMAGE_CACHE:-/var/tmp/migrate-image-check}
work=$(mktemp -d /tmp/migrate-image-check.XXXXXX)
image=localhost/migrate:check
# overlay when the kernel allows it here (much faster: vfs copies the whole
# root for every layer and container); MIGRATE_IMAGE_STORAGE=vfs otherwise
driver=${MIGRATE_IMAGE_STORAGE:-overlay}
B="buildah --root $cache/storage-$driver --runroot $cache/run-$driver --storage-driver $driver"
ctr=
pg_started=0

cleanup() {
	[ -n "$ctr" ] && $B rm "$ctr" >/dev/null 2>&1 || true
	[ $pg_started -eq 1 ] && sh "$repo/tests/pg_server.sh" stop "$work/pg" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

now() { date +%s; }
say() { printf '== %s\n' "$*"; }

# The first deb URI of the host's APT sources: the mirror apt already uses.
mirror() {
	for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
		[ -f "$f" ] || continue
		u=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p; s/^deb \(\[[^]]*\] \)\{0,1\}\(http[^ ]*\) bookworm .*/\2/p' "$f" |
			grep -v security | head -n 1)
		[ -n "$u" ] && { echo "$u"; return; }
	done
	echo http://deb.debian.org/debian
}

# ---- 1. the base image ---------------------------------------------------------
t0=$(now)
mkdir -p "$cache"
if [ ! -f "$cache/rootfs.tar" ]; then
	m=$(mirror)
	say "debootstrap minbase bookworm from $m (a stand-in for debian:12-slim)"
	rm -rf "$cache/rootfs"
	debootstrap --variant=minbase bookworm "$cache/rootfs" "$m" >"$cache/debootstrap.log" 2>&1 ||
		die "debootstrap failed: see $cache/debootstrap.log"
	# as the real slim image: no package cache, no lists
	rm -rf "$cache/rootfs/var/cache/apt/archives/"*.deb "$cache/rootfs/var/lib/apt/lists/"*
	tar -C "$cache/rootfs" -cf "$cache/rootfs.tar" .
	rm -rf "$cache/rootfs"
fi
if ! $B inspect --type image docker.io/library/debian:12-slim >/dev/null 2>&1; then
	c=$($B from scratch)
	$B add "$c" "$cache/rootfs.tar" / >/dev/null
	$B commit --rm "$c" docker.io/library/debian:12-slim >/dev/null
fi
t_base=$(($(now) - t0))

# ---- 2. the Dockerfile -----------------------------------------------------------
say "buildah bud docker/Dockerfile (chroot isolation)"
t0=$(now)
$B bud --isolation chroot --network host --pull=never --layers \
	-f docker/Dockerfile -t "$image" . >"$work/bud.log" 2>&1 ||
	{ tail -n 40 "$work/bud.log" >&2; die "the image build failed (log above)"; }
t_build=$(($(now) - t0))
cp "$work/bud.log" "$cache/bud.log"

# ENTRYPOINT and USER as the image records them (buildah run takes neither)
$B inspect --type image "$image" >"$work/image.json"
config() {
	python3 -c 'import json, shlex, sys
v = json.load(open(sys.argv[1]))["OCIv1"]["config"].get(sys.argv[2]) or ""
print(" ".join(shlex.quote(a) for a in v) if isinstance(v, list) else v)' "$work/image.json" "$1"
}
entrypoint=$(config Entrypoint)
user=$(config User)
[ -n "$entrypoint" ] && [ -n "$user" ] || die "the image has no ENTRYPOINT or USER"
size=$($B images --format '{{.Size}}' "$image")
ctr=$($B from --pull=never "$image")

# run ARGS...: the image's entrypoint with ARGS, as `docker run IMAGE ARGS`.
# buildah's chroot isolation gives no PID namespace, so tini is not PID 1
# here and would warn about it: TINI_SUBREAPER makes it reap as a
# subreaper instead (PID 1 itself: tests/integration/test_pid1.py).
state=$work/state
mkdir -p "$state"
chown 10001:10001 "$state"
run() {
	# shellcheck disable=SC2086 # $entrypoint is a list of quoted words
	eval "$B run --isolation chroot --network host --user '$user' \
		-v '$repo/migrations-examples:/work:ro' -v '$state:/state' \
		-e TINI_SUBREAPER=1 -e MIGRATE_DATABASE_URL=\"\$url\" \"\$ctr\" -- $entrypoint \"\$@\""
}

# ---- 3. the image against PostgreSQL -----------------------------------------------
t0=$(now)
say "PostgreSQL on the host loopback"
sh tests/pg_server.sh start "$work/pg" >/dev/null
pg_started=1
admin=$(cat "$work/pg/url")
psql -q "$admin" -c "CREATE ROLE app LOGIN PASSWORD 'app'" -c "CREATE DATABASE app OWNER app"
app_admin=$(echo "$admin" | sed 's|/postgres$|/app|')
psql -q "$app_admin" -c "SET ROLE app" -f migrations-examples/schema.sql >/dev/null
url=$(echo "$admin" | sed 's|postgres@|app:app@|; s|/postgres$|/app|')

say "migrate --version (entrypoint: $entrypoint, user $user)"
run --version | tee "$work/version"
grep -q 'release build: no test hooks' "$work/version" || die "not a release build"
[ "$($B run --isolation chroot --user "$user" "$ctr" -- id -u)" = 10001 ] || die "not running as uid 10001"

say "the compose one-shot service's script, in the image"
python3 - "$repo/docker/compose.yaml" >"$work/oneshot.sh" <<'EOF'
import sys, yaml
svc = yaml.safe_load(open(sys.argv[1]))["services"]["migrate"]
assert svc["entrypoint"][-2:] == ["/bin/sh", "-ec"], svc["entrypoint"]
print(svc["command"][0].replace("$$", "$"))
EOF
compose_ep=$(python3 -c 'import sys,yaml,shlex; print(" ".join(shlex.quote(a) for a in yaml.safe_load(open(sys.argv[1]))["services"]["migrate"]["entrypoint"]))' docker/compose.yaml)
eval "$B run --isolation chroot --network host --user '$user' \
	-v '$repo/migrations-examples:/work:ro' -v '$state:/state' \
	-e TINI_SUBREAPER=1 -e MIGRATE_DATABASE_URL=\"\$url\" -e MIGRATE_STATE=/state/state.db \"\$ctr\" -- \
	$compose_ep \"\$(cat '$work/oneshot.sh')\"" >"$work/oneshot.log" 2>&1 ||
	{ cat "$work/oneshot.log" >&2; die "the one-shot script failed"; }
tail -n 12 "$work/oneshot.log"
[ -f "$state/state.db" ] || die "no state file in the /state volume"

say "migrate status"
run status >"$work/status.log" 2>&1 || { cat "$work/status.log" >&2; die "status failed"; }
grep -cE '^[0-9]{4} +[^ ]+ +contracted' "$work/status.log" | grep -qx "$(find migrations-examples/migrations -name '[0-9]*_*.yaml' | wc -l)" ||
	{ cat "$work/status.log" >&2; die "not every example migration is contracted"; }
cat "$work/status.log"

say "TLS: sslmode=verify-full against the system CA bundle"
[ -n "$($B run --isolation chroot "$ctr" -- sh -c 'test -s /etc/ssl/certs/ca-certificates.crt && readlink -f /usr/lib/ssl/cert.pem')" ] ||
	die "no system CA bundle in the image (ca-certificates)"
pki=$work/pki
mkdir -p "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=check-image-ca \
	-keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
	-keyout "$pki/server.key" -out "$pki/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$pki/ext"
openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
	-CAcreateserial -days 2 -extfile "$pki/ext" -out "$pki/server.crt" 2>/dev/null
pgroot=$work/pg
[ -f "$work/pg/root" ] && pgroot=$(cat "$work/pg/root")
cp "$pki/server.crt" "$pki/server.key" "$pgroot/data/"
chown postgres: "$pgroot/data/server.crt" "$pgroot/data/server.key" 2>/dev/null || true
chmod 600 "$pgroot/data/server.key"
psql -q "$admin" -c "ALTER SYSTEM SET ssl = on" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
tls_url="$url?sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt"
url_plain=$url
url=$tls_url
rc=0
run status >"$work/tls1.log" 2>&1 || rc=$?
[ $rc -eq 3 ] || { cat "$work/tls1.log" >&2; die "verify-full with a CA outside the bundle: exit $rc, expected 3"; }
grep -q 'certificate verify failed' "$work/tls1.log" || { cat "$work/tls1.log" >&2; die "refused, but not for the certificate"; }
echo "a CA outside the bundle: refused (certificate verify failed), as it must be"
cp "$pki/ca.crt" "$work/check-image-ca.crt"
$B copy "$ctr" "$work/check-image-ca.crt" /usr/local/share/ca-certificates/check-image-ca.crt
$B run --isolation chroot --user root "$ctr" -- update-ca-certificates >/dev/null 2>&1
run status >"$work/tls2.log" 2>&1 || { cat "$work/tls2.log" >&2; die "verify-full failed with the CA in the bundle"; }
echo "the CA added with update-ca-certificates: verify-full connects"
url=$url_plain
t_run=$(($(now) - t0))

say "done: base image ${t_base}s, image build ${t_build}s, runs ${t_run}s; image size $size"
