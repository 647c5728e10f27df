#!/usr/bin/env bash
# Builds lvs-go_VERSION_amd64.deb with dpkg-deb, the standard tool of any
# Debian machine (make deb calls it). Usage: dist/deb/build.sh OUTDIR VERSION
#
# The package holds what make install installs for PREFIX=/usr (binaries,
# man pages, lvsd.service, lvsadm's bash completion), built stripped and
# position independent (or taken from $DEB_BIN, a directory holding lvsd,
# lvsadm and lvssim); the
# commented sample /etc/sysconfig/ha/lvs.cf as a
# conffile (never overwritten on upgrade); the Grafana dashboard and the
# Prometheus alert rules in /usr/share/lvs-go; copyright and changelog; and
# the maintainer scripts of this directory. GO names the go command.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 OUTDIR VERSION" >&2
	exit 2
fi
out=$1 version=$2
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
go=${GO:-go}
umask 022
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -m 0755 "$root"

bin=${DEB_BIN:-}
if [ -z "$bin" ]; then
	# Hardened as Debian wants (PIE, hence RELRO through the external
	# linker) and stripped.
	bin=$work/bin
	(cd "$top" && "$go" build -buildmode=pie -ldflags='-s -w' -o "$bin/" ./cmd/lvsd ./cmd/lvsadm ./cmd/lvssim)
fi
make -s -C "$top" install -o build BIN="$bin" DESTDIR="$root" PREFIX=/usr
find "$root/usr/share/man" -type f -exec gzip -9n {} +

install -D -m 0644 "$here/lvs.cf" "$root/etc/sysconfig/ha/lvs.cf"
install -D -m 0644 "$top/dist/grafana-dashboard.json" "$root/usr/share/lvs-go/grafana-dashboard.json"
install -D -m 0644 "$top/dist/prometheus-alerts.yml" "$root/usr/share/lvs-go/prometheus-alerts.yml"

doc=$root/usr/share/doc/lvs-go
install -D -m 0644 "$here/copyright" "$doc/copyright"
maintainer=$(sed -n 's/^Maintainer: //p' "$here/control.in")
date=$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)}")
# A native package (no Debian revision): changelog.gz, in Debian's format.
cat > "$doc/changelog" <<END
lvs-go ($version) unstable; urgency=medium

  * Built from the lvs-go source tree by make deb.

 -- $maintainer  $date
END
gzip -9n "$doc/changelog"

install -d -m 0755 "$root/DEBIAN"
size=$(du -sk "$root" | cut -f1)
# The binaries link libc when the go command builds with cgo (the default
# where a C compiler is installed): depend on the newest glibc symbol version
# they use.
command -v objdump >/dev/null || { echo "$0: needs objdump (binutils)" >&2; exit 1; }
glibc=$(objdump -T "$root/usr/sbin/lvsd" "$root/usr/sbin/lvsadm" "$root/usr/bin/lvssim" 2>/dev/null |
	grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -n 1 || true)
depends=
if [ -n "$glibc" ]; then
	depends="Depends: libc6 (>= $glibc)"
fi
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" -e "s/^@DEPENDS@\$/$depends/" -e '/^$/d' \
	"$here/control.in" > "$root/DEBIAN/control"
echo /etc/sysconfig/ha/lvs.cf > "$root/DEBIAN/conffiles"
install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$root/DEBIAN/"
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

mkdir -p "$out"
deb=$out/lvs-go_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
