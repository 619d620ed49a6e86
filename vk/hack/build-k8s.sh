#!/usr/bin/env bash
# Builds a pinned kube-apiserver and kube-scheduler from the Go module proxy
# for the banger-vk tests, into a cache directory reused between runs, and
# prints that directory.
#
# k8s.io/kubernetes replaces its staging modules (k8s.io/api, client-go, ...)
# with directories inside its own tree, which do not apply when it is a
# dependency; this script replaces each with the k8s.io release of the same
# version (v1.X.Y -> v0.X.Y) instead.
#
#   K8S_VERSION   the Kubernetes release (default v1.36.3)
#   BANGER_K8S_DIR where the binaries go (default ~/.cache/banger-test/k8s/$K8S_VERSION)
set -euo pipefail

version=${K8S_VERSION:-v1.36.3}
staging=v0.${version#v1.}
out=${BANGER_K8S_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/banger-test/k8s/$version}
if [ -x "$out/kube-apiserver" ] && [ -x "$out/kube-scheduler" ]; then
	echo "$out"
	exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
go mod init banger-k8s-build >/dev/null 2>&1
modfile=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
if [ -z "$modfile" ]; then
	echo "build-k8s: cannot download k8s.io/kubernetes@$version from the module proxy" >&2
	exit 1
fi
go mod edit -require="k8s.io/kubernetes@$version"
for m in $(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$modfile"); do
	go mod edit -replace="$m=$m@$staging"
done
go get "k8s.io/kubernetes/cmd/kube-apiserver@$version" "k8s.io/kubernetes/cmd/kube-scheduler@$version" >&2

minor=${version#v1.}
minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
mkdir -p "$out.tmp"
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out.tmp/" \
	k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-scheduler >&2
rm -rf "$out"
mv "$out.tmp" "$out"
echo "$out"
