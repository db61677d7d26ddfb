// SPDX-License-Identifier: MIT
#include "drivers/qemu/qemu_driver.h"

#include "core/base/error.h"
#include "core/host/proc.h"
#include "core/host/spawn.h"
#include "core/base/text.h"
#include "drivers/qemu/kvm_cpu.h"
#include "drivers/qemu/qmp.h"

#include <fstream>

namespace ht {
namespace {

constexpr const char* kQemu = "qemu-system-x86_64";

class QemuGuest : public Guest {
public:
    explicit QemuGuest(GuestSpec spec) : spec_(std::move(spec)) {}
    ~QemuGuest() override { stop(); }

    GuestKind kind() const override { return GuestKind::vm; }

    void prepare() override {
        if (spec_.job_dir.empty()) return;
        // The job travels as a tar archive on a second, read-only virtio disk.
        int rc = run_and_wait({"tar", "-cf", (spec_.run_dir / "job.tar").string(), "-C", spec_.job_dir.string(), "."});
        if (rc != 0) throw UserError("cannot pack the guest's job from " + spec_.job_dir.string() + " (tar exit " +
                                     std::to_string(rc) + ")");
    }

    void start() override {
        for (const auto& [stream, file] : console_files()) std::ofstream(spec_.run_dir / file).flush();
        SpawnOptions o;
        o.stdout_path = (spec_.run_dir / "qemu.log").string();
        o.stderr_path = o.stdout_path;
        o.cpu = spec_.host_cpu;
        child_ = spawn(QemuDriver::command_line(spec_), o);
    }

    void stop() noexcept override {
        if (child_.pid > 0) {
            terminate(child_.pid, std::chrono::milliseconds(2000));
            child_.pid = -1;
        }
    }

    bool alive() const override { return child_.pid > 0 && !child_exited(child_.pid); }
    pid_t main_pid() const override { return child_.pid; }
    std::vector<pid_t> pids() const override { return {child_.pid}; }

    std::map<std::string, std::string> console_files() const override {
        if (spec_.variant == Variant::full)
            return {{"console", "console.log"}, {"firmware", "firmware.log"}, {"marks", kMarksFile}};
        return {{"console", "console.log"}, {"firmware", "firmware.log"}};
    }

    std::vector<MarkerSpec> milestones() const override {
        if (spec_.variant == Variant::firmware) return {{"firmware", "No bootable device", "ready"}};
        std::vector<MarkerSpec> m{{"firmware", "Booting from ROM", "firmware_done"}};
        for (auto& c : console_milestones(spec_.variant)) m.push_back(c);
        return m;
    }

    std::string init_path() const override { return which(kQemu); }

    std::string describe() const override {
        std::string s;
        for (const auto& a : QemuDriver::command_line(spec_)) s += (s.empty() ? "" : " ") + a;
        return s;
    }

    std::string failure_hint() const override {
        std::string q = read_tail((spec_.run_dir / "qemu.log").string(), 300);
        std::string c = read_tail((spec_.run_dir / "console.log").string(), 300);
        return (q.empty() ? "" : "qemu: " + q) + (c.empty() ? "" : " console: " + c);
    }

    // QEMU's flat memory tree, over the QMP socket command_line() gives every VM.
    std::optional<DeviceMap> device_map() const override {
        QmpClient qmp((spec_.run_dir / "qmp.sock").string(), 10000);
        return parse_mtree(qmp.hmp("info mtree -f"));
    }

private:
    GuestSpec spec_;
    Child child_;
};

}  // namespace

std::vector<std::string> QemuDriver::command_line(const GuestSpec& spec) {
    const auto run = spec.run_dir;
    std::vector<std::string> a{kQemu,
                               "-name", spec.name + ",debug-threads=on",
                               "-machine", "pc",
                               "-accel", to_string(spec.accel),
                               "-m", std::to_string(spec.memory_mb),
                               "-smp", std::to_string(spec.vcpus),
                               "-nodefaults", "-no-user-config", "-display", "none",
                               "-serial", "file:" + (run / "console.log").string(),
                               // SeaBIOS logs to port 0x402; it writes there whether or not the
                               // device exists, so attaching it adds no VM exits.
                               "-chardev", "file,id=fw,path=" + qemu_opt_escape((run / "firmware.log").string()),
                               "-device", "isa-debugcon,iobase=0x402,chardev=fw"};
    if (spec.accel == Accel::kvm) {  // "host" where KVM takes it whole, else the best model that starts
        a.push_back("-cpu");
        a.push_back(kvm_cpu_model().qemu_arg());
    }
    switch (spec.variant) {
    case Variant::full:
        a.insert(a.end(), {"-kernel", spec.images.kernel().string(), "-initrd", spec.images.initrd().string(),
                           "-append", "root=/dev/vda rw console=ttyS0 quiet init=/usr/local/sbin/hypetrace-init",
                           // ttyS1: the ready marker's own channel (see kMarksFile)
                           "-serial", "file:" + (run / kMarksFile).string(),
                           // snapshot=on: every boot starts from the same disk, writes go to a temp overlay
                           "-drive", "file=" + qemu_opt_escape(spec.images.disk().string()) + ",if=virtio,format=raw,snapshot=on"});
        if (!spec.job_dir.empty())  // /dev/vdb: the job (hypetrace-job in the image reads it); QMP to name devices
            a.insert(a.end(), {"-drive", "file=" + qemu_opt_escape((run / "job.tar").string()) + ",if=virtio,format=raw,readonly=on",
                               "-qmp", "unix:" + qemu_opt_escape((run / "qmp.sock").string()) + ",server=on,wait=off"});
        break;
    case Variant::app:
        a.insert(a.end(), {"-kernel", spec.images.kernel().string(), "-initrd", spec.images.app_initramfs().string(),
                           "-append", "console=ttyS0 quiet rdinit=/bin/bash -- --rcfile /etc/hypetrace/app.rc -i"});
        break;
    case Variant::firmware:
        break;
    }
    return a;
}

void QemuDriver::preflight(const GuestSpec& spec) const {
    if (which(kQemu).empty())
        throw UserError(std::string(kQemu) + " not found: install qemu-system-x86 (scripts/setup.sh does)");
    switch (spec.variant) {
    case Variant::full: spec.images.require({spec.images.kernel(), spec.images.initrd(), spec.images.disk()}); break;
    case Variant::app: spec.images.require({spec.images.kernel(), spec.images.app_initramfs()}); break;
    case Variant::firmware: break;
    }
}

std::unique_ptr<Guest> QemuDriver::create(const GuestSpec& spec) { return std::make_unique<QemuGuest>(spec); }

}  // namespace ht
