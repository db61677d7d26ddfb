#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the nested lab's image, cached: a Debian 12 system with the distribution's stock kernel
# (linux-image-amd64: kvm and kvm_amd as modules, module BTF, cgroup v2 under systemd, no ksm:*
# tracepoints) and what hypetrace needs at run time (its libraries, QEMU, LXC, bpftrace, perf for
# that kernel, smem, fio). scripts/test-nested.sh boots it under QEMU TCG with emulated AMD-V, so
# real hardware-style KVM runs inside it. Rebuilt only when this script or scripts/lab/* change.
#   lab.img             ext4 root filesystem (the lab boots it with snapshot=on: it never changes)
#   vmlinuz, initrd.img the lab's kernel and initrd, from its /boot
# Usage: scripts/build-lab.sh [--force]     (HYPETRACE_LAB_DIR overrides /var/cache/hypetrace/lab)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${HYPETRACE_LAB_DIR:-/var/cache/hypetrace/lab}
force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  *) echo "build-lab.sh: unknown argument '$1' (only --force)" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "build-lab.sh: must run as root (mmdebstrap, mkfs)" >&2; exit 1; }

recipe=$(cat "$0" "$here"/lab/* | sha256sum | cut -d' ' -f1)
if [ $force = 0 ] && [ -f "$out/recipe.sha256" ] && [ "$(cat "$out/recipe.sha256")" = "$recipe" ]; then
  echo "lab image: up to date in $out (recipe ${recipe:0:12})"
  exit 0
fi

echo "lab image: building in $out (recipe ${recipe:0:12}); this takes a few minutes"
start=$(date +%s)
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"

packages=(
  systemd-sysv udev procps kmod util-linux linux-image-amd64 initramfs-tools
  libbpf1 libxxhash0 liblxc1 libvirt0        # hypetrace's own libraries
  qemu-system-x86 qemu-utils lxc criu        # the inner guests; qemu-img and criu for startup --restore
  iptables                                   # criu locks a container's network with it while it dumps
  bpftrace linux-perf smem fio               # the peers hypetrace is checked against; fio for io
)
mmdebstrap --quiet --variant=apt --include="$(IFS=,; echo "${packages[*]}")" \
  --customize-hook="copy-in $here/lab/hypetrace-lab /usr/local/sbin" \
  --customize-hook="copy-in $here/lab/hypetrace-lab.service /etc/systemd/system" \
  --customize-hook='chmod 0755 "$1/usr/local/sbin/hypetrace-lab"' \
  --customize-hook='chroot "$1" systemctl enable hypetrace-lab.service' \
  --customize-hook='chroot "$1" systemctl mask lxc-net.service lxc.service lxc-monitord.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer 2>/dev/null || true' \
  --customize-hook='echo hypetrace-lab > "$1/etc/hostname"' \
  --customize-hook='chroot "$1" passwd -d root >/dev/null' \
  bookworm "$tmp/rootfs"

kernel=$(ls "$tmp"/rootfs/boot/vmlinuz-* | sort | tail -n1)
cp "$kernel" "$tmp/vmlinuz"
basename "$kernel" | sed 's/^vmlinuz-//' >"$tmp/kernel.version"
cp "$(ls "$tmp"/rootfs/boot/initrd.img-* | sort | tail -n1)" "$tmp/initrd.img"
size_mb=$(( $(du -sm "$tmp/rootfs" | cut -f1) * 13 / 10 + 1024 ))  # room for the lab's own writes
mkfs.ext4 -q -L hypetrace-lab -d "$tmp/rootfs" "$tmp/lab.img" "${size_mb}M"
du -sm "$tmp/rootfs" | cut -f1 >"$tmp/rootfs.mb"
rm -rf "$tmp/rootfs"
echo "$recipe" >"$tmp/recipe.sha256"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "lab image: built in $(( $(date +%s) - start )) s: rootfs $(cat "$out/rootfs.mb") MB, lab.img ${size_mb} MB" \
  "(sparse: $(du -sm "$out/lab.img" | cut -f1) MB used), kernel $(cat "$out/kernel.version")"
