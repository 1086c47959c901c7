#!/usr/bin/env bash
# ensure-docker.sh [--bench]: make sure a Docker engine answers, idempotently.
#
# - Installs Debian's docker.io when docker or dockerd is missing (and
#   docker-compose too with --bench or HOIST_WITH_COMPOSE=1).
# - When "docker info" fails, starts "dockerd --iptables=false" in the
#   background (logs: ${HOIST_DOCKERD_LOG:-/var/log/hoist-dockerd.log}) and
#   leaves it running.
# - Waits until "docker info" answers, up to HOIST_DOCKER_TIMEOUT seconds
#   (default 60), and fails with the end of the log otherwise.
# An engine that already answers is left alone.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { echo "ensure-docker: $*" >&2; }

want_compose=${HOIST_WITH_COMPOSE:-0}
for arg in "$@"; do
	case $arg in
	--bench) want_compose=1 ;;
	*)
		log "usage: $0 [--bench]"
		exit 2
		;;
	esac
done

pkgs=()
if ! command -v docker >/dev/null || ! command -v dockerd >/dev/null; then
	pkgs+=(docker.io)
fi
if [[ $want_compose == 1 ]] && ! command -v docker-compose >/dev/null; then
	pkgs+=(docker-compose)
fi
if ((${#pkgs[@]} > 0)); then
	"$here/apt-ensure.sh" "${pkgs[@]}"
fi

if docker info >/dev/null 2>&1; then
	exit 0
fi

sudo=()
((EUID == 0)) || sudo=(sudo)
logfile=${HOIST_DOCKERD_LOG:-/var/log/hoist-dockerd.log}
pidfile=/var/run/docker.pid
if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
	log "dockerd (pid $(cat "$pidfile")) is running but not answering yet; waiting"
else
	log "starting dockerd --iptables=false (log: $logfile)"
	# A subshell's background job, in its own session: the daemon is not our
	# child (no zombie to mistake for a live daemon) and outlives this script.
	# shellcheck disable=SC2016 # $1 and $! belong to the inner shell
	pid=$("${sudo[@]}" bash -c 'setsid nohup dockerd --iptables=false >>"$1" 2>&1 </dev/null & echo $!' _ "$logfile")
fi

deadline=$((SECONDS + ${HOIST_DOCKER_TIMEOUT:-60}))
until docker info >/dev/null 2>&1; do
	if [[ -n ${pid:-} ]] && ! kill -0 "$pid" 2>/dev/null; then
		log "dockerd exited; end of $logfile:"
		tail -n 30 "$logfile" >&2 || true
		exit 1
	fi
	if ((SECONDS >= deadline)); then
		log "docker did not answer within ${HOIST_DOCKER_TIMEOUT:-60}s; end of $logfile:"
		tail -n 30 "$logfile" >&2 || true
		exit 1
	fi
	sleep 0.5
done
log "docker is ready ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
