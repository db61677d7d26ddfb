// SPDX-License-Identifier: MIT
#include "drivers/libvirt/libvirt_driver.h"
#include "core/base/setting.h"

#include "core/base/error.h"
#include "core/base/clock.h"
#include "core/host/files.h"
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

// A restored domain's name, kept in its scratch directory for LibvirtDriver::reap.
constexpr const char* kDomainFile = "libvirt-domain";

class LibvirtGuest : public Guest {
public:
    LibvirtGuest(const LibvirtDriver& driver, GuestSpec spec) : driver_(driver), spec_(std::move(spec)), domain_(spec_.name) {}
    ~LibvirtGuest() override { stop(); }

    GuestKind kind() const override { return GuestKind::vm; }

    void prepare() override {
        const fs::path log = spec_.run_dir / "qemu-img.log";
        if (spec_.restore)  // writes go to the run's own overlay; the checkpoint's disk stays as saved
            create_qcow2_overlay(spec_.run_dir / "disk.qcow2", spec_.checkpoint_dir / kCheckpointDisk, "qcow2", log,
                           "the disk overlay for " + spec_.name);
        else if (!spec_.checkpoint_dir.empty())  // the checkpoint's disk, kept with its state
            create_qcow2_overlay(spec_.checkpoint_dir / kCheckpointDisk, spec_.images.disk(), "raw", log,
                           "the checkpoint's disk overlay");
        else
            create_qcow2_overlay(spec_.run_dir / "disk.qcow2", spec_.images.disk(), "raw", log, "the disk overlay for " + spec_.name);
        prepared_ = true;
    }

    void start() override {
        if (!prepared_) prepare();
        for (const auto& [stream, file] : console_files()) std::ofstream(spec_.run_dir / file).flush();
        if (spec_.restore) return restore();
        const bool ckpt = !spec_.checkpoint_dir.empty();
        xml_ = LibvirtDriver::domain_xml(spec_, driver_.devices(),
                                         (ckpt ? spec_.checkpoint_dir / kCheckpointDisk : spec_.run_dir / "disk.qcow2").string());
        // AUTODESTROY: libvirtd destroys the domain when hypetrace's connection closes, even if
        // hypetrace is killed.
        dom_ = virDomainCreateXML(driver_.connection(), xml_.c_str(), VIR_DOMAIN_START_AUTODESTROY);
        if (!dom_) throw UserError("libvirt could not start domain " + spec_.name + ": " + last_error());
        read_pid();
    }

    bool can_checkpoint() const override { return spec_.variant == Variant::full; }
    // The domain XML the checkpoint's maker starts (the guest's configuration: its devices, CPU,
    // memory), on the checkpoint's disk.
    std::string checkpoint_identity() const override {
        GuestSpec maker = spec_;
        maker.restore = false;
        return describe() + "\n" +
               LibvirtDriver::domain_xml(maker, driver_.devices(), (maker.checkpoint_dir / kCheckpointDisk).string());
    }
    std::string ping_stream() const override { return "marks"; }
    bool ping(uint64_t token) noexcept override {
        return send_serial_ping(ping_fd_, spec_.run_dir / "ping.sock", std::to_string(token) + "\n");
    }

    // virDomainSaveFlags: libvirt migrates the running domain into the file (its XML in a header)
    // and ends it; saved running, so a restore runs it at once.
    void checkpoint() override {
        const fs::path tmp = spec_.checkpoint_dir / (std::string(kCheckpointState) + ".part");
        if (!dom_) throw UserError("libvirt domain " + spec_.name + " is not running: nothing to save");
        if (virDomainSaveFlags(dom_, tmp.c_str(), nullptr, VIR_DOMAIN_SAVE_RUNNING) != 0) {
            const std::string why = last_error();
            stop();
            std::error_code ec;
            fs::remove(tmp, ec);
            throw UserError("libvirt could not save domain " + spec_.name + ": " + why);
        }
        stop();  // gone already; waits for its QEMU, which closes the disk overlay
        fs::rename(tmp, spec_.checkpoint_dir / kCheckpointState);
    }

    std::vector<MarkerHit> restore_marks() override {
        if (!load_ns_) return {};
        return {{"state_load", load_ns_, "host"}, {"resumed", resumed_ns_, "libvirt:virDomainRestoreFlags returned"}};
    }

    std::optional<uint64_t> ram_resident_bytes() const override {
        if (pid_ <= 0) return std::nullopt;
        return vm_ram_resident_bytes(pid_, spec_.memory_mb, {});
    }

    void stop() noexcept override {
        if (ping_fd_ >= 0) {
            close(ping_fd_);
            ping_fd_ = -1;
        }
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
    std::vector<MarkerSpec> milestones() const override {
        if (spec_.restore) return {{ping_stream(), kPongMarker, "ready"}};  // it answers: proven running
        return console_milestones(spec_.variant);
    }
    std::string init_path() const override { return which("qemu-system-x86_64"); }
    std::string describe() const override {
        return "libvirt " + std::string("domain ") + domain_ + " (devices: " + driver_.devices().name() + ")" +
               (spec_.restore ? ", restored from " + (spec_.checkpoint_dir / kCheckpointState).string() : "");
    }
    std::string failure_hint() const override {
        std::string q = read_tail("/var/log/libvirt/qemu/" + domain_ + ".log", 300);
        std::string c = read_tail((spec_.run_dir / "console.log").string(), 300);
        return (q.empty() ? "" : "qemu: " + q) + (c.empty() ? "" : " console: " + c);
    }

private:
    void read_pid() {
        const std::string pidfile = "/run/libvirt/qemu/" + domain_ + ".pid";
        for (int i = 0; i < 100 && pid_ <= 0; ++i) {
            pid_ = pid_t(std::atoi(read_text(pidfile).value_or("0").c_str()));
            if (pid_ <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }

    // virDomainRestoreFlags returns once the domain runs again; it cannot be auto-destroyed, so
    // its name goes to the scratch directory first (LibvirtDriver::reap).
    void restore() {
        virConnect* conn = driver_.connection();
        const fs::path state = spec_.checkpoint_dir / kCheckpointState;
        char* saved = virDomainSaveImageGetXMLDesc(conn, state.c_str(), 0);
        if (!saved) throw UserError("libvirt cannot read the saved domain " + state.string() + ": " + last_error());
        const std::string saved_xml = saved;
        free(saved);
        xml_ = LibvirtDriver::restore_xml(saved_xml, spec_.run_dir.string(), (spec_.run_dir / "disk.qcow2").string(),
                                          (spec_.checkpoint_dir / kCheckpointDisk).string(), spec_.images.disk().string());
        domain_ = LibvirtDriver::xml_domain_name(saved_xml);  // the checkpointed domain's: libvirt keeps it
        write_file_atomic(spec_.run_dir / kDomainFile, domain_ + "\n");
        load_ns_ = mono_ns();
        if (virDomainRestoreFlags(conn, state.c_str(), xml_.c_str(), VIR_DOMAIN_SAVE_RUNNING) != 0)
            throw UserError("libvirt could not restore domain " + domain_ + " from " + state.string() + ": " + last_error());
        resumed_ns_ = mono_ns();
        dom_ = virDomainLookupByName(conn, domain_.c_str());
        if (!dom_) throw UserError("libvirt restored domain " + domain_ + " but cannot find it: " + last_error());
        read_pid();
    }

    const LibvirtDriver& driver_;
    GuestSpec spec_;
    std::string domain_;  // its name: the spec's, or for a restore the checkpointed domain's
    std::string xml_;
    bool prepared_ = false;
    virDomainPtr dom_ = nullptr;
    pid_t pid_ = -1;
    int ping_fd_ = -1;
    uint64_t load_ns_ = 0, resumed_ns_ = 0;  // a restore's: asked to, and told it runs
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
    x += "    <kernel>" + xml_escape(spec.images.kernel(spec.kernel).string()) + "</kernel>\n";
    x += "    <initrd>" + xml_escape(spec.images.initrd(spec.kernel).string()) + "</initrd>\n";
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
    if (spec.checkpoint_dir.empty())
        x += "    <serial type='file'><source path='" + xml_escape((spec.run_dir / kMarksFile).string()) +
             "'/><target port='1'/></serial>\n";  // ttyS1: the ready marker's own channel
    else  // and the ping channel: a socket, its output logged to the file the watcher reads
        x += "    <serial type='unix'><source mode='bind' path='" + xml_escape((spec.run_dir / "ping.sock").string()) +
             "'/><log file='" + xml_escape((spec.run_dir / kMarksFile).string()) + "' append='off'/><target port='1'/></serial>\n";
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

std::string LibvirtDriver::xml_domain_name(const std::string& xml) {
    const auto n0 = xml.find("<name>"), n1 = xml.find("</name>");
    if (n0 == std::string::npos || n1 == std::string::npos || n1 < n0) return "";
    return xml.substr(n0 + 6, n1 - n0 - 6);
}

std::string LibvirtDriver::restore_xml(const std::string& saved, const std::string& new_run, const std::string& disk,
                                       const std::string& backing, const std::string& base) {
    auto bad = [](const std::string& what) {
        return UserError("the saved domain's XML has no " + what + ": remove that checkpoint and run again (it is made anew)");
    };
    std::string x = saved;
    if (xml_domain_name(x).empty()) throw bad("<name>");
    // Its files were in the checkpointed run's scratch directory, the console log's
    const std::string console = "/console.log'";
    const auto c = x.find(console);
    if (c == std::string::npos) throw bad("console log");
    const auto q = x.rfind('\'', c);
    const std::string old_run = x.substr(q + 1, c - q - 1) + "/", moved = xml_escape(new_run) + "/";
    for (auto at = x.find(old_run); at != std::string::npos; at = x.find(old_run, at + moved.size()))
        x.replace(at, old_run.size(), moved);
    // The disk: the run's overlay on the checkpoint's, on the image
    const auto d = x.find("<disk type='file' device='disk'>");
    const auto src = d == std::string::npos ? d : x.find("<source", d);
    const auto tgt = src == std::string::npos ? src : x.find("<target", src);
    if (tgt == std::string::npos) throw bad("disk");
    x.replace(src, tgt - src,
              "<source file='" + xml_escape(disk) + "'/>\n      <backingStore type='file'><format type='qcow2'/><source file='" +
                  xml_escape(backing) + "'/><backingStore type='file'><format type='raw'/><source file='" + xml_escape(base) +
                  "'/><backingStore/></backingStore></backingStore>\n      ");
    return x;
}

namespace {

// Whether a libvirt daemon that runs QEMU domains is up (the monolithic one or the modular one).
bool libvirt_daemon_runs() {
    for (pid_t p : all_pids()) {
        const std::string c = process_comm(p);
        if (c == "libvirtd" || c == "virtqemud") return true;
    }
    return false;
}

// The QEMU processes libvirt started for domain `name`: a qemu* program whose arguments hold
// "-name" "guest=NAME,..." (libvirt's spelling of a domain's name to QEMU).
std::vector<pid_t> domain_qemus(const std::string& name) {
    std::vector<pid_t> out;
    const std::string args = std::string("\0-name\0guest=", 13) + name + ",";
    for (pid_t p : pids_with_arg_prefix("guest=" + name + ",")) {
        const std::string cmdline = read_text("/proc/" + std::to_string(p) + "/cmdline").value_or("");
        if (process_comm(p).rfind("qemu", 0) == 0 && cmdline.find(args) != std::string::npos) out.push_back(p);
    }
    return out;
}

}  // namespace

Driver::Reaped LibvirtDriver::reap(const fs::path& run_dir) noexcept {
    try {
        auto name = read_text(run_dir / kDomainFile);
        if (!name) return {};
        while (!name->empty() && name->back() == '\n') name->pop_back();
        virConnect* conn = nullptr;
        try {
            conn = connection();
        } catch (const UserError& e) {
            // libvirtd is gone, its QEMUs need not be (they outlive it, for its restart to find):
            // the domain's QEMU, found by its -name argument, is ended here. A daemon that runs
            // but refused us is asked again by a later cleanup, never gone around.
            const auto pids = libvirt_daemon_runs() ? std::vector<pid_t>{} : domain_qemus(*name);
            if (pids.empty()) return {};
            Reaped r;
            const std::string what = "the QEMU of libvirt domain " + *name + " (pid " + std::to_string(pids.front()) + ")";
            if (kill_processes(pids)) r.stopped.push_back("stopped " + what + " directly: no libvirt daemon runs");
            else r.still_running.push_back(what + " would not stop, and no libvirt daemon runs: " + e.what());
            return r;
        }
        virDomainPtr dom = virDomainLookupByName(conn, name->c_str());
        if (!dom) return {};
        // Destroyed while libvirtd still restores it (the run was killed during the restore), the
        // call may fail or the domain come up after: ask again until it is no longer active.
        bool stopped = false;
        for (int i = 0; i < 300 && !stopped; ++i) {
            if (virDomainDestroy(dom) != 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
            stopped = virDomainIsActive(dom) != 1;
        }
        virDomainFree(dom);
        Reaped r;
        if (stopped) r.stopped.push_back("stopped libvirt domain " + *name);
        else r.still_running.push_back("libvirt domain " + *name + " would not stop: " + last_error());
        return r;
    } catch (...) {
    }
    return {};
}

void LibvirtDriver::preflight(const GuestSpec& spec) const {
    if (spec.variant != Variant::full)
        throw UserError(ref(Setting::driver) + " libvirt runs full VMs only (a Debian 12 guest booted to multi-user)");
    spec.images.require({spec.images.kernel(spec.kernel), spec.images.initrd(spec.kernel), spec.images.disk()});
    if (which("qemu-img").empty()) throw UserError("qemu-img not found: install qemu-utils (scripts/setup.sh does)");
    connection();
}

std::unique_ptr<Guest> LibvirtDriver::create(const GuestSpec& spec) {
    return std::make_unique<LibvirtGuest>(*this, spec);
}

}  // namespace ht
