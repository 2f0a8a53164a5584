#!/usr/bin/env bash
# Install the Debian 12 packages that building and trying migrate need.
#
#   bash scripts/install-deps.sh            install what is missing (root, or sudo)
#   bash scripts/install-deps.sh PKG...     the same, plus extra packages
#   bash scripts/install-deps.sh --print    list the packages, install nothing
#
# Other scripts may source it instead: it then only defines
# MIGRATE_BUILD_PACKAGES, MIGRATE_SERVER_PACKAGES and mg_install_packages.
# Packages that are already installed are left alone, and apt-get runs only
# when something is missing (so a second run works offline).

# To compile migrate (CMake names the package to install when one is missing).
MIGRATE_BUILD_PACKAGES=(
  cmake gcc pkg-config make
  libpq-dev libyaml-dev libsqlite3-dev libjansson-dev libssl-dev
  default-libmysqlclient-dev libpg-query-dev
)
# A PostgreSQL server (initdb, pg_ctl under /usr/lib/postgresql/*/bin) and psql,
# for the demo's throw-away database. migrate itself needs only the client
# libraries (libpq, libmariadb).
MIGRATE_SERVER_PACKAGES=(
  postgresql
)

# mg_install_packages PKG... : apt-get install -y the ones not installed yet.
mg_install_packages() {
  local missing=() p
  local sudo=()

  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all $# packages already installed"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "install-deps: missing packages: ${missing[*]}" >&2
      echo "install-deps: run as root (or install sudo) to install them" >&2
      return 1
    fi
    sudo=(sudo)
  fi
  echo "install-deps: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  if [ "${1:-}" = --print ]; then
    printf '%s\n' "${MIGRATE_BUILD_PACKAGES[@]}" "${MIGRATE_SERVER_PACKAGES[@]}"
    exit 0
  fi
  mg_install_packages "${MIGRATE_BUILD_PACKAGES[@]}" "${MIGRATE_SERVER_PACKAGES[@]}" "$@"
fi
