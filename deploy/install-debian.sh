#!/usr/bin/env bash
# Install the Debian packages the tests and the sandbox need (the wiki, Chromium for
# browser tests, dovecot for the IMAP poller), only when one is missing.
set -euo pipefail
packages=(mediawiki php-sqlite3 php-cli php8.2-cgi micro-httpd chromium dovecot-imapd)
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
