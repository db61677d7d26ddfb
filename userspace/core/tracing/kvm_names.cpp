// SPDX-License-Identifier: MIT
#include "core/tracing/kvm_names.h"

#include <cstdio>
#include <map>

namespace ht {
namespace {

struct ExitName {
    uint32_t code;
    const char* name;   // the uapi macro's suffix
    const char* trace;  // the kernel's SVM_EXIT_REASONS / VMX_EXIT_REASONS string, nullptr if none
};

// arch/x86/include/uapi/asm/svm.h (Linux 6.18): every SVM_EXIT_* code. Exceptions are 0x40 + vector.
const ExitName kSvm[] = {
    {0x0, "READ_CR0", "read_cr0"},
    {0x2, "READ_CR2", "read_cr2"},
    {0x3, "READ_CR3", "read_cr3"},
    {0x4, "READ_CR4", "read_cr4"},
    {0x8, "READ_CR8", "read_cr8"},
    {0x10, "WRITE_CR0", "write_cr0"},
    {0x12, "WRITE_CR2", "write_cr2"},
    {0x13, "WRITE_CR3", "write_cr3"},
    {0x14, "WRITE_CR4", "write_cr4"},
    {0x18, "WRITE_CR8", "write_cr8"},
    {0x20, "READ_DR0", "read_dr0"},
    {0x21, "READ_DR1", "read_dr1"},
    {0x22, "READ_DR2", "read_dr2"},
    {0x23, "READ_DR3", "read_dr3"},
    {0x24, "READ_DR4", "read_dr4"},
    {0x25, "READ_DR5", "read_dr5"},
    {0x26, "READ_DR6", "read_dr6"},
    {0x27, "READ_DR7", "read_dr7"},
    {0x30, "WRITE_DR0", "write_dr0"},
    {0x31, "WRITE_DR1", "write_dr1"},
    {0x32, "WRITE_DR2", "write_dr2"},
    {0x33, "WRITE_DR3", "write_dr3"},
    {0x34, "WRITE_DR4", "write_dr4"},
    {0x35, "WRITE_DR5", "write_dr5"},
    {0x36, "WRITE_DR6", "write_dr6"},
    {0x37, "WRITE_DR7", "write_dr7"},
    {0x40, "EXCP_DE", "DE excp"},
    {0x41, "EXCP_DB", "DB excp"},
    {0x43, "EXCP_BP", "BP excp"},
    {0x44, "EXCP_OF", "OF excp"},
    {0x45, "EXCP_BR", "BR excp"},
    {0x46, "EXCP_UD", "UD excp"},
    {0x47, "EXCP_NM", "NM excp"},
    {0x48, "EXCP_DF", "DF excp"},
    {0x4a, "EXCP_TS", "TS excp"},
    {0x4b, "EXCP_NP", "NP excp"},
    {0x4c, "EXCP_SS", "SS excp"},
    {0x4d, "EXCP_GP", "GP excp"},
    {0x4e, "EXCP_PF", "PF excp"},
    {0x50, "EXCP_MF", "MF excp"},
    {0x51, "EXCP_AC", "AC excp"},
    {0x52, "EXCP_MC", "MC excp"},
    {0x53, "EXCP_XM", "XF excp"},
    {0x5f, "EXCP_31", nullptr},  // SVM_EXIT_LAST_EXCP
    {0x60, "INTR", "interrupt"},
    {0x61, "NMI", "nmi"},
    {0x62, "SMI", "smi"},
    {0x63, "INIT", "init"},
    {0x64, "VINTR", "vintr"},
    {0x65, "CR0_SEL_WRITE", "cr0_sel_write"},
    {0x66, "IDTR_READ", "read_idtr"},
    {0x67, "GDTR_READ", "read_gdtr"},
    {0x68, "LDTR_READ", "read_ldtr"},
    {0x69, "TR_READ", "read_rt"},
    {0x6a, "IDTR_WRITE", "write_idtr"},
    {0x6b, "GDTR_WRITE", "write_gdtr"},
    {0x6c, "LDTR_WRITE", "write_ldtr"},
    {0x6d, "TR_WRITE", "write_rt"},
    {0x6e, "RDTSC", "rdtsc"},
    {0x6f, "RDPMC", "rdpmc"},
    {0x70, "PUSHF", "pushf"},
    {0x71, "POPF", "popf"},
    {0x72, "CPUID", "cpuid"},
    {0x73, "RSM", "rsm"},
    {0x74, "IRET", "iret"},
    {0x75, "SWINT", "swint"},
    {0x76, "INVD", "invd"},
    {0x77, "PAUSE", "pause"},
    {0x78, "HLT", "hlt"},
    {0x79, "INVLPG", "invlpg"},
    {0x7a, "INVLPGA", "invlpga"},
    {0x7b, "IOIO", "io"},
    {0x7c, "MSR", "msr"},
    {0x7d, "TASK_SWITCH", "task_switch"},
    {0x7e, "FERR_FREEZE", "ferr_freeze"},
    {0x7f, "SHUTDOWN", "shutdown"},
    {0x80, "VMRUN", "vmrun"},
    {0x81, "VMMCALL", "hypercall"},
    {0x82, "VMLOAD", "vmload"},
    {0x83, "VMSAVE", "vmsave"},
    {0x84, "STGI", "stgi"},
    {0x85, "CLGI", "clgi"},
    {0x86, "SKINIT", "skinit"},
    {0x87, "RDTSCP", "rdtscp"},
    {0x88, "ICEBP", "icebp"},
    {0x89, "WBINVD", "wbinvd"},
    {0x8a, "MONITOR", "monitor"},
    {0x8b, "MWAIT", "mwait"},
    {0x8c, "MWAIT_COND", nullptr},
    {0x8d, "XSETBV", "xsetbv"},
    {0x8e, "RDPRU", nullptr},
    {0x8f, "EFER_WRITE_TRAP", "write_efer_trap"},
    {0x90, "CR0_WRITE_TRAP", "write_cr0_trap"},
    {0x91, "CR1_WRITE_TRAP", nullptr},
    {0x92, "CR2_WRITE_TRAP", nullptr},
    {0x93, "CR3_WRITE_TRAP", nullptr},
    {0x94, "CR4_WRITE_TRAP", "write_cr4_trap"},
    {0x95, "CR5_WRITE_TRAP", nullptr},
    {0x96, "CR6_WRITE_TRAP", nullptr},
    {0x97, "CR7_WRITE_TRAP", nullptr},
    {0x98, "CR8_WRITE_TRAP", "write_cr8_trap"},
    {0x99, "CR9_WRITE_TRAP", nullptr},
    {0x9a, "CR10_WRITE_TRAP", nullptr},
    {0x9b, "CR11_WRITE_TRAP", nullptr},
    {0x9c, "CR12_WRITE_TRAP", nullptr},
    {0x9d, "CR13_WRITE_TRAP", nullptr},
    {0x9e, "CR14_WRITE_TRAP", nullptr},
    {0x9f, "CR15_WRITE_TRAP", nullptr},
    {0xa2, "INVPCID", "invpcid"},
    {0xa5, "BUS_LOCK", "buslock"},
    {0xa6, "IDLE_HLT", "idle-halt"},
    {0x400, "NPF", "npf"},
    {0x401, "AVIC_INCOMPLETE_IPI", "avic_incomplete_ipi"},
    {0x402, "AVIC_UNACCELERATED_ACCESS", "avic_unaccelerated_access"},
    {0x403, "VMGEXIT", "vmgexit"},
    {0xf0000000, "SW", nullptr},
    {0xffffffff, "ERR", "invalid_guest_state"},
};
// arch/x86/include/uapi/asm/vmx.h (Linux 6.18): every EXIT_REASON_* basic exit reason.
const ExitName kVmx[] = {
    {0, "EXCEPTION_NMI", "EXCEPTION_NMI"},
    {1, "EXTERNAL_INTERRUPT", "EXTERNAL_INTERRUPT"},
    {2, "TRIPLE_FAULT", "TRIPLE_FAULT"},
    {3, "INIT_SIGNAL", "INIT_SIGNAL"},
    {4, "SIPI_SIGNAL", "SIPI_SIGNAL"},
    {6, "OTHER_SMI", nullptr},
    {7, "INTERRUPT_WINDOW", "INTERRUPT_WINDOW"},
    {8, "NMI_WINDOW", "NMI_WINDOW"},
    {9, "TASK_SWITCH", "TASK_SWITCH"},
    {10, "CPUID", "CPUID"},
    {12, "HLT", "HLT"},
    {13, "INVD", "INVD"},
    {14, "INVLPG", "INVLPG"},
    {15, "RDPMC", "RDPMC"},
    {16, "RDTSC", "RDTSC"},
    {18, "VMCALL", "VMCALL"},
    {19, "VMCLEAR", "VMCLEAR"},
    {20, "VMLAUNCH", "VMLAUNCH"},
    {21, "VMPTRLD", "VMPTRLD"},
    {22, "VMPTRST", "VMPTRST"},
    {23, "VMREAD", "VMREAD"},
    {24, "VMRESUME", "VMRESUME"},
    {25, "VMWRITE", "VMWRITE"},
    {26, "VMOFF", "VMOFF"},
    {27, "VMON", "VMON"},
    {28, "CR_ACCESS", "CR_ACCESS"},
    {29, "DR_ACCESS", "DR_ACCESS"},
    {30, "IO_INSTRUCTION", "IO_INSTRUCTION"},
    {31, "MSR_READ", "MSR_READ"},
    {32, "MSR_WRITE", "MSR_WRITE"},
    {33, "INVALID_STATE", "INVALID_STATE"},
    {34, "MSR_LOAD_FAIL", "MSR_LOAD_FAIL"},
    {36, "MWAIT_INSTRUCTION", "MWAIT_INSTRUCTION"},
    {37, "MONITOR_TRAP_FLAG", "MONITOR_TRAP_FLAG"},
    {39, "MONITOR_INSTRUCTION", "MONITOR_INSTRUCTION"},
    {40, "PAUSE_INSTRUCTION", "PAUSE_INSTRUCTION"},
    {41, "MCE_DURING_VMENTRY", "MCE_DURING_VMENTRY"},
    {43, "TPR_BELOW_THRESHOLD", "TPR_BELOW_THRESHOLD"},
    {44, "APIC_ACCESS", "APIC_ACCESS"},
    {45, "EOI_INDUCED", "EOI_INDUCED"},
    {46, "GDTR_IDTR", "GDTR_IDTR"},
    {47, "LDTR_TR", "LDTR_TR"},
    {48, "EPT_VIOLATION", "EPT_VIOLATION"},
    {49, "EPT_MISCONFIG", "EPT_MISCONFIG"},
    {50, "INVEPT", "INVEPT"},
    {51, "RDTSCP", "RDTSCP"},
    {52, "PREEMPTION_TIMER", "PREEMPTION_TIMER"},
    {53, "INVVPID", "INVVPID"},
    {54, "WBINVD", "WBINVD"},
    {55, "XSETBV", "XSETBV"},
    {56, "APIC_WRITE", "APIC_WRITE"},
    {57, "RDRAND", "RDRAND"},
    {58, "INVPCID", "INVPCID"},
    {59, "VMFUNC", "VMFUNC"},
    {60, "ENCLS", "ENCLS"},
    {61, "RDSEED", "RDSEED"},
    {62, "PML_FULL", "PML_FULL"},
    {63, "XSAVES", "XSAVES"},
    {64, "XRSTORS", "XRSTORS"},
    {67, "UMWAIT", "UMWAIT"},
    {68, "TPAUSE", "TPAUSE"},
    {74, "BUS_LOCK", "BUS_LOCK"},
    {75, "NOTIFY", "NOTIFY"},
    {76, "SEAMCALL", nullptr},
    {77, "TDCALL", "TDCALL"},
    {84, "MSR_READ_IMM", "MSR_READ_IMM"},
    {85, "MSR_WRITE_IMM", "MSR_WRITE_IMM"},
};

const ExitName* find(uint32_t isa, uint32_t reason) {
    reason = basic_exit_reason(isa, reason);
    if (isa == kIsaSvm) {
        for (const auto& e : kSvm)
            if (e.code == reason) return &e;
    } else {
        for (const auto& e : kVmx)
            if (e.code == reason) return &e;
    }
    return nullptr;
}

}  // namespace

std::string kvm_exit_reason_name(uint32_t isa, uint32_t reason) {
    if (const auto* e = find(isa, reason)) return e->name;
    char b[32];
    if (isa == kIsaSvm && reason >= 0x40 && reason < 0x60) {  // an exception vector without a mnemonic
        std::snprintf(b, sizeof b, "EXCP_%u", reason - 0x40);
        return b;
    }
    if (isa == kIsaSvm) std::snprintf(b, sizeof b, "SVM_0x%x", reason);
    else std::snprintf(b, sizeof b, "VMX_%u", basic_exit_reason(isa, reason));
    return b;
}

std::string kvm_exit_reason_trace_name(uint32_t isa, uint32_t reason) {
    const auto* e = find(isa, reason);
    return e && e->trace ? e->trace : "";
}

bool kvm_exit_reason_known(uint32_t isa, uint32_t reason) {
    return find(isa, reason) != nullptr || (isa == kIsaSvm && reason >= 0x40 && reason < 0x60);
}

std::string kvm_userspace_exit_name(uint32_t reason) {
    // include/uapi/linux/kvm.h: every KVM_EXIT_* a KVM_RUN can return with (Linux 6.1, and 38-40 since)
    static const std::map<uint32_t, const char*> names = {
        {0, "UNKNOWN"},         {1, "EXCEPTION"},       {2, "IO"},               {3, "HYPERCALL"},
        {4, "DEBUG"},           {5, "HLT"},             {6, "MMIO"},             {7, "IRQ_WINDOW_OPEN"},
        {8, "SHUTDOWN"},        {9, "FAIL_ENTRY"},      {10, "INTR"},            {11, "SET_TPR"},
        {12, "TPR_ACCESS"},     {13, "S390_SIEIC"},     {14, "S390_RESET"},      {15, "DCR"},
        {16, "NMI"},            {17, "INTERNAL_ERROR"}, {18, "OSI"},             {19, "PAPR_HCALL"},
        {20, "S390_UCONTROL"},  {21, "WATCHDOG"},       {22, "S390_TSCH"},       {23, "EPR"},
        {24, "SYSTEM_EVENT"},   {25, "S390_STSI"},      {26, "IOAPIC_EOI"},      {27, "HYPERV"},
        {28, "ARM_NISV"},       {29, "X86_RDMSR"},      {30, "X86_WRMSR"},       {31, "DIRTY_RING_FULL"},
        {32, "AP_RESET_HOLD"},  {33, "X86_BUS_LOCK"},   {34, "XEN"},             {35, "RISCV_SBI"},
        {36, "RISCV_CSR"},      {37, "NOTIFY"},         {38, "LOONGARCH_IOCSR"}, {39, "MEMORY_FAULT"},
        {40, "TDX"}};
    auto it = names.find(reason);
    return it != names.end() ? it->second : "REASON_" + std::to_string(reason);
}

}  // namespace ht
