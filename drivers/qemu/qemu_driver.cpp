// SPDX-License-Identifier: MIT
#include "drivers/qemu/qemu_driver.h"

#include "core/base/error.h"
#include "core/host/proc.h"
#include "core/host/spawn.h"
#include "core/base/text.h"
#include "drivers/qemu/kvm_cpu.h"
#include "drivers/qemu/qmp.h"

#include "core/base/clock.h"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <chrono>
#include <fcntl.h>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>
#include <thread>
#include <time.h>
#include <unistd.h>

namespace ht {
namespace {

constexpr const char* kQemu = "qemu-system-x86_64";

class QemuGuest : public Guest {
public:
    explicit QemuGuest(GuestSpec spec) : spec_(std::move(spec)) {}
    ~QemuGuest() override { stop(); }

    GuestKind kind() const override { return GuestKind::vm; }

    void prepare() override {
        if (!spec_.checkpoint_dir.empty() && !spec_.restore && spec_.variant == Variant::full) {
            // the checkpoint's disk: a fresh overlay on the image, kept (the restored guests see it
            // as it was when the state was saved)
            create_qcow2_overlay(spec_.checkpoint_dir / kCheckpointDisk, spec_.images.disk(), "raw",
                                 spec_.run_dir / "qemu-img.log", "the checkpoint's disk overlay");
        }
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
        if (!spec_.restore) return;
        // Restore: QEMU waits (-incoming defer) until told where the state is; its migration
        // events say when the state was loaded, and RESUME when the guest ran again.
        qmp_ = std::make_unique<QmpClient>((spec_.run_dir / "qmp.sock").string(), 30000);
        qmp_->execute("migrate-set-capabilities", {{"capabilities", capabilities(true)}});
        load_ns_ = mono_ns();
        const auto state = spec_.checkpoint_dir / kCheckpointState;
        qmp_->execute("migrate-incoming", {{"uri", "exec:cat " + shell_quote(state.string())}});
    }

    bool can_checkpoint() const override { return spec_.variant != Variant::firmware; }
    std::string ping_stream() const override { return spec_.variant == Variant::full ? "marks" : "console"; }

    bool ping(uint64_t token) noexcept override {
        // An app guest is bash on its console: the command echoed back does not hold the marker,
        // its output does.
        const std::string line = spec_.variant == Variant::app
                                     ? "echo " + std::string("HYPETRACE-''") + (kPongMarker + 10) + " " + std::to_string(token) + "\n"
                                     : std::to_string(token) + "\n";
        return send_serial_ping(ping_fd_, spec_.run_dir / "ping.sock", line);
    }

    void checkpoint() override {
        if (!can_checkpoint()) throw UserError("a firmware-only VM cannot be checkpointed");
        const auto dir = spec_.checkpoint_dir;
        const auto tmp = dir / (std::string(kCheckpointState) + ".part");
        try {
            QmpClient q((spec_.run_dir / "qmp.sock").string(), 10000);
            // Saved running (QEMU pauses it for the last pages itself): the state records a running
            // guest, which a restore then runs at once, as soon as it is loaded.
            q.execute("migrate-set-capabilities", {{"capabilities", capabilities(false)}});
            q.execute("migrate", {{"uri", "exec:cat > " + shell_quote(tmp.string())}});
            for (int waited_ms = 0;; waited_ms += 50) {
                const auto st = q.execute("query-migrate");
                const std::string status = st.is_object() && st.contains("status") && st["status"].is_string()
                                               ? st["status"].get<std::string>() : "";
                if (status == "completed") break;
                if (status == "failed" || status == "cancelled")
                    throw UserError("QEMU could not save the guest's state: migration " + status +
                                    (st.contains("error-desc") ? ": " + st["error-desc"].dump() : ""));
                if (waited_ms > 300000) throw UserError("QEMU did not save the guest's state within 300 s");
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        } catch (...) {
            stop();
            std::error_code ec;
            std::filesystem::remove(tmp, ec);
            throw;
        }
        stop();  // the disk overlay is closed with QEMU before the state is declared whole
        std::filesystem::rename(tmp, dir / kCheckpointState);
    }

    std::vector<MarkerHit> restore_marks() override {
        std::vector<MarkerHit> m;
        if (!qmp_) return m;
        m.push_back({"state_load", load_ns_, "host"});
        // QMP stamps events with CLOCK_REALTIME; this is its distance to CLOCK_MONOTONIC now
        timespec rt{}, mt{};
        clock_gettime(CLOCK_REALTIME, &rt);
        clock_gettime(CLOCK_MONOTONIC, &mt);
        const int64_t offset = (int64_t(rt.tv_sec) - mt.tv_sec) * 1'000'000'000 + (rt.tv_nsec - mt.tv_nsec);
        try {
            for (const auto& e : qmp_->take_events(200)) {
                const auto& ts = e.value("timestamp", nlohmann::json::object());
                if (!ts.contains("seconds") || !ts["seconds"].is_number()) continue;
                const int64_t real = ts["seconds"].get<int64_t>() * 1'000'000'000 +
                                     ts.value("microseconds", int64_t(0)) * 1000;
                const uint64_t at = uint64_t(real - offset);
                const std::string ev = e.value("event", "");
                // QEMU runs the guest (RESUME) just before it declares the migration completed
                if (ev == "MIGRATION" && e.contains("data") && e["data"].value("status", "") == "completed")
                    m.push_back({"state_loaded", at, "qmp:MIGRATION completed"});
                else if (ev == "RESUME")
                    m.push_back({"resumed", at, "qmp:RESUME"});
            }
        } catch (const UserError&) {
        }
        return m;
    }

    void stop() noexcept override {
        qmp_.reset();
        if (ping_fd_ >= 0) {
            close(ping_fd_);
            ping_fd_ = -1;
        }
        if (child_.pid > 0) {
            terminate(child_.pid, std::chrono::milliseconds(2000));
            child_.pid = -1;
        }
    }

    // A QEMU whose accelerator failed the vCPU (qemu_vcpu_failure) or whose guest kernel panicked
    // (guest_kernel_panic) still runs, but its guest never will again: not alive, so waits for it
    // end at once with failure_hint()'s reason.
    bool alive() const override {
        return child_.pid > 0 && !child_exited(child_.pid) && vcpu_failure().empty() && kernel_panic().empty();
    }
    std::string kernel_panic() const override {
        if (panic_.empty()) scan_console();
        return panic_;
    }
    pid_t main_pid() const override { return child_.pid; }
    std::vector<pid_t> pids() const override { return {child_.pid}; }

    std::map<std::string, std::string> console_files() const override {
        if (spec_.variant == Variant::full)
            return {{"console", "console.log"}, {"firmware", "firmware.log"}, {"marks", kMarksFile}};
        return {{"console", "console.log"}, {"firmware", "firmware.log"}};
    }

    std::vector<MarkerSpec> milestones() const override {
        if (spec_.restore)  // the state holds a guest long past every boot milestone: it answers
            return {{ping_stream(), kPongMarker, "ready"}};
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
        std::string c = read_tail((spec_.run_dir / "console.log").string(), 300);
        if (auto f = vcpu_failure(); !f.empty())
            return "QEMU stopped the VM: \"" + f + "\": the host's " + std::string(spec_.accel == Accel::kvm ? "KVM" : "TCG") +
                   " could not run its vCPU (QEMU's register dump is in " + (spec_.run_dir / "qemu.log").string() +
                   ")" + (c.empty() ? "" : "; console: " + c);
        if (auto p = kernel_panic(); !p.empty()) return "the guest's kernel panicked: " + p;
        std::string q = read_tail((spec_.run_dir / "qemu.log").string(), 300);
        return (q.empty() ? "" : "qemu: " + q) + run_state() + (c.empty() ? "" : " console: " + c);
    }

    // QEMU's flat memory tree, over the QMP socket command_line() gives every VM.
    std::optional<DeviceMap> device_map() const override {
        QmpClient qmp((spec_.run_dir / "qmp.sock").string(), 10000);
        return parse_mtree(qmp.hmp("info mtree -f"));
    }

    std::optional<uint64_t> ram_resident_bytes() const override {
        if (child_.pid <= 0) return std::nullopt;
        return vm_ram_resident_bytes(child_.pid, spec_.memory_mb,
                                     spec_.lazy ? spec_.checkpoint_dir / kCheckpointRam : std::filesystem::path());
    }

private:
    // For a QEMU still running: its monitor's word on the VM (" QEMU says the VM is running" or
    // "... is paused (inmigrate)"): a guest that never answers while running is stuck inside, one
    // that is paused was never resumed. "" when QEMU is gone or its monitor does not answer.
    std::string run_state() const {
        if (child_.pid <= 0 || child_exited(child_.pid)) return "";
        const auto st = query_status(500);
        if (!st) return "";
        const std::string status = st->value("status", "");
        return st->value("running", false) ? " QEMU says the VM is running (" + status + ")"
                                           : " QEMU says the VM is paused (" + status + ")";
    }

    // QMP's query-status, over the restore's connection where there is one; nullopt when the
    // monitor does not answer within timeout_ms.
    std::optional<nlohmann::json> query_status(int timeout_ms) const {
        try {
            std::optional<QmpClient> own;
            QmpClient* q = qmp_.get();
            if (!q) q = &own.emplace((spec_.run_dir / "qmp.sock").string(), timeout_ms);
            auto st = q->execute("query-status");
            if (st.is_object()) return st;
        } catch (...) {
        }
        return std::nullopt;
    }

    // qemu_vcpu_failure() of qemu.log, read again only when the log grew
    std::string vcpu_failure() const {
        std::error_code ec;
        const auto log = spec_.run_dir / "qemu.log";
        const auto size = std::filesystem::file_size(log, ec);
        if (ec || size == log_size_) return failure_;
        log_size_ = size;
        std::ifstream in(log, std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        failure_ = qemu_vcpu_failure(text);
        // QEMU also prints its error and dump for an emulation failure in guest user mode, then
        // runs on: only a VM QEMU stopped (run state internal-error) has failed. Without an answer
        // from its monitor, the log's word stands.
        if (!failure_.empty())
            if (const auto st = query_status(2000); st && st->value("status", "") != "internal-error") failure_.clear();
        return failure_;
    }

    // Reads what the console gained since the last call (and the marker's length before it, for a
    // marker split between two reads); once the marker's line is whole, the whole console for the
    // oops.
    void scan_console() const {
        static constexpr std::string_view kMarker = "Kernel panic - not syncing";
        const auto path = spec_.run_dir / "console.log";
        std::error_code ec;
        const auto size = std::filesystem::file_size(path, ec);
        if (ec || size == console_seen_) return;
        if (size < console_seen_) {  // written anew (a second start): read from its beginning
            console_seen_ = 0;
            console_tail_.clear();
        }
        std::ifstream in(path, std::ios::binary);
        if (!in) return;
        in.seekg(std::streamoff(console_seen_));
        std::string fresh((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (fresh.empty()) return;
        console_seen_ += fresh.size();
        console_tail_ += fresh;
        const bool found = console_tail_.find(kMarker) != std::string::npos;
        if (console_tail_.size() > kMarker.size()) console_tail_.erase(0, console_tail_.size() - kMarker.size());
        if (!found) return;
        std::ifstream all(path, std::ios::binary);
        const std::string text((std::istreambuf_iterator<char>(all)), std::istreambuf_iterator<char>());
        if (const auto at = text.rfind(kMarker); at != std::string::npos && text.find('\n', at) == std::string::npos) {
            console_seen_ = at;  // its line is still being written: read again from the marker on
            console_tail_.clear();
            return;
        }
        panic_ = guest_kernel_panic(text);
    }

    // Migration capabilities: events (a restore's marks) and, for lazy checkpoints, x-ignore-shared
    // (shared RAM stays in its file, out of the saved state).
    nlohmann::json capabilities(bool events) const {
        nlohmann::json c = nlohmann::json::array();
        if (events) c.push_back({{"capability", "events"}, {"state", true}});
        c.push_back({{"capability", "x-ignore-shared"}, {"state", spec_.lazy}});
        return c;
    }

    GuestSpec spec_;
    Child child_;
    mutable uintmax_t log_size_ = 0;
    mutable std::string failure_;
    mutable uint64_t console_seen_ = 0;  // bytes of console.log scan_console() has read
    mutable std::string console_tail_;   // their end, as long as the panic marker
    mutable std::string panic_;          // guest_kernel_panic() once seen
    std::unique_ptr<QmpClient> qmp_;  // a restore's, from start() until stopped
    uint64_t load_ns_ = 0;            // when it was told to load the state
    int ping_fd_ = -1;
};

}  // namespace

std::vector<std::string> QemuDriver::command_line(const GuestSpec& spec) {
    const auto run = spec.run_dir;
    const bool ckpt = !spec.checkpoint_dir.empty();
    // A checkpointed or restored guest answers pings: the serial port it answers on is a socket
    // (ping.sock) whose output QEMU also logs to the file the console watcher reads.
    auto serial = [&](const std::string& file, bool pinged) -> std::vector<std::string> {
        if (!pinged) return {"-serial", "file:" + (run / file).string()};
        const std::string id = file == kMarksFile ? "marks" : "console";
        return {"-chardev", "socket,id=" + id + ",path=" + qemu_opt_escape((run / "ping.sock").string()) +
                                ",server=on,wait=off,logfile=" + qemu_opt_escape((run / file).string()),
                "-serial", "chardev:" + id};
    };
    std::vector<std::string> a{kQemu,
                               "-name", spec.name + ",debug-threads=on",
                               "-machine", ckpt && spec.lazy ? "pc,memory-backend=ram" : "pc",
                               "-accel", to_string(spec.accel),
                               "-m", std::to_string(spec.memory_mb),
                               "-smp", std::to_string(spec.vcpus),
                               "-nodefaults", "-no-user-config", "-display", "none"};
    for (auto& x : serial("console.log", ckpt && spec.variant == Variant::app)) a.push_back(x);
    // SeaBIOS logs to port 0x402; it writes there whether or not the device exists, so attaching
    // it adds no VM exits.
    a.insert(a.end(), {"-chardev", "file,id=fw,path=" + qemu_opt_escape((run / "firmware.log").string()),
                       "-device", "isa-debugcon,iobase=0x402,chardev=fw"});
    if (spec.accel == Accel::kvm) {  // "host" where KVM takes it whole, else the best model that starts
        a.push_back("-cpu");
        a.push_back(kvm_cpu_model().qemu_arg());
    }
    switch (spec.variant) {
    case Variant::full:
        a.insert(a.end(), {"-kernel", spec.images.kernel(spec.kernel).string(), "-initrd", spec.images.initrd(spec.kernel).string(),
                           "-append", "root=/dev/vda rw console=ttyS0 quiet init=/usr/local/sbin/hypetrace-init"});
        // ttyS1: the ready marker's own channel (see kMarksFile)
        for (auto& x : serial(kMarksFile, ckpt)) a.push_back(x);
        if (!ckpt)  // snapshot=on: every boot starts from the same disk, writes go to a temp overlay
            a.insert(a.end(), {"-drive", "file=" + qemu_opt_escape(spec.images.disk().string()) +
                                             ",if=virtio,format=raw,snapshot=on"});
        else  // the checkpoint's overlay: written by the guest checkpointed, read-only to those restored
            a.insert(a.end(), {"-drive", "file=" + qemu_opt_escape((spec.checkpoint_dir / kCheckpointDisk).string()) +
                                             ",if=virtio,format=qcow2" + (spec.restore ? ",snapshot=on" : "")});
        if (!spec.job_dir.empty())  // /dev/vdb: the job (hypetrace-job in the image reads it)
            a.insert(a.end(), {"-drive", "file=" + qemu_opt_escape((run / "job.tar").string()) + ",if=virtio,format=raw,readonly=on"});
        break;
    case Variant::app:
        a.insert(a.end(), {"-kernel", spec.images.kernel().string(), "-initrd", spec.images.app_initramfs().string(),
                           // 115200 baud: the UART's receive timeout (a ping's line) is 4 character times
                           "-append", "console=ttyS0,115200 quiet rdinit=/bin/bash -- --rcfile /etc/hypetrace/app.rc -i"});
        break;
    case Variant::firmware:
        break;
    }
    if (ckpt && spec.lazy)  // RAM is the checkpoint's file: shared while saved, private once restored
        a.insert(a.end(), {"-object", "memory-backend-file,id=ram,size=" + std::to_string(spec.memory_mb) +
                                          "M,mem-path=" + qemu_opt_escape((spec.checkpoint_dir / kCheckpointRam).string()) +
                                          ",share=" + (spec.restore ? "off" : "on")});
    // Every VM's monitor: devices named (io), migration (checkpoints), its run state (failure_hint).
    a.insert(a.end(), {"-qmp", "unix:" + qemu_opt_escape((run / "qmp.sock").string()) + ",server=on,wait=off"});
    if (ckpt && spec.restore) a.insert(a.end(), {"-incoming", "defer"});
    return a;
}

void QemuDriver::preflight(const GuestSpec& spec) const {
    if (which(kQemu).empty())
        throw UserError(std::string(kQemu) + " not found: install qemu-system-x86 (scripts/setup.sh does)");
    if (!spec.checkpoint_dir.empty() && spec.variant == Variant::full && which("qemu-img").empty())
        throw UserError("qemu-img not found: a checkpoint's disk is a qcow2 overlay; install qemu-utils (scripts/setup.sh does)");
    switch (spec.variant) {
    case Variant::full: spec.images.require({spec.images.kernel(spec.kernel), spec.images.initrd(spec.kernel), spec.images.disk()}); break;
    case Variant::app: spec.images.require({spec.images.kernel(), spec.images.app_initramfs()}); break;
    case Variant::firmware: break;
    }
}

std::unique_ptr<Guest> QemuDriver::create(const GuestSpec& spec) { return std::make_unique<QemuGuest>(spec); }

std::string qemu_vcpu_failure(const std::string& log) {
    auto trim = [](std::string t) {
        while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
        t.erase(0, t.find_first_not_of(" \t"));
        return t;
    };
    // accel/kvm and target/i386/kvm's messages before QEMU dumps the vCPU and stops the VM
    static const char* const kFatal[] = {"KVM internal error", "KVM: entry failed", "kvm run failed",
                                         "KVM: unknown exit reason"};
    std::istringstream in(log);
    std::string line, before_dump;
    bool dump = false;
    for (std::string prev; std::getline(in, line); prev = line) {
        for (const char* f : kFatal)
            if (line.find(f) != std::string::npos) return trim(line);
        // a register dump with no message we know (QEMU prints one only when a vCPU failed)
        if (!dump && (line.rfind("RAX=", 0) == 0 || line.rfind("EAX=", 0) == 0)) {
            dump = true;
            before_dump = trim(prev);
        }
    }
    if (!dump) return "";
    return before_dump.empty() ? "QEMU dumped the vCPU's registers" : before_dump;
}

std::string guest_kernel_panic(const std::string& console) {
    // each line without its "[   19.333284] " stamp (and "[    T1] ", CONFIG_PRINTK_CALLER's) and
    // trailing blanks
    auto clean = [](std::string t) {
        while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
        for (auto open = t.find_first_not_of(" \t"); open != std::string::npos && t[open] == '[';
             open = t.find_first_not_of(" \t")) {
            const auto close = t.find(']', open);
            if (close == std::string::npos) break;
            t.erase(0, close + 1);
        }
        t.erase(0, std::min(t.size(), t.find_first_not_of(" \t")));
        return t;
    };
    static const char* const kCause[] = {"BUG: ", "kernel BUG at", "general protection fault", "Oops: ",
                                         "unable to handle", "divide error", "invalid opcode"};
    std::istringstream in(console);
    std::string line, cause;
    while (std::getline(in, line)) {
        std::string t = clean(line);
        if (t.rfind("Kernel panic - not syncing", 0) == 0)
            return cause.empty() || t.find(cause) != std::string::npos ? t : cause + "; " + t;
        for (const char* c : kCause)
            if (cause.empty() && t.find(c) != std::string::npos) cause = t;
    }
    return "";
}

}  // namespace ht
