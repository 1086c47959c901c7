#!/usr/bin/env bash
# kube-apiserver.sh: build (once per machine) the real kube-apiserver and
# fetch Debian's etcd for the Kubernetes conversion's API server test.
#
# Usage: scripts/kube-apiserver.sh [VERSION]   (default: $HOIST_KUBE_VERSION or v1.37.2)
#
# Both end up in ${XDG_CACHE_HOME:-~/.cache}/hoist/kube/VERSION/ (outside the
# repository, so a fresh clone on the same machine reuses them) and the script
# prints the two paths as shell assignments:
#   KUBE_APISERVER=.../kube-apiserver
#   ETCD=.../etcd
#
# Why a wrapper module: k8s.io/kubernetes requires its staging modules
# (k8s.io/api, k8s.io/apiserver, ...) at v0.0.0 and points them at
# ./staging/src with replace directives, which "go install mod@version"
# refuses. A scratch module that requires k8s.io/kubernetes and replaces each
# staging module with the published v0.MINOR.PATCH builds the same program.
# A cold build takes about 12 minutes of CPU time: 7-10 minutes on two idle
# cores, more on a busy machine.
#
# etcd comes from Debian's etcd-server package, downloaded and unpacked into
# the cache (not installed: the package's service would start an etcd on the
# host's default ports).
set -euo pipefail

version=${1:-${HOIST_KUBE_VERSION:-v1.37.2}}
[[ $version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || {
	echo "kube-apiserver.sh: version must look like v1.37.2, got $version" >&2
	exit 2
}
minor=${BASH_REMATCH[1]}
staging=v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/hoist/kube/$version
mkdir -p "$cache"

build_apiserver() {
	local scratch modfile
	scratch=$(mktemp -d "$cache/build.XXXXXX")
	trap 'rm -rf "$scratch"' RETURN
	modfile=$(cd "$scratch" && GOFLAGS=-mod=mod go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@$version")
	{
		echo "module hoist.invalid/kubeapiserver"
		echo
		echo "go $(sed -n 's/^go //p' "$modfile")"
		echo
		echo "require k8s.io/kubernetes $version"
		echo
		# Every "k8s.io/X => ./staging/src/k8s.io/X" becomes the published module.
		sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#replace \1 => \1 '"$staging"'#p' "$modfile"
	} >"$scratch/go.mod"
	echo "kube-apiserver.sh: building kube-apiserver $version (staging modules $staging) in $scratch" >&2
	local start=$SECONDS
	(
		cd "$scratch"
		export GOFLAGS=-mod=mod CGO_ENABLED=0
		go get "k8s.io/kubernetes/cmd/kube-apiserver@$version" >&2
		pkg=k8s.io/component-base/version
		go build -trimpath -o "$scratch/kube-apiserver" -ldflags "-s -w \
			-X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor \
			-X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z" \
			k8s.io/kubernetes/cmd/kube-apiserver
	)
	mv "$scratch/kube-apiserver" "$cache/kube-apiserver"
	echo "kube-apiserver.sh: built in $((SECONDS - start))s" >&2
}

fetch_etcd() {
	local scratch deb
	scratch=$(mktemp -d "$cache/etcd.XXXXXX")
	trap 'rm -rf "$scratch"' RETURN
	(
		cd "$scratch"
		if ! apt-get download etcd-server >&2 2>/dev/null; then
			fresh=$(find /var/lib/apt/lists -maxdepth 1 -name '*Release' -mmin -60 2>/dev/null | head -n 1)
			[[ -n $fresh ]] || apt-get update -qq >&2
			apt-get download etcd-server >&2
		fi
	)
	deb=$(ls "$scratch"/etcd-server_*.deb)
	dpkg-deb -x "$deb" "$scratch/root"
	mv "$scratch/root/usr/bin/etcd" "$cache/etcd"
	echo "kube-apiserver.sh: etcd from $(basename "$deb")" >&2
}

[[ -x $cache/kube-apiserver ]] || build_apiserver
if [[ ! -x $cache/etcd ]]; then
	if [[ -x /usr/bin/etcd ]]; then
		ln -sf /usr/bin/etcd "$cache/etcd"
	else
		fetch_etcd
	fi
fi
echo "KUBE_APISERVER=$cache/kube-apiserver"
echo "ETCD=$cache/etcd"
