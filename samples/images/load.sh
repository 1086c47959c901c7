#!/usr/bin/env bash
# load.sh: build (cached, see build.sh) the bookworm rootfs tarball and load it
# into the selected engine as the sample's two base images:
#
#   hoist-local/python:3.11-bookworm  python3, pip, flask, redis-py; Cmd python3
#   hoist-local/redis:7-bookworm      redis-server 7.0, redis-cli; port 6379
#
# HOIST_ENGINE selects the engine: docker, native, or auto (the default,
# as hoist's own): native when running as root on Linux, docker otherwise.
# An image is imported again only when its tarball or config changed: each
# image carries the label dev.hoist.image.key, a hash of both.
#
# Progress goes to stderr. stdout is only shell assignments, to eval; the last
# two lines are exactly PYTHON_IMAGE=<ref> and REDIS_IMAGE=<ref>:
#   eval "$(samples/images/load.sh)"
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
log() { echo "images/load: $*" >&2; }

ENGINE=${HOIST_ENGINE:-auto}
if [[ $ENGINE == auto ]]; then
	if [[ $(id -u) == 0 && $(uname -s) == Linux ]]; then ENGINE=native; else ENGINE=docker; fi
fi
PYTHON_REF=hoist-local/python:3.11-bookworm
REDIS_REF=hoist-local/redis:7-bookworm
LABEL=dev.hoist.image.key
PATH_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Image configs, as docker import --change instructions (the Go side that
# imports the rootfs itself takes the same from internal/testimage/sample.go).
python_changes=(
	"ENV $PATH_ENV"
	"ENV LANG=C.UTF-8"
	"ENV PIP_NO_INDEX=1"
	'CMD ["python3"]'
)
# Protected mode off, as the official redis image does: clients come from
# other containers, not from localhost.
redis_changes=(
	"ENV $PATH_ENV"
	"WORKDIR /data"
	"EXPOSE 6379"
	'CMD ["redis-server", "--protected-mode", "no"]'
)

# image_key CHANGE...: what an image is made of: the tarball and its config.
image_key() {
	{
		echo "$digest"
		printf '%s\n' "$@"
	} | sha256sum | cut -c1-32
}

hoist_bin() {
	local bin=${HOIST_BIN:-$root/bin/hoist}
	if [[ ! -x $bin ]]; then
		bin=$(command -v hoist || true)
	fi
	if [[ -z $bin ]]; then
		log "HOIST_ENGINE=native needs the hoist binary: run 'go tool task build' (or set HOIST_BIN)"
		exit 1
	fi
	if ! "$bin" image import --help >/dev/null 2>&1; then
		log "$bin does not support 'hoist image import' yet, so HOIST_ENGINE=native cannot load the sample images; use HOIST_ENGINE=docker"
		exit 1
	fi
	echo "$bin"
}

# load REF CHANGE...: import the tarball as REF unless REF already has this key.
load() {
	local ref=$1 key have start args=() c
	shift
	key=$(image_key "$@")
	for c in "$@" "LABEL $LABEL=$key"; do
		args+=(--change "$c")
	done
	case $ENGINE in
	docker)
		have=$(docker image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$ref" 2>/dev/null || true)
		if [[ $have == "$key" ]]; then
			log "$ref is up to date (docker)"
			return
		fi
		start=$SECONDS
		log "docker import $ref"
		docker import "${args[@]}" "$tar" "$ref" >/dev/null
		log "imported $ref in $((SECONDS - start))s"
		;;
	native)
		local bin
		bin=$(hoist_bin)
		# hoist image inspect prints JSON (no --format): pick the label.
		have=$("$bin" image inspect "$ref" 2>/dev/null | sed -n "s/.*\"$LABEL\": *\"\([^\"]*\)\".*/\1/p" | head -n 1 || true)
		if [[ $have == "$key" ]]; then
			log "$ref is up to date (native)"
			return
		fi
		start=$SECONDS
		log "hoist image import $ref"
		"$bin" image import "${args[@]}" "$tar" "$ref" >/dev/null
		log "imported $ref in $((SECONDS - start))s"
		;;
	esac
}

case $ENGINE in
docker) ;;
native) hoist_bin >/dev/null ;; # fail before the build, not after
*)
	log "unknown HOIST_ENGINE=$ENGINE (want docker or native)"
	exit 2
	;;
esac

tar=$("$here/build.sh" | tail -n 1)
[[ -f $tar ]] || {
	log "build.sh gave no tarball ($tar)"
	exit 1
}
tar=$(realpath "$tar")
digest=$(cat "$tar.sha256" 2>/dev/null || sha256sum "$tar" | cut -d' ' -f1)

load "$PYTHON_REF" "${python_changes[@]}"
load "$REDIS_REF" "${redis_changes[@]}"

printf 'HOIST_SAMPLE_ROOTFS=%q\n' "$tar"
echo "PYTHON_IMAGE=$PYTHON_REF"
echo "REDIS_IMAGE=$REDIS_REF"
