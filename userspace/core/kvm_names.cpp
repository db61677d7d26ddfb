// SPDX-License-Identifier: MIT
#include "core/kvm_names.h"

#include <map>

namespace ht {

std::string kvm_exit_reason_name(uint32_t isa, uint32_t reason) {
    static const std::map<uint32_t, const char*> vmx = {
        {0, "EXCEPTION_NMI"}, {1, "EXTERNAL_INTERRUPT"}, {2, "TRIPLE_FAULT"}, {7, "INTERRUPT_WINDOW"},
        {8, "NMI_WINDOW"}, {9, "TASK_SWITCH"}, {10, "CPUID"}, {12, "HLT"}, {13, "INVD"}, {14, "INVLPG"},
        {15, "RDPMC"}, {16, "RDTSC"}, {18, "VMCALL"}, {28, "CR_ACCESS"}, {29, "DR_ACCESS"},
        {30, "IO_INSTRUCTION"}, {31, "MSR_READ"}, {32, "MSR_WRITE"}, {33, "INVALID_STATE"},
        {36, "MWAIT_INSTRUCTION"}, {39, "MONITOR_INSTRUCTION"}, {40, "PAUSE_INSTRUCTION"},
        {43, "TPR_BELOW_THRESHOLD"}, {44, "APIC_ACCESS"}, {45, "EOI_INDUCED"}, {46, "GDTR_IDTR"},
        {47, "LDTR_TR"}, {48, "EPT_VIOLATION"}, {49, "EPT_MISCONFIG"}, {50, "INVEPT"}, {51, "RDTSCP"},
        {52, "PREEMPTION_TIMER"}, {53, "INVVPID"}, {54, "WBINVD"}, {55, "XSETBV"}, {56, "APIC_WRITE"},
        {57, "RDRAND"}, {58, "INVPCID"}, {62, "PML_FULL"}, {63, "XSAVES"}, {64, "XRSTORS"},
        {67, "UMWAIT"}, {68, "TPAUSE"}, {74, "BUS_LOCK"}, {75, "NOTIFY"}};
    static const std::map<uint32_t, const char*> svm = {
        {0x40, "EXCP_DE"}, {0x4e, "EXCP_PF"}, {0x60, "INTR"}, {0x61, "NMI"}, {0x62, "SMI"}, {0x63, "INIT"},
        {0x64, "VINTR"}, {0x65, "CR0_SEL_WRITE"}, {0x72, "CPUID"}, {0x74, "IRET"}, {0x77, "PAUSE"},
        {0x78, "HLT"}, {0x79, "INVLPG"}, {0x7b, "IOIO"}, {0x7c, "MSR"}, {0x7f, "SHUTDOWN"},
        {0x81, "VMMCALL"}, {0x8b, "WBINVD"}, {0x8d, "XSETBV"}, {0x8e, "RDPRU"}, {0x400, "NPF"},
        {0x401, "AVIC_INCOMPLETE_IPI"}, {0x402, "AVIC_UNACCELERATED_ACCESS"}};
    const auto& table = isa == 2 ? svm : vmx;
    auto it = table.find(reason);
    if (it != table.end()) return it->second;
    return (isa == 2 ? "SVM_" : "VMX_") + std::to_string(reason);
}

std::string kvm_userspace_exit_name(uint32_t reason) {
    static const std::map<uint32_t, const char*> names = {
        {0, "UNKNOWN"}, {1, "EXCEPTION"}, {2, "IO"}, {3, "HYPERCALL"}, {4, "DEBUG"}, {5, "HLT"},
        {6, "MMIO"}, {7, "IRQ_WINDOW_OPEN"}, {8, "SHUTDOWN"}, {9, "FAIL_ENTRY"}, {10, "INTR"},
        {17, "INTERNAL_ERROR"}, {24, "SYSTEM_EVENT"}, {29, "X86_RDMSR"}, {30, "X86_WRMSR"},
        {35, "X86_BUS_LOCK"}, {37, "NOTIFY"}, {38, "LOONGARCH_IOCSR"}, {39, "MEMORY_FAULT"}};
    auto it = names.find(reason);
    return it != names.end() ? it->second : "REASON_" + std::to_string(reason);
}

}  // namespace ht
