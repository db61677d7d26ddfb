// SPDX-License-Identifier: MIT
#include "drivers/libvirt/libvirt_driver.h"
#include "core/base/setting.h"

#include "core/base/error.h"
#include "core/host/proc.h"
#include "core/host/spawn.h"
#include "core/base/text.h"
#include "drivers/qemu/kvm_cpu.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <cstdlib>
#include <fstream>
#include <thread>

namespace fs = std::filesystem;

namespace ht {
namespace {

// libvirt prints every error to stderr unless told otherwise; hypetrace reports them itself.
void quiet_errors(void*, virErrorPtr) {}

std::string last_error() {
    const char* m = virGetLastErrorMessage();
    return m ? m : "unknown libvirt error";
}


class LibvirtGuest : public Guest {
public:
    LibvirtGuest(const LibvirtDriver& driver, GuestSpec spec) : driver_(driver), spec_(std::move(spec)) {}
    ~LibvirtGuest() override { stop(); }

    GuestKind kind() const override { return GuestKind::vm; }

    void prepare() override {
        const fs::path overlay = spec_.run_dir / "disk.qcow2";
        SpawnOptions o;
        o.stdout_path = o.stderr_path = (spec_.run_dir / "qemu-img.log").string();
        int rc = run_and_wait({"qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                               spec_.images.disk().string(), overlay.string()},
                              o);
        if (rc != 0)
            throw UserError("qemu-img could not create the disk overlay for " + spec_.name + ": " +
                            read_tail(o.stderr_path, 200));
        prepared_ = true;
    }

    void start() override {
        if (!prepared_) prepare();
        for (const auto& [stream, file] : console_files()) std::ofstream(spec_.run_dir / file).flush();
        xml_ = LibvirtDriver::domain_xml(spec_, driver_.devices(), (spec_.run_dir / "disk.qcow2").string());
        // AUTODESTROY: libvirtd destroys the domain when hypetrace's connection closes, even if
        // hypetrace is killed.
        dom_ = virDomainCreateXML(driver_.connection(), xml_.c_str(), VIR_DOMAIN_START_AUTODESTROY);
        if (!dom_) throw UserError("libvirt could not start domain " + spec_.name + ": " + last_error());
        const std::string pidfile = "/run/libvirt/qemu/" + spec_.name + ".pid";
        for (int i = 0; i < 100 && pid_ <= 0; ++i) {
            pid_ = pid_t(std::atoi(read_text(pidfile).value_or("0").c_str()));
            if (pid_ <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }

    void stop() noexcept override {
        if (!dom_) return;
        virDomainDestroy(dom_);
        virDomainFree(dom_);
        dom_ = nullptr;
        for (int i = 0; i < 300 && pid_ > 0 && process_alive(pid_); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }

    bool alive() const override {
        if (!dom_) return false;
        int active = virDomainIsActive(dom_);
        return active == 1;
    }
    pid_t main_pid() const override { return pid_; }
    std::vector<pid_t> pids() const override {
        if (pid_ > 0) return {pid_};
        return {};
    }
    std::map<std::string, std::string> console_files() const override {
        return {{"console", "console.log"}, {"marks", kMarksFile}};
    }
    std::vector<MarkerSpec> milestones() const override { return console_milestones(spec_.variant); }
    std::string init_path() const override { return which("qemu-system-x86_64"); }
    std::string describe() const override {
        return "libvirt " + std::string("domain ") + spec_.name + " (devices: " + driver_.devices().name() + ")";
    }
    std::string failure_hint() const override {
        std::string q = read_tail("/var/log/libvirt/qemu/" + spec_.name + ".log", 300);
        std::string c = read_tail((spec_.run_dir / "console.log").string(), 300);
        return (q.empty() ? "" : "qemu: " + q) + (c.empty() ? "" : " console: " + c);
    }

private:
    const LibvirtDriver& driver_;
    GuestSpec spec_;
    std::string xml_;
    bool prepared_ = false;
    virDomainPtr dom_ = nullptr;
    pid_t pid_ = -1;
};

}  // namespace

LibvirtDriver::LibvirtDriver(std::string uri, DeviceSet devices) : uri_(std::move(uri)), devices_(devices) {}

LibvirtDriver::~LibvirtDriver() {
    if (conn_) virConnectClose(conn_);
}

virConnect* LibvirtDriver::connection() const {
    if (conn_) return conn_;
    virSetErrorFunc(nullptr, quiet_errors);
    conn_ = virConnectOpen(uri_.c_str());
    if (!conn_)
        throw UserError("cannot connect to libvirtd at " + uri_ + " (" + last_error() +
                        "): start it with scripts/start-libvirtd.sh");
    return conn_;
}

std::string LibvirtDriver::cpu_xml(const KvmCpuModel& cpu) {
    std::string features;
    for (const auto& f : cpu.disabled) features += "<feature policy='disable' name='" + xml_escape(f) + "'/>";
    if (cpu.model == "host" || cpu.model == "max") {
        const std::string open = std::string("  <cpu mode='") + (cpu.model == "host" ? "host-passthrough" : "maximum") + "'";
        return features.empty() ? open + "/>\n" : open + ">" + features + "</cpu>\n";
    }
    return "  <cpu mode='custom' match='exact'><model fallback='allow'>" + xml_escape(cpu.model) + "</model>" + features +
           "</cpu>\n";
}

std::string LibvirtDriver::domain_xml(const GuestSpec& spec, const DeviceSet& d, const std::string& disk,
                                      const KvmCpuModel* cpu) {
    const bool kvm = spec.accel == Accel::kvm;
    std::string x;
    x += "<domain type='" + std::string(kvm ? "kvm" : "qemu") + "'>\n";
    x += "  <name>" + xml_escape(spec.name) + "</name>\n";
    x += "  <memory unit='MiB'>" + std::to_string(spec.memory_mb) + "</memory>\n";
    // host_cpu: the vCPUs and QEMU's own threads (which follow the vCPUs' set) on that CPU only.
    x += "  <vcpu" + (spec.host_cpu >= 0 ? " placement='static' cpuset='" + std::to_string(spec.host_cpu) + "'" : std::string()) +
         ">" + std::to_string(spec.vcpus) + "</vcpu>\n";
    x += "  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n";
    x += "    <kernel>" + xml_escape(spec.images.kernel().string()) + "</kernel>\n";
    x += "    <initrd>" + xml_escape(spec.images.initrd().string()) + "</initrd>\n";
    x += "    <cmdline>root=/dev/vda rw console=ttyS0 quiet init=/usr/local/sbin/hypetrace-init</cmdline>\n";
    x += "  </os>\n";
    x += "  <features><acpi/><apic/></features>\n";
    if (kvm) x += cpu_xml(cpu ? *cpu : kvm_cpu_model());  // probed as for QEMU started directly
    x += "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>destroy</on_reboot>\n  <on_crash>destroy</on_crash>\n";
    // QEMU runs as root without relabelling: the shared images are never chowned, like the qemu driver.
    x += "  <seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel>\n";
    x += "  <devices>\n";
    x += "    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2'/>\n";
    x += "      <source file='" + xml_escape(disk) + "'/>\n";
    x += "      <backingStore type='file'><format type='raw'/><source file='" + xml_escape(spec.images.disk().string()) +
         "'/><backingStore/></backingStore>\n";
    x += "      <target dev='vda' bus='virtio'/>\n    </disk>\n";
    x += "    <serial type='file'><source path='" + xml_escape((spec.run_dir / "console.log").string()) +
         "'/><target port='0'/></serial>\n";
    x += "    <serial type='file'><source path='" + xml_escape((spec.run_dir / kMarksFile).string()) +
         "'/><target port='1'/></serial>\n";  // ttyS1: the ready marker's own channel
    if (d.usb) {
        x += "    <controller type='usb' index='0' model='piix3-uhci'/>\n";
        x += "    <controller type='usb' index='1' model='ehci'/>\n";
        x += "    <input type='tablet' bus='usb'/>\n";
    } else {
        x += "    <controller type='usb' index='0' model='none'/>\n";  // else libvirt adds one by default
    }
    if (d.video) {
        x += "    <graphics type='spice' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/></graphics>\n";
        x += "    <video><model type='qxl' ram='65536' vram='65536' vgamem='16384' heads='1'/></video>\n";
    } else {
        x += "    <video><model type='none'/></video>\n";
    }
    if (d.sound) x += "    <sound model='ich6'/>\n";
    x += "    <memballoon model='virtio'/>\n";
    x += "  </devices>\n</domain>\n";
    return x;
}

void LibvirtDriver::preflight(const GuestSpec& spec) const {
    if (spec.variant != Variant::full)
        throw UserError(ref(Setting::driver) + " libvirt runs full VMs only (a Debian 12 guest booted to multi-user)");
    spec.images.require({spec.images.kernel(), spec.images.initrd(), spec.images.disk()});
    if (which("qemu-img").empty()) throw UserError("qemu-img not found: install qemu-utils (scripts/setup.sh does)");
    connection();
}

std::unique_ptr<Guest> LibvirtDriver::create(const GuestSpec& spec) {
    return std::make_unique<LibvirtGuest>(*this, spec);
}

}  // namespace ht
