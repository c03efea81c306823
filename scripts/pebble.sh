#!/usr/bin/env bash
# pebble.sh builds Let's Encrypt's ACME test server Pebble, and its companion DNS server
# pebble-challtestsrv, from the Go module proxy into $WHARF_CACHE/bin (default
# ~/.cache/wharf/bin), cached by version, so the ingress's TLS tests can order
# certificates from a real ACME server on loopback. A second run does nothing.
#
# Usage: scripts/pebble.sh
set -euo pipefail

PEBBLE_VERSION=2.10.3

CACHE=${WHARF_CACHE:-$HOME/.cache/wharf}
BIN=$CACHE/bin
mkdir -p "$BIN"

log() { printf 'pebble: %s\n' "$*" >&2; }

if [ -x "$BIN/pebble-$PEBBLE_VERSION" ] && [ -x "$BIN/pebble-challtestsrv-$PEBBLE_VERSION" ]; then
	exit 0
fi
log "building pebble $PEBBLE_VERSION from github.com/letsencrypt/pebble/v2 (first time only)"
src=$(GOFLAGS=-mod=mod go mod download -json "github.com/letsencrypt/pebble/v2@v$PEBBLE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$src" ] || [ ! -d "$src" ]; then
	log "could not download github.com/letsencrypt/pebble/v2@v$PEBBLE_VERSION"
	exit 1
fi
work=$(mktemp -d "$CACHE/build-pebble.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r "$src/." "$work/"
chmod -R u+w "$work"
cd "$work"
for cmd in pebble pebble-challtestsrv; do
	GOFLAGS=-mod=mod GOTOOLCHAIN=local go build -trimpath -o "$BIN/$cmd-$PEBBLE_VERSION.tmp" "./cmd/$cmd"
	mv "$BIN/$cmd-$PEBBLE_VERSION.tmp" "$BIN/$cmd-$PEBBLE_VERSION"
done
# Pebble's own TLS certificate and the CA that signed it, for clients of its API.
mkdir -p "$BIN/pebble-$PEBBLE_VERSION-certs"
cp test/certs/pebble.minica.pem test/certs/localhost/cert.pem test/certs/localhost/key.pem "$BIN/pebble-$PEBBLE_VERSION-certs/"
log "built pebble $PEBBLE_VERSION"
