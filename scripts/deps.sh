#!/usr/bin/env bash
# deps.sh installs what Wharf's dev stack and tests need, idempotently:
#   - the pinned HashiCorp agents (MPL-2.0 releases only) and the object store (Versity's
#     S3 gateway, Apache-2.0), built from the Go module proxy and cached by version under
#     $WHARF_CACHE/bin (default ~/.cache/wharf/bin);
#   - Debian packages (docker-registry, postgresql, busybox-static, ...);
#   - the local base image wharf/busybox (FROM scratch + Debian's static busybox),
#     because no image can be pulled on these machines;
#   - OpenTofu (MPL-2.0), built from the module proxy like the agents, for the
#     Terraform provider's tests and examples.
# A second run finds everything in place and returns in seconds.
#
# Usage: scripts/deps.sh [all|agents|agent NAME|packages|image]   (NAME: nomad, consul, vault, versitygw, tofu)
set -euo pipefail

NOMAD_VERSION=1.6.1
CONSUL_VERSION=1.14.5
VAULT_VERSION=1.14.1
VERSITYGW_VERSION=1.8.0
OPENTOFU_VERSION=1.12.6

CACHE=${WHARF_CACHE:-$HOME/.cache/wharf}
BIN=$CACHE/bin
mkdir -p "$BIN"

log() { printf 'deps: %s\n' "$*" >&2; }

# build_agent NAME MODULE VERSION EDIT-FUNCTION [PACKAGE [LDFLAGS]] builds MODULE@VERSION
# (its PACKAGE, the module's root by default) into $BIN/NAME-VERSION unless it is there
# already. EDIT-FUNCTION adjusts go.mod in the copied module directory.
build_agent() {
	local name=$1 module=$2 version=$3 edit=$4 pkg=${5:-.} ldflags=${6:-}
	local out=$BIN/$name-$version
	if [ -x "$out" ]; then
		return 0
	fi
	log "building $name $version from $module@v$version (first time only; minutes)"
	local start=$SECONDS src work
	src=$(GOFLAGS=-mod=mod go mod download -json "$module@v$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	if [ -z "$src" ] || [ ! -d "$src" ]; then
		log "could not download $module@v$version"
		return 1
	fi
	work=$(mktemp -d "$CACHE/build-$name.XXXXXX")
	cp -r "$src/." "$work/"
	chmod -R u+w "$work"
	(
		cd "$work"
		"$edit"
		GOFLAGS=-mod=mod GOTOOLCHAIN=local go build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg"
	)
	mv "$out.tmp" "$out"
	rm -rf "$work"
	log "built $name $version in $((SECONDS - start))s"
}

edit_nomad() {
	go mod edit -replace github.com/hashicorp/nomad/api=github.com/hashicorp/nomad/api@v0.0.0-20230721134942-515895c7690c
}

edit_consul() {
	go mod edit -dropreplace github.com/hashicorp/consul/api \
		-dropreplace github.com/hashicorp/consul/sdk \
		-dropreplace github.com/hashicorp/consul/proto-public
}

edit_vault() {
	local r
	# Drop every replace whose target is a directory inside the module (those are separate
	# modules the proxy serves on their own), then pin the sdk as DESIGN.md says.
	for r in $(go mod edit -json | python3 -c '
import json,sys
for r in json.load(sys.stdin).get("Replace") or []:
    if r["New"]["Path"].startswith("./"):
        print(r["Old"]["Path"])
'); do
		go mod edit -dropreplace "$r"
	done
	go mod edit -replace github.com/hashicorp/vault/sdk=github.com/hashicorp/vault/sdk@v0.9.2-0.20230721171514-bf23fe8636b0
}

# versitygw's and OpenTofu's go.mod need no change: their modules build as the proxy
# serves them (OpenTofu's one replace points at a served module).
edit_none() { :; }

agent() {
	case $1 in
	# version.dev=no: a release build (`tofu version` prints v1.12.6, not v1.12.6-dev).
	tofu) build_agent tofu github.com/opentofu/opentofu "$OPENTOFU_VERSION" edit_none ./cmd/tofu "-X github.com/opentofu/opentofu/version.dev=no" ;;
	nomad) build_agent nomad github.com/hashicorp/nomad "$NOMAD_VERSION" edit_nomad ;;
	consul) build_agent consul github.com/hashicorp/consul "$CONSUL_VERSION" edit_consul ;;
	vault) build_agent vault github.com/hashicorp/vault "$VAULT_VERSION" edit_vault ;;
	versitygw) build_agent versitygw github.com/versity/versitygw "$VERSITYGW_VERSION" edit_none ./cmd/versitygw ;;
	*) log "unknown agent $1"; return 2 ;;
	esac
}

# agents builds the four at once: most of a cold build is waiting on the module proxy.
# (This machine built all three from an empty module cache in 14 minutes this way.)
agents() {
	local pids=() rc=0 p
	for a in consul vault nomad versitygw; do
		agent "$a" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || rc=1
	done
	return $rc
}

# haproxy and caddy are only measured against (make bench); util-linux brings taskset;
# tmux gives e2e TestRuns a terminal to drive wharf exec in. containernetworking-plugins
# (1.1.1, in /usr/lib/cni) and iptables give Nomad's bridge network mode, which the
# local cloudspace's tasks run in.
PACKAGES=(docker-registry postgresql busybox-static iproute2 ca-certificates git chromium haproxy caddy util-linux tmux containernetworking-plugins iptables)

packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		return 0
	fi
	log "installing Debian packages: ${missing[*]}"
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# The packaged services must not hold the ports or data the dev stack uses.
	for s in docker-registry postgresql haproxy caddy; do
		$sudo systemctl disable --now "$s" >/dev/null 2>&1 || $sudo service "$s" stop >/dev/null 2>&1 || true
	done
}

# Not tagged latest: Nomad's docker driver always pulls an image tagged latest.
IMAGE=wharf/busybox:1

# The pause image holds each allocation's network namespace in Nomad's bridge mode (the
# docker plugin's infra_image; Nomad's default would be pulled). internal/devstack
# builds the same when it is missing.
PAUSE_IMAGE=wharf/pause:1

image() {
	base_image
	if ! docker image inspect "$PAUSE_IMAGE" >/dev/null 2>&1; then
		log "building $PAUSE_IMAGE from $IMAGE"
		printf 'FROM %s\nCMD ["/bin/sh", "-c", "trap '"'"'exit 0'"'"' TERM INT; while :; do sleep 3600 & wait $!; done"]\n' "$IMAGE" |
			docker build -q -t "$PAUSE_IMAGE" - >/dev/null
	fi
}

base_image() {
	if docker image inspect "$IMAGE" >/dev/null 2>&1; then
		return 0
	fi
	log "building base image $IMAGE from Debian's busybox-static"
	local ctx
	ctx=$(mktemp -d)
	mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/tmp" "$ctx/rootfs/etc" "$ctx/rootfs/var/www"
	cp /bin/busybox "$ctx/rootfs/bin/busybox"
	# Every applet as a link, so /bin/sh, httpd, wget, ... exist in the image.
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -sf busybox "$ctx/rootfs/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$ctx/rootfs/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$ctx/rootfs/etc/group"
	cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
ENV PATH=/bin
CMD ["/bin/sh"]
DOCKERFILE
	docker build -q -t "$IMAGE" "$ctx" >/dev/null
	rm -rf "$ctx"
}

case ${1:-all} in
all) packages; image; agents; agent tofu; "$(dirname "$0")/pebble.sh" ;;
agents) agents ;;
agent) agent "$2" ;;
packages) packages ;;
image) image ;;
*) log "usage: $0 [all|agents|agent NAME|packages|image] (NAME: nomad, consul, vault, versitygw, tofu)"; exit 2 ;;
esac
