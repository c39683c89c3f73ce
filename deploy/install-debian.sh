#!/usr/bin/env bash
# Install the Debian packages one of the two set-up commands needs, only when one is missing.
#   deploy/install-debian.sh run    what `make run` needs: the sandbox wiki (MediaWiki, PHP, a web server)
#   deploy/install-debian.sh test   that, and Chromium for the browser tests, dovecot for the IMAP poller's
#   deploy/install-debian.sh --list run|test   print the packages and install nothing
set -euo pipefail
list=0
if [ "${1:-}" = "--list" ]; then
  list=1
  shift
fi
run_packages=(mediawiki php-sqlite3 php-cli php8.2-cgi micro-httpd)
case "${1:-test}" in
  run) packages=("${run_packages[@]}") ;;
  test) packages=("${run_packages[@]}" chromium dovecot-imapd) ;;
  *) echo "usage: $0 [--list] run|test" >&2; exit 2 ;;
esac
if [ "$list" -eq 1 ]; then
  echo "${packages[*]}"
  exit 0
fi
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
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
