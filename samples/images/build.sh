#!/usr/bin/env bash
# build.sh: build (once, cached) the Debian bookworm root filesystem that the
# offline sample images are made of, and print the tarball's path as the last
# line on stdout. Progress goes to stderr.
#
# No registry is needed: debootstrap fetches .debs from a Debian mirror.
#
# Cache layout under ${HOIST_IMAGE_CACHE:-/var/cache/hoist/images}:
#   bookworm-sample-<key>/bookworm-sample.tar   the rootfs tarball
#   bookworm-sample-<key>/bookworm-sample.tar.sha256
#   bookworm-sample-<key>/recipe                what <key> was hashed from
#   bookworm-sample.tar -> bookworm-sample-<key>/bookworm-sample.tar
# <key> is a hash of the recipe below (suite, variant, packages, post-processing
# revision), so changing the recipe builds a new tarball. A build happens in a
# temporary directory that is renamed into place only when complete, under a
# lock, so an interrupted or concurrent build never leaves a broken cache.
#
# Environment:
#   HOIST_IMAGE_CACHE     cache directory (default /var/cache/hoist/images)
#   HOIST_DEBIAN_MIRROR   mirror (default http://deb.debian.org/debian); not
#                         part of the key, any mirror gives the same packages
#   HOIST_IMAGE_REBUILD=1 build even when the cache is valid
#   HOIST_DEBOOTSTRAP_TIMEOUT  give up on debootstrap after this (default 20m)
set -euo pipefail

CACHE=${HOIST_IMAGE_CACHE:-/var/cache/hoist/images}
MIRROR=${HOIST_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
VARIANT=minbase
PACKAGES=python3,python3-pip,python3-flask,python3-redis,redis-server,python-is-python3
# Bump when the post-processing below changes what ends up in the tarball.
RECIPE_REV=1
NAME=bookworm-sample.tar

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { echo "images/build: $*" >&2; }

recipe="suite=$SUITE variant=$VARIANT packages=$PACKAGES rev=$RECIPE_REV"
key=$(printf '%s\n' "$recipe" | sha256sum | cut -c1-16)
dir=$CACHE/bookworm-sample-$key
link=$CACHE/$NAME

# umount_under PATH: unmount whatever debootstrap left mounted below PATH
# (proc, sys, dev after an interrupted run), deepest first.
umount_under() {
	local root mnt
	root=$(realpath -m "$1")
	awk '{print $2}' /proc/self/mounts | sed 's/\\040/ /g' |
		awk -v r="$root/" 'index($0, r) == 1' | sort -r |
		while IFS= read -r mnt; do umount -l "$mnt" 2>/dev/null || true; done
}

# remove PATH: delete a build directory without following mounts out of it.
remove() {
	[[ -e $1 ]] || return 0
	umount_under "$1"
	rm -rf --one-file-system "$1"
}

cache_valid() {
	[[ -f $dir/$NAME && -f $dir/$NAME.sha256 && $(readlink "$link" 2>/dev/null) == "bookworm-sample-$key/$NAME" ]]
}

if [[ ${HOIST_IMAGE_REBUILD:-} != 1 ]] && cache_valid; then
	log "cached: $dir/$NAME"
	echo "$link"
	exit 0
fi

if ((EUID != 0)); then
	log "building needs root (debootstrap, numeric ownership); try: sudo $0"
	exit 1
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
	log "waiting for another build (lock $CACHE/.lock)"
	flock -w 1800 9
fi

# Whoever held the lock may have built it meanwhile.
if [[ ${HOIST_IMAGE_REBUILD:-} != 1 ]] && [[ -f $dir/$NAME && -f $dir/$NAME.sha256 ]]; then
	ln -sfn "bookworm-sample-$key/$NAME" "$CACHE/.$NAME.new" && mv -Tf "$CACHE/.$NAME.new" "$link"
	log "cached: $dir/$NAME"
	echo "$link"
	exit 0
fi

# We hold the lock, so any leftover temporary directory is from a dead build.
for stale in "$CACHE"/.build.*; do
	[[ -e $stale ]] || continue
	log "removing leftover $stale"
	remove "$stale"
done

"$here/../../scripts/apt-ensure.sh" debootstrap

tmp=$(mktemp -d "$CACHE/.build.XXXXXX")
trap 'remove "$tmp"' EXIT
# debootstrap runs in the background under timeout(1), which puts it in its
# own process group and passes a signal on to all of it; "wait" lets our trap
# run at once on Ctrl-C or TERM, stop the whole tree, then clean up.
child=
on_signal() {
	if [[ -n $child ]]; then
		kill -TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	exit 130
}
trap on_signal INT TERM HUP
rootfs=$tmp/rootfs

start=$SECONDS
log "debootstrap $SUITE ($VARIANT, $PACKAGES) from $MIRROR; log in $tmp/debootstrap.log"
timeout "${HOIST_DEBOOTSTRAP_TIMEOUT:-20m}" \
	debootstrap --variant="$VARIANT" --include="$PACKAGES" "$SUITE" "$rootfs" "$MIRROR" \
	>"$tmp/debootstrap.log" 2>&1 </dev/null &
child=$!
if ! wait "$child"; then
	tail -n 30 "$tmp/debootstrap.log" >&2
	[[ -f $rootfs/debootstrap/debootstrap.log ]] && tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
	log "debootstrap failed (or timed out after ${HOIST_DEBOOTSTRAP_TIMEOUT:-20m})"
	exit 1
fi
child=
log "debootstrap done in $((SECONDS - start))s"
umount_under "$rootfs"

# Post-processing (bump RECIPE_REV when changing it).
# pip may install into the system Python: the image is the environment.
rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
# Container engines mount these; the image ships them empty.
for d in proc sys dev run tmp; do
	find "$rootfs/$d" -mindepth 1 -delete 2>/dev/null || true
done
chmod 1777 "$rootfs/tmp"
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"
# Keep it small: apt caches and lists, docs but copyright, man pages, logs.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
	"$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/debconf/*-old \
	"$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*
mkdir -p "$rootfs/var/lib/apt/lists/partial"
find "$rootfs/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
# redis's working directory, as in the official image.
mkdir -p "$rootfs/data"

log "writing tarball"
mkdir "$tmp/out"
# Numeric ids, real owners (root, redis, _apt) and mtimes (the .pyc files
# check them); sorted so the same tree gives the same listing.
tar --numeric-owner --sort=name -C "$rootfs" -cf "$tmp/out/$NAME" .
chmod 0644 "$tmp/out/$NAME"
(cd "$tmp/out" && sha256sum "$NAME" | cut -d' ' -f1 >"$NAME.sha256")
printf '%s\n' "$recipe" >"$tmp/out/recipe"

# Publish: rename the complete directory, then swap the symlink.
if [[ -e $dir ]]; then # HOIST_IMAGE_REBUILD=1: move the old one aside first
	mv -T "$dir" "$tmp/old"
fi
mv -T "$tmp/out" "$dir"
ln -sfn "bookworm-sample-$key/$NAME" "$CACHE/.$NAME.new"
mv -Tf "$CACHE/.$NAME.new" "$link"
for old in "$CACHE"/bookworm-sample-*; do
	[[ -d $old && $old != "$dir" ]] && remove "$old"
done
log "built $dir/$NAME ($(du -h "$dir/$NAME" | cut -f1), sha256 $(cat "$dir/$NAME.sha256")) in $((SECONDS - start))s"
echo "$link"
