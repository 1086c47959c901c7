#!/usr/bin/env bash
# swarm-testbed.sh up|down|status|env: a 3-node Docker Swarm on one machine,
# for hoist's Swarm engine tests and benchmarks.
#
#   up      start it (idempotent: a healthy test bed is left alone), then
#           print how to reach it, as `env` does
#   down    stop it; leaves no process, mount, cgroup, network namespace or
#           link behind (idempotent)
#   status  say what runs; exit 0 only when the whole test bed is healthy
#   env     print shell assignments to eval: HOIST_SWARM_MANAGER (the
#           manager's DOCKER_HOST), HOIST_SWARM_NODE1..3, HOIST_SWARM_REGISTRY,
#           HOIST_SWARM_AUTH_REGISTRY and its login (HOIST_SWARM_AUTH_USER,
#           HOIST_SWARM_AUTH_PASSWORD)
#   kill NODE   the node dies at once (n2 or n3): its dockerd, containerd,
#           shims and containers are killed, as when a machine loses power
#   start NODE  start a killed node again; it rejoins the swarm from its
#           data root, as a rebooted machine does
#
# Layout. Each node is one dockerd in a network namespace of its own
# (hoist-swarm-n1..3), with its own --data-root, --exec-root, --pidfile,
# unix socket, --config-file and --cgroup-parent, and a UTS namespace of
# its own so that each node has its own hostname (swarm names nodes by
# hostname). A hub namespace (hoist-swarm-hub) holds a bridge that joins
# the nodes through veth pairs, and two registries (Debian's
# docker-registry) that every node trusts (--insecure-registry): one open,
# one that wants a login (htpasswd basic auth), for the tests of the
# credentials hoist hands to the swarm. Nothing is created in the
# host's network namespace: every link lives in a namespace this script
# made, and traffic stays inside them. No namespace has a default route, so
# a pull from the internet fails at once instead of hanging.
#
#   hub  192.168.250.1   registry on :5000, registry with a login on :5001
#   n1   192.168.250.11  manager (the one to point hoist at)
#   n2   192.168.250.12  worker
#   n3   192.168.250.13  worker
#
# Images are preloaded with `docker load` (saved once from the host's
# dockerd, cached under the data dir): the busybox test image and the
# sample's two offline images (samples/images), or HOIST_SWARM_IMAGES.
#
# Facts learned on this machine kind (Debian 12, Engine 20.10, cgroup v1):
# - `ip netns exec` fails for dockerd: it remounts /sys in a new mount
#   namespace, which dockerd then trips on. `nsenter --net=` joins only the
#   network namespace and works.
# - `--config-file /dev/null` fails on 20.10 (it is not a JSON file): each
#   node gets a file holding {}.
# - Every dockerd reads /etc/docker/key.json, so the nodes share the host's
#   engine ID; swarm does not care (node IDs come from its certificates),
#   but `docker info`'s ID is the same on every node.
# - Overlay (VXLAN) traffic between the nodes works. IPVS is not in the
#   kernel (no /proc/net/ip_vs), so the routing mesh (ingress ports) and a
#   service's virtual IP do not load-balance here: use endpoint_mode: dnsrr
#   and ports in mode: host.
# - Killing dockerd leaves its containerd shims and their containers
#   running (the shims are subreapers). Teardown kills every process in
#   the nodes' network namespaces and cgroups, unmounts what is left under
#   the nodes' directories and removes the shims' sockets, which containerd
#   1.6 keeps in the host's /run/containerd/s/<hash> whatever the exec-root
#   (found with `ss -xlp` in the node's namespace before the kill).
# - Namespaces made with `ip netns add` are bind mounts in /run/netns; the
#   namespace itself lives while a process is in it, so processes go first.
#
# Environment: HOIST_SWARM_RUN (run state, default /run/hoist-swarm),
# HOIST_SWARM_DATA (data roots and the image cache, default
# /var/lib/hoist-swarm), HOIST_SWARM_IMAGES (images to preload, from the
# host's dockerd), HOIST_SWARM_TIMEOUT (seconds to wait for each step,
# default 60).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

NODES=(n1 n2 n3)
NS=hoist-swarm
NET=192.168.250
HUB_IP=$NET.1
REGISTRY=$HUB_IP:5000
# The registry with a login, and the test bed's only user of it. The hash
# is bcrypt's (which the registry's htpasswd wants) of AUTH_PASSWORD, made
# once with golang.org/x/crypto/bcrypt, so that up needs no htpasswd tool.
AUTH_REGISTRY=$HUB_IP:5001
AUTH_USER=hoist
AUTH_PASSWORD=hoist-testbed
AUTH_HASH='$2a$10$yJUPIqJpO48v0hs86npxM.iNutvjTg7bE2mGeYfcqNnIV7qF3uHWC'
RUN=${HOIST_SWARM_RUN:-/run/hoist-swarm}
DATA=${HOIST_SWARM_DATA:-/var/lib/hoist-swarm}
TIMEOUT=${HOIST_SWARM_TIMEOUT:-60}
TEST_IMAGE=hoist-test/busybox:latest
DEFAULT_IMAGES="$TEST_IMAGE hoist-local/python:3.11-bookworm hoist-local/redis:7-bookworm"

start=$(date +%s%N)
log() {
	local ms=$((($(date +%s%N) - start) / 1000000))
	printf 'swarm-testbed: [%d.%03ds] %s\n' $((ms / 1000)) $((ms % 1000)) "$*" >&2
}
die() {
	log "$*"
	exit 1
}

node_ip() { echo "$NET.1${1#n}"; }
node_ns() { echo "$NS-$1"; }
node_sock() { echo "$RUN/$1/docker.sock"; }
ndocker() {
	local n=$1
	shift
	docker -H "unix://$(node_sock "$n")" "$@"
}

# in_ns NS CMD...: run CMD in network namespace NS only (see the facts).
in_ns() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" -- "$@"
}

need() {
	local missing=()
	command -v dockerd >/dev/null || missing+=(docker.io)
	command -v docker-registry >/dev/null || missing+=(docker-registry)
	command -v nsenter >/dev/null || missing+=(util-linux)
	if ((${#missing[@]})); then
		"$here/apt-ensure.sh" "${missing[@]}"
	fi
	((EUID == 0)) || die "needs root (network namespaces, dockerd)"
}

# --- teardown --------------------------------------------------------------

# ns_pids NS: the processes in network namespace NS.
ns_pids() { ip netns pids "$1" 2>/dev/null || true; }

# cgroup_dirs NODE: the node's cgroups in every v1 hierarchy (its
# --cgroup-parent), deepest first.
cgroup_dirs() {
	local d
	for d in /sys/fs/cgroup/*/"$NS-$1"; do
		[[ -d $d ]] && find "$d" -type d
	done | awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2-
}

cgroup_pids() {
	local d
	for d in $(cgroup_dirs "$1"); do
		cat "$d/cgroup.procs" 2>/dev/null || true
	done
}

# shim_sockets NODE: the sockets the node's containerd shims listen on
# (under /run/containerd/s), as the node's namespace lists them.
shim_sockets() {
	in_ns "$(node_ns "$1")" ss -xlpn 2>/dev/null |
		awk '/containerd-shim/ { for (i = 1; i <= NF; i++) if ($i ~ "^/run/containerd/s/") print $i }'
}

# ancestors: this script and the processes it runs under. A caller whose
# main thread sits in a test bed namespace (a test that entered one and
# did not leave) is named, not killed.
ancestors() {
	local p=$$
	while [[ -n $p && $p != 0 && $p != 1 ]]; do
		echo "$p"
		p=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
	done
}

# kill_until_gone WHAT PIDS-FUNCTION ARG: SIGKILL until nothing is left.
kill_until_gone() {
	local what=$1 fn=$2 arg=$3 pids p deadline=$((SECONDS + 10))
	for p in $($fn "$arg"); do
		if ancestors | grep -qx "$p"; then
			die "$what: process $p ($(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-80)), which runs this script, is in the test bed's namespace: refusing to kill it"
		fi
	done
	while pids=$($fn "$arg") && [[ -n $pids ]]; do
		# shellcheck disable=SC2086 # a list of pids
		kill -9 $pids 2>/dev/null || true
		((SECONDS < deadline)) || die "$what: processes left: $pids"
		sleep 0.05
	done
}

node_procs() {
	ns_pids "$(node_ns "$1")"
	cgroup_pids "$1"
}

# umount_under DIR: DIR and every mount below it. dockerd bind-mounts its
# data root onto itself (shared propagation), so the root is one too.
umount_under() {
	local dir=$1 m
	# Mount points are octal-escaped in mountinfo (\040 for a space); ours
	# have none. Deepest first.
	for m in $(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print length($5) " " $5 }' /proc/self/mountinfo | sort -rn | cut -d' ' -f2-); do
		umount -l "$m" 2>/dev/null || true
	done
}

# kill_node NODE: every process of the node goes, its mounts and cgroups
# too; its namespace, link and data root stay for start_node.
kill_node() {
	local n=$1 socks
	socks=$(shim_sockets "$n")
	if [[ -f $RUN/$n/docker.pid ]]; then
		kill -9 "$(cat "$RUN/$n/docker.pid")" 2>/dev/null || true
	fi
	kill_until_gone "node $n" node_procs "$n"
	for d in $(cgroup_dirs "$n"); do
		rmdir "$d" 2>/dev/null || true
	done
	umount_under "$RUN/$n"
	umount_under "$DATA/$n"
	# shellcheck disable=SC2086 # a list of paths
	[[ -z $socks ]] || rm -f $socks
	# A restarted dockerd reuses the containerd its pid file names while
	# that pid answers kill -0, which a killed containerd not yet reaped
	# still does: it then waits for a socket that never comes.
	rm -f "$RUN/$n/docker.pid" "$RUN/$n/docker.sock" "$RUN/$n/exec/containerd/containerd.pid"
}

teardown_node() {
	kill_node "$1"
	ip netns del "$(node_ns "$1")" 2>/dev/null || true
}

down() {
	local n
	for n in "${NODES[@]}"; do
		teardown_node "$n" &
	done
	wait
	kill_until_gone hub ns_pids "$NS-hub"
	ip netns del "$NS-hub" 2>/dev/null || true
	# Node data roots go: a node starts empty (images come from the
	# cache, which stays).
	for n in "${NODES[@]}"; do
		rm -rf "${DATA:?}/$n"
	done
	rm -rf "${DATA:?}/registry" "${DATA:?}/registry-auth" "${RUN:?}"
	leftovers
}

# leftovers: fail if anything of the test bed is still there.
leftovers() {
	local bad=()
	local n
	for n in "${NODES[@]}" hub; do
		[[ -e /run/netns/$NS-$n ]] && bad+=("namespace $NS-$n")
	done
	for n in "${NODES[@]}"; do
		[[ -n $(cgroup_dirs "$n") ]] && bad+=("cgroups of $n")
	done
	if grep -qE " ($RUN|$DATA)[/ ]" /proc/self/mountinfo; then
		bad+=("mounts under $RUN or $DATA")
	fi
	if ((${#bad[@]})); then
		die "left behind: ${bad[*]}"
	fi
}

# --- start -----------------------------------------------------------------

network() {
	local n
	ip netns add "$NS-hub"
	ip -n "$NS-hub" link set lo up
	ip -n "$NS-hub" link add br0 type bridge
	ip -n "$NS-hub" addr add "$HUB_IP/24" dev br0
	ip -n "$NS-hub" link set br0 up
	for n in "${NODES[@]}"; do
		ip netns add "$(node_ns "$n")"
		ip -n "$(node_ns "$n")" link set lo up
		# The pair is made inside the hub and its peer put straight into
		# the node: no link ever appears in the host's namespace.
		ip -n "$NS-hub" link add "$n" type veth peer name eth0 netns "$(node_ns "$n")"
		ip -n "$NS-hub" link set "$n" master br0 up
		ip -n "$(node_ns "$n")" addr add "$(node_ip "$n")/24" dev eth0
		ip -n "$(node_ns "$n")" link set eth0 up
	done
}

registry() {
	mkdir -p "$DATA/registry" "$DATA/registry-auth"
	cat >"$RUN/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $DATA/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY
EOF
	printf '%s:%s\n' "$AUTH_USER" "$AUTH_HASH" >"$RUN/registry-auth.htpasswd"
	cat >"$RUN/registry-auth.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $DATA/registry-auth
  delete:
    enabled: true
http:
  addr: $AUTH_REGISTRY
auth:
  htpasswd:
    realm: hoist-swarm-testbed
    path: $RUN/registry-auth.htpasswd
EOF
	local r
	for r in registry registry-auth; do
		# shellcheck disable=SC2016 # $1.. belong to the inner shell
		closed setsid bash -c 'exec nsenter --net="$1" -- docker-registry serve "$2" >>"$3" 2>&1 </dev/null' _ \
			"/run/netns/$NS-hub" "$RUN/$r.yml" "$RUN/$r.log" &
	done
}

start_node() {
	local n=$1 dir=$RUN/$1
	mkdir -p "$dir" "$DATA/$n"
	echo '{}' >"$dir/daemon.json"
	# A session of its own: the daemon outlives this script. Its own UTS
	# namespace: the node's hostname is the namespace's name.
	# shellcheck disable=SC2016 # $1.. belong to the inner shell
	closed setsid nsenter --net="/run/netns/$(node_ns "$n")" -- unshare --uts -- bash -c '
		hostname "$1"
		exec dockerd --data-root "$2" --exec-root "$3" --pidfile "$4" -H "unix://$5" \
			--config-file "$6" --cgroup-parent "/$1" --insecure-registry "$7" \
			--insecure-registry "$9" --log-level warn >>"$8" 2>&1 </dev/null' _ \
		"$(node_ns "$n")" "$DATA/$n" "$dir/exec" "$dir/docker.pid" "$dir/docker.sock" \
		"$dir/daemon.json" "$REGISTRY" "$dir/dockerd.log" "$AUTH_REGISTRY" &
}

# closed runs a daemon with every descriptor above 2 closed; it execs,
# so it is called in a subshell (closed daemon args &): a daemon must hold none of its caller's locks, neither this
# script's nor one a caller's flock(1) passed down (flock
# /tmp/hoist-heavy.lock swarm-testbed.sh up), or the next taker of that
# lock waits for as long as the test bed is up.
closed() {
	local fd
	for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		if ((fd > 2)); then
			eval "exec $fd>&-" 2>/dev/null || true
		fi
	done
	exec "$@"
}

wait_for() {
	local what=$1 deadline=$((SECONDS + TIMEOUT))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || die "$what did not come up within ${TIMEOUT}s"
		sleep 0.1
	done
}

# images_tar: the preloaded images, saved from the host's dockerd once per
# set of image IDs.
images_tar() {
	local images=${HOIST_SWARM_IMAGES:-$DEFAULT_IMAGES} ids key tar img
	"$here/ensure-docker.sh"
	for img in $images; do
		if docker image inspect "$img" >/dev/null 2>&1; then
			continue
		fi
		case $img in
		"$TEST_IMAGE") make_test_image ;;
		hoist-local/*) HOIST_ENGINE=docker "$root/samples/images/load.sh" >/dev/null ;;
		*) die "image $img is not in the host's dockerd: load it, or set HOIST_SWARM_IMAGES" ;;
		esac
	done
	# shellcheck disable=SC2086 # a list of images
	ids=$(docker image inspect --format '{{.Id}}' $images)
	key=$(printf '%s\n' "$images" "$ids" | sha256sum | cut -c1-16)
	tar=$DATA/images-$key.tar
	if [[ ! -f $tar ]]; then
		mkdir -p "$DATA"
		rm -f "$DATA"/images-*.tar
		log "saving $images"
		# shellcheck disable=SC2086
		docker save -o "$tar.tmp" $images
		mv "$tar.tmp" "$tar"
	fi
	echo "$tar"
}

# make_test_image: the busybox test image (as internal/testimage makes it:
# busybox-static and its applets), imported into the host's dockerd.
make_test_image() {
	"$here/apt-ensure.sh" busybox-static
	local d
	d=$(mktemp -d)
	mkdir -p "$d"/{bin,etc,tmp,proc,sys,dev,root}
	chmod 1777 "$d/tmp"
	cp /bin/busybox "$d/bin/busybox"
	for a in $(/bin/busybox --list); do
		[[ $a == busybox ]] || ln -s busybox "$d/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$d/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$d/etc/group"
	tar -C "$d" -c . | docker import --change 'CMD ["sh"]' - "$TEST_IMAGE" >/dev/null
	rm -rf "$d"
}

healthy() {
	local n state
	[[ -e /run/netns/$NS-hub ]] || return 1
	in_ns "$NS-hub" bash -c "exec 3<>/dev/tcp/$HUB_IP/5000" 2>/dev/null || return 1
	in_ns "$NS-hub" bash -c "exec 3<>/dev/tcp/$HUB_IP/5001" 2>/dev/null || return 1
	for n in "${NODES[@]}"; do
		state=$(ndocker "$n" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null) || return 1
		[[ $state == active ]] || return 1
	done
	[[ $(ndocker n1 node ls --filter role=manager -q 2>/dev/null | wc -l) -ge 1 ]] || return 1
	[[ $(ndocker n1 node ls --format '{{.Status}}' 2>/dev/null | grep -c Ready) == "${#NODES[@]}" ]]
}

up() {
	if healthy; then
		log "already up"
		env_lines
		return
	fi
	# Anything half made goes first.
	down
	mkdir -p "$RUN" "$DATA"
	local tar
	tar=$(images_tar)
	log "network and registry"
	network
	registry
	log "starting ${NODES[*]}"
	for n in "${NODES[@]}"; do
		start_node "$n"
	done
	for n in "${NODES[@]}"; do
		wait_for "dockerd $n" ndocker "$n" version
	done
	log "swarm init on n1, loading images on every node"
	# Loads and the swarm run side by side: the loads take the longest.
	local pids=()
	for n in "${NODES[@]}"; do
		ndocker "$n" load -q -i "$tar" >/dev/null &
		pids+=($!)
	done
	ndocker n1 swarm init --advertise-addr "$(node_ip n1)" --listen-addr "$(node_ip n1):2377" >/dev/null
	local token
	token=$(ndocker n1 swarm join-token -q worker)
	for n in "${NODES[@]:1}"; do
		ndocker "$n" swarm join --token "$token" --advertise-addr "$(node_ip "$n")" --listen-addr "$(node_ip "$n"):2377" "$(node_ip n1):2377" >/dev/null &
		pids+=($!)
	done
	local p
	for p in "${pids[@]}"; do
		wait "$p" || die "a node failed to load images or join (logs: $RUN/*/dockerd.log)"
	done
	wait_for registry in_ns "$NS-hub" bash -c "exec 3<>/dev/tcp/$HUB_IP/5000"
	wait_for "the registry with a login" in_ns "$NS-hub" bash -c "exec 3<>/dev/tcp/$HUB_IP/5001"
	wait_for "the swarm" healthy
	log "up"
	env_lines
}

env_lines() {
	local n
	echo "HOIST_SWARM_MANAGER=unix://$(node_sock n1)"
	for n in "${NODES[@]}"; do
		echo "HOIST_SWARM_NODE${n#n}=unix://$(node_sock "$n")"
	done
	echo "HOIST_SWARM_REGISTRY=$REGISTRY"
	echo "HOIST_SWARM_AUTH_REGISTRY=$AUTH_REGISTRY"
	echo "HOIST_SWARM_AUTH_USER=$AUTH_USER"
	echo "HOIST_SWARM_AUTH_PASSWORD=$AUTH_PASSWORD"
	echo "# reach a node: DOCKER_HOST=unix://$(node_sock n1) docker node ls" >&2
}

status() {
	local n state ok=0
	for n in "${NODES[@]}"; do
		state=$(ndocker "$n" info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null) || state="not running"
		echo "$n $(node_ip "$n") DOCKER_HOST=unix://$(node_sock "$n") swarm: $state"
	done
	if in_ns "$NS-hub" bash -c "exec 3<>/dev/tcp/$HUB_IP/5000" 2>/dev/null; then
		echo "registry $REGISTRY: up"
	else
		echo "registry $REGISTRY: down"
	fi
	if in_ns "$NS-hub" bash -c "exec 3<>/dev/tcp/$HUB_IP/5001" 2>/dev/null; then
		echo "registry with a login $AUTH_REGISTRY: up"
	else
		echo "registry with a login $AUTH_REGISTRY: down"
	fi
	healthy || ok=1
	return $ok
}

# The lock serialises up and down (tests may call up side by side); the
# daemons started do not inherit it (closed), or the next caller would
# wait for them forever.
exec 9>"/run/$NS.lock"
case ${1:-} in
up)
	need
	flock 9
	up
	;;
down)
	need
	flock 9
	down
	log "down"
	;;
kill | start)
	need
	[[ ${2:-} == n[23] ]] || die "usage: $0 $1 n2|n3 (n1 is the only manager)"
	flock 9
	if [[ $1 == kill ]]; then
		kill_node "$2"
		log "$2 killed"
	else
		[[ -e /run/netns/$(node_ns "$2") ]] || die "the test bed is not up"
		start_node "$2"
		wait_for "dockerd $2" ndocker "$2" version
		wait_for "$2 in the swarm" bash -c "[[ \$(docker -H unix://$(node_sock "$2") info --format '{{.Swarm.LocalNodeState}}') == active ]]"
		log "$2 started"
	fi
	;;
status) status ;;
env) env_lines ;;
*)
	echo "usage: $0 up|down|status|env|kill NODE|start NODE" >&2
	exit 2
	;;
esac
