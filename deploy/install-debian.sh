#!/usr/bin/env bash
# Install the Debian packages one of the two set-up commands needs, only when one is missing.
#   deploy/install-debian.sh run    what `make run` needs: the sandbox wiki (MediaWiki, PHP, a web server)
#   deploy/install-debian.sh test   that, and Chromium for the browser tests, dovecot for the IMAP poller's,
#                                   Node.js and npm for axe-core (the browser tests' accessibility check)
#                                   and oidc-provider (the sandbox identity provider)
#   deploy/install-debian.sh node   Node.js and npm only: `CASEWORK_DEMO_OIDC=1 make run`'s identity provider
#   deploy/install-debian.sh --list run|test|node   print the packages and install nothing
set -euo pipefail
list=0
if [ "${1:-}" = "--list" ]; then
  list=1
  shift
fi
run_packages=(mediawiki php-sqlite3 php-cli php8.2-cgi micro-httpd)
case "${1:-test}" in
  run) packages=("${run_packages[@]}") ;;
  test) packages=("${run_packages[@]}" chromium dovecot-imapd nodejs npm) ;;
  node) packages=(nodejs npm) ;;
  *) echo "usage: $0 [--list] run|test|node" >&2; exit 2 ;;
esac
if [ "$list" -eq 1 ]; then
  echo "${packages[*]}"
  exit 0
fi
# A package is there when installed, or provided by an installed one (NodeSource's nodejs
# provides npm and conflicts with Debian's npm package).
installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" && return 0
  dpkg-query -W -f='${db:Status-Abbrev}|${Provides}\n' 2>/dev/null |
    grep '^ii' | cut -d'|' -f2 | tr ',' '\n' | sed 's/ *(.*//; s/^ *//' | grep -x "$1" >/dev/null
}
missing=()
for p in "${packages[@]}"; do
  if ! installed "$p"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
