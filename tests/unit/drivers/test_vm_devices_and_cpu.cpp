// SPDX-License-Identifier: MIT
// Pure parts of the VM drivers: the device sets a default VM carries (drivers/guest), the libvirt
// domain XML (drivers/libvirt), the choice of QEMU's CPU model under KVM (drivers/qemu/kvm_cpu) and
// QEMU's own word that its accelerator failed a vCPU (drivers/qemu).
#include "core/base/error.h"
#include "core/base/setting.h"
#include "drivers/guest.h"
#include "drivers/libvirt/libvirt_driver.h"
#include "drivers/lxc/lxc_driver.h"
#include "drivers/qemu/kvm_cpu.h"
#include "drivers/qemu/qemu_driver.h"

#include <gtest/gtest.h>

using namespace ht;

TEST(Devices, SetNames) {
    EXPECT_EQ(DeviceSet{}.name(), "default");
    EXPECT_EQ((DeviceSet{false, false, false}.name()), "none");
    EXPECT_EQ((DeviceSet{false, true, false}.name()), "no-video+usb");
    auto all = all_device_sets();
    ASSERT_EQ(all.size(), 8u);
    EXPECT_EQ(all.front().name(), "default");
    EXPECT_EQ(all.back().name(), "none");
}

TEST(Devices, DomainXmlCarriesOnlyTheChosenDevices) {
    GuestSpec spec;
    spec.name = "ht-x";
    spec.images.dir = "/img";
    spec.run_dir = "/run/x";
    std::string full = LibvirtDriver::domain_xml(spec, DeviceSet{}, "/run/x/disk.qcow2");
    EXPECT_NE(full.find("<domain type='qemu'>"), std::string::npos);
    EXPECT_NE(full.find("model type='qxl'"), std::string::npos);
    EXPECT_NE(full.find("<graphics type='spice'"), std::string::npos);
    EXPECT_NE(full.find("<sound model='ich6'/>"), std::string::npos);
    EXPECT_NE(full.find("model='ehci'"), std::string::npos);
    EXPECT_NE(full.find("/run/x/console.log"), std::string::npos);
    EXPECT_NE(full.find("relabel='no'"), std::string::npos);
    std::string none = LibvirtDriver::domain_xml(spec, DeviceSet{false, false, false}, "/run/x/disk.qcow2");
    EXPECT_EQ(none.find("qxl"), std::string::npos);
    EXPECT_EQ(none.find("<graphics"), std::string::npos);
    EXPECT_EQ(none.find("<sound"), std::string::npos);
    EXPECT_EQ(none.find("tablet"), std::string::npos);
    EXPECT_NE(none.find("<controller type='usb' index='0' model='none'/>"), std::string::npos);  // no default USB
    spec.accel = Accel::kvm;
    const KvmCpuModel host{"host", {}, ""};
    std::string kvm = LibvirtDriver::domain_xml(spec, DeviceSet{}, "d", &host);
    EXPECT_NE(kvm.find("<domain type='kvm'>"), std::string::npos);
    EXPECT_NE(kvm.find("<cpu mode='host-passthrough'/>"), std::string::npos);
}

// A checkpointed domain's ttyS1 is the ping channel: a socket whose output libvirt logs to the
// marks file; a restore takes the saved XML and moves its files and disk to the run's own.
TEST(LibvirtRestore, CheckpointedDomainPingsOnASocketAndARestoreMovesItsFilesAndDisk) {
    GuestSpec spec;
    spec.name = "ht-checkpoint-7";
    spec.images.dir = "/img";
    spec.run_dir = "/var/tmp/hypetrace/checkpoint-7-ab";
    spec.checkpoint_dir = "/cache/k";
    const std::string saved = LibvirtDriver::domain_xml(spec, DeviceSet{}, "/cache/k/disk.qcow2");
    EXPECT_NE(saved.find("<serial type='unix'><source mode='bind' path='/var/tmp/hypetrace/checkpoint-7-ab/ping.sock'/>"
                         "<log file='/var/tmp/hypetrace/checkpoint-7-ab/marks.log' append='off'/><target port='1'/>"),
              std::string::npos) << saved;
    spec.checkpoint_dir.clear();
    EXPECT_EQ(LibvirtDriver::domain_xml(spec, DeviceSet{}, "d").find("ping.sock"), std::string::npos);

    const std::string x = LibvirtDriver::restore_xml(saved, "/var/tmp/hypetrace/run-9-cd",
                                                     "/var/tmp/hypetrace/run-9-cd/disk.qcow2", "/cache/k/disk.qcow2", "/img/full.img");
    EXPECT_EQ(LibvirtDriver::xml_domain_name(x), "ht-checkpoint-7");  // libvirt restores under the saved name only
    EXPECT_EQ(x.find("checkpoint-7-ab"), std::string::npos) << x;  // no file of the checkpointed run is left
    EXPECT_NE(x.find("path='/var/tmp/hypetrace/run-9-cd/ping.sock'"), std::string::npos) << x;
    EXPECT_NE(x.find("path='/var/tmp/hypetrace/run-9-cd/console.log'"), std::string::npos) << x;
    EXPECT_NE(x.find("<source file='/var/tmp/hypetrace/run-9-cd/disk.qcow2'/>"), std::string::npos) << x;
    EXPECT_NE(x.find("<format type='qcow2'/><source file='/cache/k/disk.qcow2'/><backingStore type='file'><format "
                     "type='raw'/><source file='/img/full.img'/>"),
              std::string::npos) << x;
    EXPECT_NE(x.find("<target dev='vda' bus='virtio'/>"), std::string::npos) << x;  // the rest as saved
    EXPECT_EQ(x.find("<source file='/cache/k/disk.qcow2'/>\n      <backingStore type='file'><format type='raw'/>"), std::string::npos);
    EXPECT_THROW(LibvirtDriver::restore_xml("<domain/>", "/r", "/r/d", "/b", "/i"), UserError);
    EXPECT_EQ(LibvirtDriver::xml_domain_name("<domain/>"), "");
}

// A libvirt checkpoint's cache key holds the domain XML its maker started: another device set is
// another checkpoint (libvirt's describe() names the set, but not memory or the rest of the XML).
TEST(LibvirtRestore, CheckpointIdentityIsTheMakersDomainXml) {
    GuestSpec spec;
    spec.name = "ht-checkpoint";
    spec.images.dir = "/img";
    spec.run_dir = "/RUN";
    spec.checkpoint_dir = "/CHECKPOINT";
    spec.restore = true;
    spec.accel = Accel::tcg;  // no CPU model probe
    LibvirtDriver all("qemu:///system", DeviceSet{});
    const std::string id = all.create(spec)->checkpoint_identity();
    EXPECT_NE(id.find(LibvirtDriver::domain_xml([&] { GuestSpec m = spec; m.restore = false; return m; }(), DeviceSet{},
                                                "/CHECKPOINT/disk.qcow2")),
              std::string::npos) << id;
    LibvirtDriver fewer("qemu:///system", DeviceSet{false, false, false});
    EXPECT_NE(fewer.create(spec)->checkpoint_identity(), id);
    spec.memory_mb *= 2;
    EXPECT_NE(all.create(spec)->checkpoint_identity(), id);
}

// Density confines each guest to one host CPU: libvirt by the vCPUs' cpuset (QEMU's own threads
// follow it), LXC by its cgroup's cpuset, whichever hierarchy holds the controller; unpinned
// guests say nothing of CPUs.
TEST(Pinning, AGuestsHostCpuReachesItsDomainXmlAndContainerConfig) {
    GuestSpec spec;
    spec.name = "ht-x";
    spec.images.dir = "/img";
    spec.run_dir = "/run/x";
    EXPECT_NE(LibvirtDriver::domain_xml(spec, DeviceSet{}, "d").find("<vcpu>1</vcpu>"), std::string::npos);
    auto cpuset_of = [](const GuestSpec& g) {
        std::string v;
        for (const auto& [k, val] : LxcDriver::config(g))
            if (k.find("cpuset.cpus") != std::string::npos) v += k + "=" + val + ";";
        return v;
    };
    EXPECT_EQ(cpuset_of(spec), "");
    spec.host_cpu = 1;
    EXPECT_NE(LibvirtDriver::domain_xml(spec, DeviceSet{}, "d").find("<vcpu placement='static' cpuset='1'>1</vcpu>"),
              std::string::npos);
    const std::string c = cpuset_of(spec);
    EXPECT_TRUE(c == "lxc.cgroup.cpuset.cpus=1;" || c == "lxc.cgroup2.cpuset.cpus=1;") << c;
}

// A container CRIU checkpoints has no console and no tty (their other end would be on the host,
// which CRIU cannot save) and, app or full, its marks channel bound in from the run's directory;
// a cold one keeps its console log.
TEST(LxcConfig, ACheckpointableContainerHasNoConsoleAndAMarksChannel) {
    auto items = [](const GuestSpec& g) {
        std::map<std::string, std::string> m;
        for (const auto& [k, v] : LxcDriver::config(g)) m[k] += v + ";";
        return m;
    };
    GuestSpec spec = make_guest_spec(Variant::app, {}, Accel::tcg);
    spec.name = "ht-x";
    spec.run_dir = "/run/x";
    auto cold = items(spec);
    EXPECT_EQ(cold["lxc.console.logfile"], "/run/x/console.log;");
    EXPECT_EQ(cold["lxc.tty.max"], "1;");
    EXPECT_EQ(cold.count("lxc.console.path"), 0u);
    EXPECT_EQ(cold.count("lxc.mount.entry"), 0u) << "a cold app container has only its console";
    spec.checkpoint_dir = "/ckpt";
    auto ckpt = items(spec);
    EXPECT_EQ(ckpt["lxc.console.path"], "none;");
    EXPECT_EQ(ckpt["lxc.tty.max"], "0;");
    EXPECT_EQ(ckpt.count("lxc.console.logfile"), 0u);
    EXPECT_EQ(ckpt["lxc.seccomp.profile"], "/run/x/seccomp-no-bpf;") << "bpf() refused: CRIU cannot save BPF programs";
    EXPECT_EQ(cold.count("lxc.seccomp.profile"), 0u) << "a cold container keeps LXC's own profile";
    EXPECT_EQ(ckpt["lxc.mount.entry"], "/run/x/marks.log dev/hypetrace-marks none bind,create=file 0 0;");
    spec.restore = true;
    EXPECT_EQ(items(spec), ckpt) << "a restored container is configured as the one that was saved";
    auto guest = LxcDriver().create(spec);
    EXPECT_TRUE(guest->can_checkpoint());
    EXPECT_EQ(guest->ping_stream(), "marks");
    EXPECT_EQ(guest->console_files(), (std::map<std::string, std::string>{{"marks", "marks.log"}}));
    ASSERT_EQ(guest->milestones().size(), 1u);
    EXPECT_EQ(guest->milestones()[0].pattern, kPongMarker);
}

TEST(Devices, KvmCpuModelsBecomeLibvirtCpuElements) {
    EXPECT_EQ(LibvirtDriver::cpu_xml({"host", {}, ""}), "  <cpu mode='host-passthrough'/>\n");
    EXPECT_EQ(LibvirtDriver::cpu_xml({"host", {"arch-capabilities"}, ""}),
              "  <cpu mode='host-passthrough'><feature policy='disable' name='arch-capabilities'/></cpu>\n");
    EXPECT_EQ(LibvirtDriver::cpu_xml({"max", {}, ""}), "  <cpu mode='maximum'/>\n");
    EXPECT_EQ(LibvirtDriver::cpu_xml({"qemu64", {}, ""}),
              "  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>\n");
}

TEST(QemuCpu, CandidatesStartWithTheHostsOwnModelAndEndWithOneEveryKvmRuns) {
    auto c = kvm_cpu_candidates();
    ASSERT_GE(c.size(), 3u);
    EXPECT_EQ(c.front().qemu_arg(), "host");
    EXPECT_EQ(c[1].qemu_arg(), "host,arch-capabilities=off");  // IA32_ARCH_CAPABILITIES refused (AMD under PVM)
    EXPECT_EQ(c.back().qemu_arg(), "qemu64");
}

TEST(QemuCpu, TheFirstModelThatStartsIsChosenAndTheRefusalsAreSaid) {
    std::vector<std::string> tried;
    auto amd_under_pvm = [&](const KvmCpuModel& m, std::string* err) {
        tried.push_back(m.qemu_arg());
        if (m.qemu_arg() == "host" || m.qemu_arg() == "max") {
            *err = "failed to set MSR 0x10a to 0x69";
            return false;
        }
        return true;
    };
    KvmCpuModel c = choose_kvm_cpu(amd_under_pvm);
    EXPECT_EQ(c.qemu_arg(), "host,arch-capabilities=off");
    EXPECT_EQ(tried, (std::vector<std::string>{"host", "host,arch-capabilities=off"}));
    EXPECT_NE(c.why.find("-cpu host refused: failed to set MSR 0x10a"), std::string::npos) << c.why;
    EXPECT_EQ(choose_kvm_cpu([](const KvmCpuModel&, std::string*) { return true; }).why, "-cpu host (the host's own model)");
    try {
        choose_kvm_cpu([](const KvmCpuModel&, std::string* e) { *e = "no"; return false; });
        FAIL() << "no model starts: must throw";
    } catch (const UserError& e) {
        EXPECT_NE(std::string(e.what()).find("-cpu qemu64 refused: no"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(ref(Setting::accel) + " tcg"), std::string::npos);
    }
}

// What QEMU printed in the nested lab's CI run (2026-12-04) when TCG's emulated AMD-V failed the
// nested guest's vCPU: its error line, then the register dump; the VM then stays paused for good.
TEST(QemuVcpuFailure, KvmErrorsAreFoundAndAHealthyLogIsNot) {
    EXPECT_EQ(qemu_vcpu_failure(""), "");
    EXPECT_EQ(qemu_vcpu_failure("qemu-system-x86_64: warning: host doesn't support requested feature\n"), "");
    EXPECT_EQ(qemu_vcpu_failure("KVM internal error. Suberror: 1\nextra data[0]: 0x0\nemulation failure\n"
                                "RAX=0000000000000000 RBX=ffffffff\nDR6=00000000ffff0ff0 DR7=0000000000000400\n"),
              "KVM internal error. Suberror: 1");
    EXPECT_EQ(qemu_vcpu_failure("KVM: entry failed, hardware error 0xffffffffffffffff\nEAX=00000000 EBX=0\n"),
              "KVM: entry failed, hardware error 0xffffffffffffffff");
    EXPECT_EQ(qemu_vcpu_failure("error: kvm run failed Bad address\nRAX=0\n"), "error: kvm run failed Bad address");
    // an error line QEMU may word differently one day: the dump alone still says the vCPU failed
    EXPECT_EQ(qemu_vcpu_failure("some new failure\nRAX=0000000000000000 RBX=0\n"), "some new failure");
    EXPECT_EQ(qemu_vcpu_failure("RAX=0000000000000000 RBX=0\n"), "QEMU dumped the vCPU's registers");
    // "RAX=" inside a line (a guest's console echoed to QEMU's log) is not a dump
    EXPECT_EQ(qemu_vcpu_failure("[    0.1] oops: RAX=0000\n"), "");
}

// What a restored TCG guest's console said in CI (2026-12-05) before hypetrace waited out its
// 600 s: the panic line (the oops before it had scrolled out of the hint), then the kernel's end.
TEST(GuestKernelPanic, PanicLineAfterItsOopsStampsDroppedAndAHealthyConsoleIsNot) {
    EXPECT_EQ(guest_kernel_panic(""), "");
    EXPECT_EQ(guest_kernel_panic("[    1.000000] Run /usr/local/sbin/hypetrace-init as init process\nhypetrace: ready\n"), "");
    EXPECT_EQ(guest_kernel_panic("000000000006b0\n[   19.333284] Kernel panic - not syncing: Fatal exception in interrupt\r\n"
                                 "[   19.334253] Kernel Offset: 0x35200000 from 0xffffffff81000000\n"
                                 "[   19.334992] ---[ end Kernel panic - not syncing: Fatal exception in interrupt ]---\n"),
              "Kernel panic - not syncing: Fatal exception in interrupt");
    // the oops that led to it comes first
    EXPECT_EQ(guest_kernel_panic("[   18.1] BUG: kernel NULL pointer dereference, address: 0000000000000008\n"
                                 "[   18.1] #PF: supervisor read access in kernel mode\n"
                                 "[   18.1] Oops: 0000 [#1] PREEMPT SMP NOPTI\n"
                                 "[   18.2] Kernel panic - not syncing: Fatal exception in interrupt\n"),
              "BUG: kernel NULL pointer dereference, address: 0000000000000008; Kernel panic - not syncing: Fatal "
              "exception in interrupt");
    // a kernel that also stamps the caller (CONFIG_PRINTK_CALLER)
    EXPECT_EQ(guest_kernel_panic("[   19.333284][    C0] Kernel panic - not syncing: Fatal exception in interrupt\n"),
              "Kernel panic - not syncing: Fatal exception in interrupt");
    // a panic that names its cause itself is not repeated
    EXPECT_EQ(guest_kernel_panic("[ 0.5] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n"),
              "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)");
    // a program that merely prints the words, not at a line's start, is no panic
    EXPECT_EQ(guest_kernel_panic("echo 'Kernel panic - not syncing' > /dev/null\n"), "");
}
