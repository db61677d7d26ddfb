// SPDX-License-Identifier: MIT
// Exit reason names: every code the kernel's uapi headers define has one (the installed headers of
// linux-libc-dev are read, so a newer header with a code we lack fails this test), plus the codes
// added up to Linux 6.18, the kernel's own (perf's) SVM names, and VMX's flag bits.
#include "core/tracing/kvm_names.h"

#include <fstream>
#include <gtest/gtest.h>
#include <regex>
#include <set>
#include <sstream>

using namespace ht;

namespace {

// Every `#define PREFIX<NAME> <number>` in a header: name -> value.
std::vector<std::pair<std::string, uint32_t>> defines(const std::string& path, const std::string& prefix) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string text = ss.str();
    std::vector<std::pair<std::string, uint32_t>> out;
    std::regex re("#define[ \\t]+" + prefix + "([A-Z0-9_]+)[ \\t]+(0x[0-9a-fA-F]+|[0-9]+)\\b");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it)
        out.push_back({(*it)[1], uint32_t(std::stoul((*it)[2], nullptr, 0))});
    return out;
}

const char* kUapi = "/usr/include/x86_64-linux-gnu/asm/";

}  // namespace

TEST(KvmNames, EverySvmExitCodeOfTheInstalledUapiHeaderHasAName) {
    auto d = defines(std::string(kUapi) + "svm.h", "SVM_EXIT_");
    ASSERT_GT(d.size(), 80u) << "linux-libc-dev's asm/svm.h (a dependency of the compiler) not readable";
    for (const auto& [name, code] : d) {
        if (name == "SW") continue;  // the base of software exit codes (SEV-ES), never a kvm_exit reason
        EXPECT_TRUE(kvm_exit_reason_known(kIsaSvm, code)) << "SVM_EXIT_" << name << " = " << code;
        EXPECT_EQ(kvm_exit_reason_name(kIsaSvm, code).rfind("SVM_0x", 0), std::string::npos) << name;
    }
}

TEST(KvmNames, EveryVmxExitReasonOfTheInstalledUapiHeaderHasItsName) {
    auto d = defines(std::string(kUapi) + "vmx.h", "EXIT_REASON_");
    ASSERT_GT(d.size(), 55u);
    for (const auto& [name, code] : d) {
        EXPECT_EQ(kvm_exit_reason_name(kIsaVmx, code), name) << code;
        EXPECT_TRUE(kvm_exit_reason_known(kIsaVmx, code)) << name;
    }
}

TEST(KvmNames, CodesAddedAfterLinux61AreNamedToo) {
    EXPECT_EQ(kvm_exit_reason_name(kIsaSvm, 0xa5), "BUS_LOCK");
    EXPECT_EQ(kvm_exit_reason_trace_name(kIsaSvm, 0xa6), "idle-halt");
    EXPECT_EQ(kvm_exit_reason_name(kIsaVmx, 77), "TDCALL");
    EXPECT_EQ(kvm_exit_reason_name(kIsaVmx, 76), "SEAMCALL");
    EXPECT_EQ(kvm_exit_reason_name(kIsaVmx, 85), "MSR_WRITE_IMM");
}

TEST(KvmNames, SvmNamesAreRightAndCarryTheKernelsOwn) {
    EXPECT_EQ(kvm_exit_reason_name(kIsaSvm, 0x89), "WBINVD");
    EXPECT_EQ(kvm_exit_reason_name(kIsaSvm, 0x8b), "MWAIT");
    EXPECT_EQ(kvm_exit_reason_name(kIsaSvm, 0x6e), "RDTSC");
    EXPECT_EQ(kvm_exit_reason_name(kIsaSvm, 0x87), "RDTSCP");
    EXPECT_EQ(kvm_exit_reason_name(kIsaSvm, 0x403), "VMGEXIT");
    EXPECT_EQ(kvm_exit_reason_name(kIsaSvm, 0x10), "WRITE_CR0");
    EXPECT_EQ(kvm_exit_reason_name(kIsaSvm, 0x27), "READ_DR7");
    EXPECT_EQ(kvm_exit_reason_name(kIsaSvm, 0x4e), "EXCP_PF");
    EXPECT_EQ(kvm_exit_reason_name(kIsaSvm, 0x42), "EXCP_2");  // a vector with no mnemonic
    // what perf kvm stat prints, which the nested lab compares with
    EXPECT_EQ(kvm_exit_reason_trace_name(kIsaSvm, 0x7b), "io");
    EXPECT_EQ(kvm_exit_reason_trace_name(kIsaSvm, 0x60), "interrupt");
    EXPECT_EQ(kvm_exit_reason_trace_name(kIsaSvm, 0x400), "npf");
    EXPECT_EQ(kvm_exit_reason_trace_name(kIsaSvm, 0x81), "hypercall");
    EXPECT_EQ(kvm_exit_reason_trace_name(kIsaSvm, 0x4e), "PF excp");
    EXPECT_EQ(kvm_exit_reason_trace_name(kIsaVmx, 30), "IO_INSTRUCTION");
    EXPECT_EQ(kvm_exit_reason_name(kIsaSvm, 0x3ff), "SVM_0x3ff");
    EXPECT_FALSE(kvm_exit_reason_known(kIsaSvm, 0x3ff));
}

TEST(KvmNames, VmxFlagBitsAreMaskedOff) {
    EXPECT_EQ(basic_exit_reason(kIsaVmx, 0x80000021u), 33u);
    EXPECT_EQ(kvm_exit_reason_name(kIsaVmx, 0x80000021u), "INVALID_STATE");
    EXPECT_EQ(kvm_exit_reason_name(kIsaVmx, 0x08000030u), "EPT_VIOLATION");  // SGX enclave mode
    EXPECT_EQ(basic_exit_reason(kIsaSvm, 0x403), 0x403u);                     // SVM codes are not masked
    EXPECT_EQ(kvm_exit_reason_name(kIsaVmx, 5), "VMX_5");
    EXPECT_EQ(pio_exit_reason(kIsaSvm), kSvmIoio);
    EXPECT_EQ(mmio_exit_reason(kIsaSvm), kSvmNpf);
    EXPECT_EQ(mmio_exit_reason(kIsaVmx), kVmxEptMisconfig);
}

TEST(KvmNames, EveryKvmExitOfTheInstalledUapiHeaderHasItsName) {
    auto d = defines("/usr/include/linux/kvm.h", "KVM_EXIT_");
    ASSERT_GT(d.size(), 30u);
    const std::set<std::string> sub_codes = {"HYPERV_SYNIC", "HYPERV_HCALL", "HYPERV_SYNDBG", "XEN_HCALL", "IO_IN", "IO_OUT"};
    for (const auto& [name, code] : d) {
        if (sub_codes.count(name)) continue;  // codes of sub-records (kvm_run.io.direction, hyperv.type), not exits
        EXPECT_EQ(kvm_userspace_exit_name(code), name) << code;
    }
}
