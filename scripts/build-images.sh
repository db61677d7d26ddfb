#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds hypetrace's guest images from Debian packages, cached: nothing is rebuilt while the recipe
# (this script and every file under scripts/guest) is unchanged. One rootfs serves both sides, as in
# the paper:
#   rootfs/             the container's root (LXC, "full" and "app")
#   full.img            the same tree as an ext4 disk image for the VM (virtio, root=/dev/vda)
#   vmlinuz, initrd.img the guest kernel and its initramfs-tools initrd, from rootfs/boot
#   kernel.release      that kernel's release (Debian's current cloud kernel)
#   kernels/RELEASE/    every guest kernel the VM disk can boot (vmlinuz, initrd.img, version: the
#                       package version): the current one, an older 6.1 ABI (a guest that did not
#                       take the security updates since) and 6.12; `memory --guest-kernels` boots
#                       them side by side. full.img holds the modules of all of them; rootfs/ only
#                       the current one's (containers run the host's kernel; copies stay small)
#   app-initramfs.cpio  kernel + this initramfs boots straight into /bin/bash (the VM "app" guest)
#   bench/              the density benchmarks for native runs on the host (ht-bench, ht-quantum,
#                       ht-busy; stockfish is the host's own): the same files as rootfs/usr/local/bin
# Usage: scripts/build-images.sh [--force]     (HYPETRACE_IMAGE_DIR overrides the location)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${HYPETRACE_IMAGE_DIR:-/var/cache/hypetrace/images}
force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  *) echo "build-images.sh: unknown argument '$1' (only --force)" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "build-images.sh: must run as root (mmdebstrap, mknod, mkfs)" >&2; exit 1; }

# The recipe: this script, then every file under guest/ (path and content) in a fixed order.
recipe=$({ cat "$0"; cd "$here" && find guest -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; } |
  sha256sum | cut -d' ' -f1)
if [ $force = 0 ] && [ -f "$out/recipe.sha256" ] && [ "$(cat "$out/recipe.sha256")" = "$recipe" ]; then
  echo "guest images: up to date in $out (recipe ${recipe:0:12})"
  exit 0
fi

echo "guest images: building in $out (recipe ${recipe:0:12}); this takes a minute or two"
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"

# The density benchmarks (guest/bench), compiled here once for guests and host alike: static, so
# they need nothing from the rootfs. libquantum is built with OpenMP, hence -fopenmp (ht-quantum
# keeps it to one thread); the linker's warning about dlopen in libgomp's unused offloading code
# is expected and left out of the log.
bench="$tmp/bench"
mkdir -p "$bench"
static_cc() {  # static_cc OUTPUT SOURCE [FLAGS...]
  local output=$1 source=$2 log
  shift 2
  log=$(gcc -O2 -Wall -Wextra -static -o "$output" "$source" "$@" 2>&1) ||
    { printf '%s\n' "$log" >&2; echo "build-images.sh: could not build $output (gcc and libquantum-dev: scripts/setup.sh)" >&2; exit 1; }
  printf '%s\n' "$log" | grep -v -e 'libgomp\.a(target\.o)' -e "Using 'dlopen' in statically linked" | sed '/^$/d' >&2 || true
}
static_cc "$bench/ht-quantum" "$here/guest/bench/quantum.c" -fopenmp -lquantum -lm
static_cc "$bench/ht-busy" "$here/guest/bench/busy.c"
install -m 0755 "$here/guest/bench/ht-bench" "$bench/ht-bench"

# Units that would load systemd credentials, each given guest/no-credentials.conf (why: there).
credential_units="procps systemd-firstboot systemd-sysctl systemd-sysusers systemd-tmpfiles-clean systemd-tmpfiles-setup-dev systemd-tmpfiles-setup"

# The guest kernels besides Debian 12's current cloud kernel: an older ABI of the same 6.1 series
# and the newer 6.12 series Debian 12 also ships (the paper's section 3 compares 3.15/3.17/3.2
# guests with 3.16).
extra_kernels="linux-image-6.1.0-47-cloud-amd64 linux-image-6.12-cloud-amd64"

# Debian 12 with systemd, kernels and their initrds, and stockfish (the chess benchmark); the
# host's own apt sources are used.
mmdebstrap --quiet --variant=apt \
  --include=systemd-sysv,udev,procps,linux-image-cloud-amd64,${extra_kernels// /,},initramfs-tools,fio,stockfish \
  --customize-hook="copy-in $here/guest/hypetrace-init /usr/local/sbin" \
  --customize-hook="copy-in $here/guest/hypetrace-ready.service /etc/systemd/system" \
  --customize-hook="copy-in $here/guest/hypetrace-job /usr/local/sbin" \
  --customize-hook="copy-in $here/guest/hypetrace-job.service /etc/systemd/system" \
  --customize-hook="copy-in $here/guest/hypetrace-echo /usr/local/sbin" \
  --customize-hook="copy-in $here/guest/hypetrace-echo.service /etc/systemd/system" \
  --customize-hook='mkdir -p "$1/etc/hypetrace" "$1/etc/systemd/journald.conf.d"' \
  --customize-hook="copy-in $here/guest/app.rc /etc/hypetrace" \
  --customize-hook="copy-in $here/guest/journald.conf /etc/systemd/journald.conf.d" \
  --customize-hook="for u in $credential_units; do mkdir -p \"\$1/etc/systemd/system/\$u.service.d\" && cp '$here/guest/no-credentials.conf' \"\$1/etc/systemd/system/\$u.service.d/\"; done" \
  --customize-hook="copy-in $bench/ht-bench $bench/ht-quantum $bench/ht-busy /usr/local/bin" \
  --customize-hook='chmod 0755 "$1/usr/local/bin/ht-bench" "$1/usr/local/bin/ht-quantum" "$1/usr/local/bin/ht-busy"' \
  --customize-hook='chmod 0755 "$1/usr/local/sbin/hypetrace-init" "$1/usr/local/sbin/hypetrace-job" "$1/usr/local/sbin/hypetrace-echo"' \
  --customize-hook='chroot "$1" systemctl enable hypetrace-ready.service hypetrace-job.service hypetrace-echo.service' \
  --customize-hook='echo hypetrace-guest > "$1/etc/hostname"' \
  --customize-hook='chroot "$1" passwd -d root >/dev/null' \
  bookworm "$tmp/rootfs"

# Every kernel under kernels/RELEASE; the current one (what linux-image-cloud-amd64 depends on)
# also at the top, the default of every VM.
default=$(chroot "$tmp/rootfs" dpkg-query -W -f='${Depends}' linux-image-cloud-amd64 | sed -E 's/^linux-image-([^ ,]+).*/\1/')
[ -f "$tmp/rootfs/boot/vmlinuz-$default" ] || { echo "build-images.sh: no kernel $default in the guest rootfs" >&2; exit 1; }
for k in "$tmp"/rootfs/boot/vmlinuz-*; do
  release=${k##*/vmlinuz-}
  mkdir -p "$tmp/kernels/$release"
  cp "$k" "$tmp/kernels/$release/vmlinuz"
  cp "$tmp/rootfs/boot/initrd.img-$release" "$tmp/kernels/$release/initrd.img"
  chroot "$tmp/rootfs" dpkg-query -W -f='${Version}\n' "linux-image-$release" > "$tmp/kernels/$release/version"
done
cp "$tmp/kernels/$default/vmlinuz" "$tmp/vmlinuz"
cp "$tmp/kernels/$default/initrd.img" "$tmp/initrd.img"
echo "$default" > "$tmp/kernel.release"
mkfs.ext4 -q -L hypetrace -d "$tmp/rootfs" "$tmp/full.img" 2G
# The containers' rootfs keeps the current kernel only.
extra_packages=$(chroot "$tmp/rootfs" dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 'linux-image-*' |
  awk '$1 == "ii" { print $2 }' | grep -vx -e linux-image-cloud-amd64 -e "linux-image-$default")
# shellcheck disable=SC2086
log=$(chroot "$tmp/rootfs" dpkg --purge $extra_packages 2>&1) ||
  { printf '%s\n' "$log" >&2; echo "build-images.sh: could not remove the extra kernels from the containers' rootfs" >&2; exit 1; }

# The "app" VM: the kernel runs /bin/bash from this initramfs as its first and only process.
app="$tmp/app-stage"
mkdir -p "$app/bin" "$app/dev" "$app/etc/hypetrace"
cp "$tmp/rootfs/bin/bash" "$app/bin/bash"
cp "$here/guest/app.rc" "$app/etc/hypetrace/app.rc"
chroot "$tmp/rootfs" ldd /bin/bash | grep -oE '/[^ ]+' | while read -r lib; do
  mkdir -p "$app$(dirname "$lib")"
  cp -L "$tmp/rootfs$lib" "$app$lib"
done
mknod -m 600 "$app/dev/console" c 5 1
(cd "$app" && find . | LC_ALL=C sort | cpio --quiet -o -H newc) > "$tmp/app-initramfs.cpio"
rm -rf "$app"

echo "$recipe" > "$tmp/recipe.sha256"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
du -sh "$out"/rootfs "$out"/full.img "$out"/app-initramfs.cpio "$out"/bench | sed 's/^/guest images: /'
for k in "$out"/kernels/*; do
  echo "guest images: kernel ${k##*/} ($(cat "$k/version"))$([ "${k##*/}" = "$(cat "$out/kernel.release")" ] && echo ", the default")"
done
