#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sets up everything hypetrace needs on a Debian 12 host, idempotently and cached:
#   1. Debian packages (apt-get only what is missing),
#   2. the build (cmake + make into build/, incremental),
#   3. libvirt configured for hypetrace and libvirtd started (scripts/start-libvirtd.sh),
#   4. the guest images (scripts/build-images.sh: rebuilt only when their recipe changes).
# Usage: scripts/setup.sh            (as root)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root (it installs packages and builds guest images)" >&2; exit 1; }

packages=(
  cmake make g++ clang llvm pkg-config            # toolchain; clang compiles the BPF programs
  libbpf-dev bpftool libelf-dev zlib1g-dev        # libbpf + skeleton generation
  libcli11-dev nlohmann-json3-dev libgtest-dev    # userspace libraries, tests
  lxc lxc-dev                                     # containers through liblxc
  qemu-system-x86 qemu-utils                      # VMs
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev  # VMs through libvirt
  smem                                            # tests cross-check PSS sums against it
  libxxhash-dev                                   # page content hashes (XXH3)
  nasm                                            # the exitcost payload (real-mode firmware)
  fio                                             # hypetrace io: the workload, run natively too
  libquantum-dev stockfish                        # hypetrace density: the CPU benchmarks (built into the guest image, run natively too)
  linux-perf                                      # tests cross-check scheduler counts against perf sched
  criu                                            # startup --restore of containers (where criu check passes)
  mmdebstrap e2fsprogs cpio                       # guest images
  bpftrace                                        # tests cross-check counts against it
  chromium fonts-dejavu-core python3              # tests: flame graph SVG and speedscope rendered headless
  procps util-linux
)
missing=()
for p in "${packages[@]}"; do
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: packages present"
fi

# speedscope (npm registry), for the test that an outside consumer reads hypetrace's folded stacks:
# unpacked once into a cache, the same version every time.
speedscope_version=1.25.0
speedscope_dir=/var/cache/hypetrace/speedscope-$speedscope_version
if [ ! -f "$speedscope_dir/package/dist/release/index.html" ]; then
  command -v npm >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null; }
  tmp=$(mktemp -d)
  if (cd "$tmp" && npm pack --silent "speedscope@$speedscope_version" >/dev/null 2>"$tmp/err"); then
    mkdir -p "$speedscope_dir.partial"
    tar xzf "$tmp/speedscope-$speedscope_version.tgz" -C "$speedscope_dir.partial"
    rm -rf "$speedscope_dir"
    mv "$speedscope_dir.partial" "$speedscope_dir"
    echo "setup: speedscope $speedscope_version in $speedscope_dir"
  else
    echo "setup: could not fetch speedscope from the npm registry: $(tail -1 "$tmp/err")" >&2
    rm -rf "$tmp"
    exit 1
  fi
  rm -rf "$tmp"
fi

echo "setup: building in $root/build"
# Configured again when an earlier configure stopped half-way (a cache but no Makefile).
if [ ! -f "$root/build/CMakeCache.txt" ] || [ ! -f "$root/build/Makefile" ]; then
  mkdir -p "$root/build"
  if ! cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$root/build/configure.log" 2>&1; then
    grep -E 'Error|error|not found' "$root/build/configure.log" | head -20 >&2 || true
    echo "setup: cmake could not configure the build (full log: $root/build/configure.log)" >&2
    exit 1
  fi
  rm -f "$root/build/configure.log"
fi
log="$root/build/build.log"
if ! cmake --build "$root/build" -j"$(nproc)" >"$log" 2>&1; then
  grep -E 'error|Error' "$log" | head -20 >&2 || true
  echo "setup: build failed (full log: $log)" >&2
  exit 1
fi

"$root/scripts/start-libvirtd.sh"
"$root/scripts/build-images.sh"
