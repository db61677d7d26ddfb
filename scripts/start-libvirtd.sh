#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Starts virtlogd and libvirtd (there is no systemd to do it), configured so that hypetrace's
# domains can run. Idempotent: does nothing when they already run with this configuration.
#  - QEMU runs as root (user/group in /etc/libvirt/qemu.conf, written only if the file is absent):
#    libvirt's default user libvirt-qemu cannot open /dev/kvm here, which makes libvirtd re-probe
#    QEMU's capabilities (~40 s) on every domain start. hypetrace's domains also set relabel=no,
#    so the shared guest images are never chowned.
# Usage: scripts/start-libvirtd.sh     (as root)
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "start-libvirtd.sh: run as root" >&2; exit 1; }
command -v libvirtd >/dev/null || { echo "start-libvirtd.sh: libvirtd missing: run scripts/setup.sh" >&2; exit 1; }

mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/qemu /var/cache/libvirt/qemu /run/libvirt
conf=/etc/libvirt/qemu.conf
changed=0
if [ ! -f "$conf" ]; then
  printf '%s\n' '# Written by hypetrace (scripts/start-libvirtd.sh): QEMU runs as root.' 'user = "root"' 'group = "root"' >"$conf"
  changed=1
fi
# The Debian package creates this user only with libvirt-daemon-system; a qemu.conf written by
# someone else may still name it.
getent passwd libvirt-qemu >/dev/null ||
  useradd --system --no-create-home --home-dir /var/lib/libvirt --shell /usr/sbin/nologin --user-group libvirt-qemu

pgrep -x virtlogd >/dev/null || virtlogd -d
if pgrep -x libvirtd >/dev/null && [ "$changed" = 1 ]; then
  pkill -x libvirtd
  for _ in $(seq 50); do pgrep -x libvirtd >/dev/null || break; sleep 0.1; done
fi
pgrep -x libvirtd >/dev/null || libvirtd -d
for _ in $(seq 100); do
  virsh -c qemu:///system version >/dev/null 2>&1 && { echo "setup: libvirtd running"; exit 0; }
  sleep 0.1
done
echo "start-libvirtd.sh: libvirtd did not answer at qemu:///system (see /var/log/libvirt/libvirtd.log)" >&2
exit 1
