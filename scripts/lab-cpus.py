#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Where the nested lab's vCPUs are, for scripts/test-nested.sh's post-mortem of a lab that froze or
# ran out of time: asks QEMU's monitor (HMP on a unix socket) for every vCPU's registers a few times,
# and names each instruction pointer from the lab kernel's symbols (the job copies /proc/kallsyms to
# its output directory at start).
# Usage: scripts/lab-cpus.py MONITOR_SOCKET [KALLSYMS]
import bisect
import re
import socket
import sys
import time


def hmp(path, command):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    out = b""

    def read_until_prompt():
        nonlocal out
        while not out.rstrip().endswith(b"(qemu)"):
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk

    read_until_prompt()
    out = b""
    s.sendall(command.encode() + b"\n")
    read_until_prompt()
    s.close()
    return out.decode(errors="replace")


def load_symbols(path):
    addrs, names = [], []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[1] in ("t", "T"):
                    addrs.append(int(parts[0], 16))
                    names.append(parts[2] + (" " + parts[3] if len(parts) > 3 else ""))
    except OSError:
        pass
    order = sorted(range(len(addrs)), key=addrs.__getitem__)
    return [addrs[i] for i in order], [names[i] for i in order]


def main():
    if len(sys.argv) < 2:
        print("usage: lab-cpus.py MONITOR_SOCKET [KALLSYMS]", file=sys.stderr)
        return 2
    addrs, names = load_symbols(sys.argv[2]) if len(sys.argv) > 2 else ([], [])
    for round_ in range(3):
        try:
            text = hmp(sys.argv[1], "info registers -a")
        except OSError as e:
            print(f"QEMU's monitor did not answer: {e}")
            return 1
        cpus = re.split(r"\nCPU#", "\n" + text)
        line = []
        for c in cpus[1:]:
            n = c.split(None, 1)[0]
            rip = re.search(r"RIP=([0-9a-f]+)", c)
            cpl = re.search(r"CPL=(\d)", c)
            hlt = "HLT=1" in c
            where = "?"
            if rip:
                v = int(rip.group(1), 16)
                where = hex(v)
                i = bisect.bisect_right(addrs, v) - 1
                if i >= 0 and v - addrs[i] < 0x100000:
                    where += f" {names[i]}+{hex(v - addrs[i])}"
            line.append(f"vCPU {n}: {where} (CPL {cpl.group(1) if cpl else '?'}{', halted' if hlt else ''})")
        print(f"  [{round_ + 1}] " + "; ".join(line))
        time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
