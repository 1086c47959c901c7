#!/usr/bin/env bash
# apt-ensure.sh PKG...: install the Debian packages that are not installed yet.
#
# Idempotent: installed packages are left alone and, when nothing is missing,
# apt is not touched at all. "apt-get update" runs only when the package lists
# are missing or older than an hour (so once per CI run, however many scripts
# call this), or never when HOIST_APT_UPDATED=1.
set -euo pipefail

missing=()
for pkg in "$@"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	[[ $status == installed ]] || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0

sudo=()
if ((EUID != 0)); then
	command -v sudo >/dev/null || {
		echo "apt-ensure: need root to install: ${missing[*]}" >&2
		exit 1
	}
	sudo=(sudo --preserve-env=DEBIAN_FRONTEND)
fi
export DEBIAN_FRONTEND=noninteractive
update() {
	echo "apt-ensure: apt-get update" >&2
	"${sudo[@]}" apt-get update -qq >&2
	updated=1
}
install() {
	echo "apt-ensure: installing ${missing[*]}" >&2
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}
updated=0
fresh=$(find /var/lib/apt/lists -maxdepth 1 -name '*Release' -mmin -60 2>/dev/null | head -n 1)
[[ ${HOIST_APT_UPDATED:-} == 1 || -n $fresh ]] || update
# Lists that looked fresh can still be stale: update once and retry.
install || { ((updated == 0)) && update && install; }
