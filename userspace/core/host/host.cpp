// SPDX-License-Identifier: MIT
#include "core/host/host.h"
#include "core/base/setting.h"

#include "core/base/error.h"
#include "core/host/proc.h"

#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

namespace ht {

HostInfo probe_host() {
    HostInfo h;
    utsname u{};
    if (uname(&u) == 0) {
        h.hostname = u.nodename;
        h.kernel = u.release;
        h.arch = u.machine;
    }
    CpuInfo ci = parse_cpuinfo(read_text("/proc/cpuinfo").value_or(""));
    h.cpu_model = ci.model;
    h.cpus = unsigned(sysconf(_SC_NPROCESSORS_ONLN));
    if (ci.flags.count("vmx")) h.virt_flag = "vmx";
    else if (ci.flags.count("svm")) h.virt_flag = "svm";
    h.virt_extensions = !h.virt_flag.empty();
    h.memory_kb = parse_meminfo_kb(read_text("/proc/meminfo").value_or(""), "MemTotal");
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        h.kvm_device = true;
        close(fd);
    }
    h.btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
    auto osr = read_text("/etc/os-release").value_or("");
    auto p = osr.find("PRETTY_NAME=\"");
    if (p != std::string::npos) {
        p += 13;
        h.os = osr.substr(p, osr.find('"', p) - p);
    }
    return h;
}

std::string to_string(Accel a) { return a == Accel::kvm ? "kvm" : "tcg"; }

AccelRequest parse_accel_request(const std::string& s) {
    if (s == "auto") return AccelRequest::auto_;
    if (s == "kvm") return AccelRequest::kvm;
    if (s == "tcg") return AccelRequest::tcg;
    throw usage_error(ref(Setting::accel) + " takes auto, kvm or tcg, not '" + s + "'");
}

AccelChoice choose_accel(AccelRequest req, const HostInfo& host) {
    AccelChoice c;
    switch (req) {
    case AccelRequest::tcg:
        c.accel = Accel::tcg;
        c.reason = "tcg (forced by " + ref(Setting::accel) + " tcg)";
        break;
    case AccelRequest::kvm:
        if (!host.kvm_device)
            throw UserError(ref(Setting::accel) + " kvm: /dev/kvm cannot be opened (no KVM on this host); use " +
                            ref(Setting::accel) + " tcg or auto");
        c.accel = Accel::kvm;
        c.reason = host.virt_extensions
                       ? "kvm (forced by " + ref(Setting::accel) + " kvm; CPU has " + host.virt_flag + ")"
                       : "kvm (forced by " + ref(Setting::accel) +
                             " kvm; the CPU has no vmx/svm: this KVM emulates (e.g. PVM), "
                             "stock Linux guests may not boot under it)";
        break;
    case AccelRequest::auto_:
        if (host.virt_extensions && host.kvm_device) {
            c.accel = Accel::kvm;
            c.reason = "kvm (auto: CPU has " + host.virt_flag + " and /dev/kvm opens)";
        } else {
            c.accel = Accel::tcg;
            c.notice = true;
            c.reason = host.kvm_device
                           ? "tcg (auto: /dev/kvm exists but the CPU has no vmx/svm, so KVM here cannot run a "
                             "stock Linux guest; VM figures are QEMU TCG emulation; " +
                                 ref(Setting::accel) + " kvm forces KVM)"
                           : "tcg (auto: no /dev/kvm; VM figures are QEMU TCG emulation)";
        }
        break;
    }
    return c;
}

}  // namespace ht
