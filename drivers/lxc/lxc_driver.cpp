// SPDX-License-Identifier: MIT
#include "drivers/lxc/lxc_driver.h"
#include "core/base/setting.h"

#include "core/base/clock.h"
#include "core/base/error.h"
#include "core/host/files.h"
#include "core/host/proc.h"
#include "core/host/spawn.h"
#include "core/base/text.h"

#include <lxc/lxccontainer.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <fcntl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace ht {
namespace {

constexpr const char* kFullInit = "/usr/local/sbin/hypetrace-init";

// Where cgroup hierarchies are mounted (v1 controllers, v2), from /proc/self/mountinfo.
std::vector<fs::path> cgroup_mounts() {
    const auto points = cgroup_mount_points(read_text("/proc/self/mountinfo").value_or(""));
    return {points.begin(), points.end()};
}

// liblxc's monitor cgroup of a container (lxc.monitor.NAME in every hierarchy) outlives the
// monitor on hybrid hosts. rmdir refuses it while it holds a process, a zombie included on cgroup
// v2 (the daemonized monitor is reaped by init, at init's pace), so the names wait here and every
// stop() tries them all once; the driver's end tries for up to 5 s more.
std::mutex& leftovers_mutex() {
    static std::mutex m;
    return m;
}
std::vector<std::string>& leftover_monitor_cgroups() {
    static std::vector<std::string> v;
    return v;
}

void queue_monitor_cgroup(const std::string& name) noexcept {
    try {
        std::lock_guard<std::mutex> g(leftovers_mutex());
        leftover_monitor_cgroups().push_back(name);
    } catch (...) {
    }
}

// A cgroup and its descendants, deepest first; a cgroup still holding a process stays. Never throws.
void remove_empty_cgroups(const fs::path& dir) noexcept {
    std::error_code ec;
    std::vector<fs::path> subs;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.is_directory(ec) && !e.is_symlink(ec)) subs.push_back(e.path());
    for (const auto& sub : subs) remove_empty_cgroups(sub);
    rmdir(dir.c_str());
}

void try_remove_monitor_cgroups() {
    std::lock_guard<std::mutex> g(leftovers_mutex());
    auto& names = leftover_monitor_cgroups();
    if (names.empty()) return;
    const auto mounts = cgroup_mounts();
    names.erase(std::remove_if(names.begin(), names.end(),
                               [&](const std::string& name) {
                                   bool gone = true;
                                   for (const auto& m : mounts)
                                       if (rmdir((m / ("lxc.monitor." + name)).c_str()) != 0 && errno != ENOENT)
                                           gone = false;
                                   return gone;
                               }),
                names.end());
}

constexpr const char* kAppInit = "/bin/bash";

// CRIU's first own error in its output, from "Error (" on ("Error (criu/files-ext.c:94): Can't
// dump ..."): the ones after it are its consequences, and "exited, status=1" lines its helpers'
// exits. "" when there is none.
std::string first_criu_error(const std::string& text) {
    std::istringstream lines(text);
    for (std::string l; std::getline(lines, l);) {
        const auto at = l.find("Error (");
        if (at != std::string::npos && l.find("exited, status", at) == std::string::npos) return l.substr(at);
    }
    return "";
}

// A checkpointable container's seccomp profile (in its run_dir): LXC's common one, bpf() refused.
constexpr const char* kCommonSeccomp = "/usr/share/lxc/config/common.seccomp";
std::string no_bpf_seccomp() {
    std::string common = read_text(kCommonSeccomp).value_or("2\ndenylist\n[all]\n");
    if (!common.empty() && common.back() != '\n') common += '\n';
    return common + "bpf errno 1\n";
}

class LxcGuest : public Guest {
public:
    explicit LxcGuest(GuestSpec spec) : spec_(std::move(spec)) {}
    ~LxcGuest() override { stop(); }

    GuestKind kind() const override { return GuestKind::container; }

    void start() override {
        fs::path lxcpath = spec_.run_dir / "lxc";
        fs::create_directories(lxcpath / spec_.name);
        if (spec_.rootfs == RootfsMode::shared) fs::create_directories(spec_.run_dir / "ovl" / "upper");
        for (const auto& [stream, file] : console_files()) std::ofstream(spec_.run_dir / file).flush();
        if (checkpointable()) write_file_atomic(spec_.run_dir / kNoBpfSeccomp, no_bpf_seccomp());
        if (!prepared_) prepare();
        c_ = lxc_container_new(spec_.name.c_str(), lxcpath.c_str());
        if (!c_) throw UserError("liblxc could not create container " + spec_.name + " in " + lxcpath.string());
        for (const auto& [k, v] : LxcDriver::config(spec_))
            if (!c_->set_config_item(c_, k.c_str(), v.c_str()))
                throw UserError("liblxc rejected config item " + k + " = " + v);
        c_->want_daemonize(c_, true);
        c_->want_close_all_fds(c_, true);
        // liblxc's start moves its caller into the container's lxc.monitor cgroup (every
        // hierarchy; seen here with liblxc 5.0): hypetrace would then be counted in the container's
        // monitor cgroup, which could not be removed while hypetrace lives. Moved back at once.
        const auto home = cgroup_dirs(read_text("/proc/self/cgroup").value_or(""),
                                      read_text("/proc/self/mountinfo").value_or(""));
        const auto children_before = own_children();
        std::string images = criu_dir().string();  // liblxc's restore takes a char*
        const bool started = spec_.restore ? c_->restore(c_, images.data(), false) : c_->start(c_, 0, nullptr);
        const std::string me = std::to_string(getpid());
        for (const auto& dir : home) std::ofstream(dir + "/cgroup.procs") << me << std::flush;
        if (spec_.restore) {
            restored_ns_ = mono_ns();  // CRIU restored the processes and let them run (--restore-detached)
            // liblxc's restore forks the container's monitor from hypetrace and leaves it there: it
            // is the one new child, reaped by stop().
            for (pid_t p : own_children())
                if (std::find(children_before.begin(), children_before.end(), p) == children_before.end())
                    restore_monitor_ = p;
            if (!started) {
                remove_makers_cgroups();
                throw UserError("CRIU could not restore container " + spec_.name + " from " +
                                spec_.checkpoint_dir.string() + ": " + criu_error(criu_dir() / "restore.log"));
            }
        }
        if (!started)
            throw UserError("liblxc could not start container " + spec_.name + ": " +
                            read_tail((spec_.run_dir / "lxc.log").string(), 300));
        init_pid_ = c_->init_pid(c_);
        // With daemonize, liblxc's monitor ("[lxc monitor] PATH NAME") is the parent of init.
        auto text = read_text("/proc/" + std::to_string(init_pid_) + "/stat");
        if (auto st = text ? parse_proc_stat(*text) : std::nullopt) monitor_pid_ = st->ppid;
        // The container's cgroup, read from where its init is (v1 hybrid or v2 only, whatever
        // lxc.cgroup.dir or a name suffix made of it), kept for stop() to wait on.
        cgroup_dir_ = cgroup_dir_under(read_text("/proc/" + std::to_string(init_pid_) + "/cgroup").value_or(""),
                                       read_text("/proc/self/mountinfo").value_or(""), "lxc.payload.");
    }

    std::vector<pid_t> helper_pids() const override {
        if (monitor_pid_ > 1 && process_alive(monitor_pid_)) return {monitor_pid_};
        return {};
    }

    void stop() noexcept override {
        if (!c_) return;
        if (c_->is_running(c_)) {
            c_->stop(c_);
            c_->wait(c_, "STOPPED", 10);
        }
        lxc_container_put(c_);
        c_ = nullptr;
        if (restore_monitor_ > 0) {  // our child (see start): it ends once the container stopped
            poll_until([&] { return waitpid(restore_monitor_, nullptr, WNOHANG) != 0; }, 5000, 10);
            restore_monitor_ = -1;
        }
        // The monitor process removes the container's cgroups after STOPPED: wait for that (2 s at
        // most), so nothing of this guest is left when stop() returns. A container CRIU checkpointed
        // (and killed), or failed to, keeps its cgroups: its monitor ends without removing them
        // (seen with liblxc 5.0.2, CRIU 3.17). Removed here once empty: its last processes may
        // still be exiting (up to 5 s more).
        if (!poll_until([&] { return cgroup().empty(); }, 2000, 10))
            poll_until(
                [&] {
                    remove_empty_cgroups(cgroup_dir_);
                    return cgroup().empty();
                },
                5000, 20);
        queue_monitor_cgroup(spec_.name);
        try_remove_monitor_cgroups();
    }

    bool alive() const override { return c_ && c_->is_running(c_); }
    pid_t main_pid() const override { return init_pid_; }

    std::string cgroup() const override {
        std::error_code ec;
        return !cgroup_dir_.empty() && fs::exists(fs::path(cgroup_dir_) / "cgroup.procs", ec) ? cgroup_dir_ : "";
    }

    std::vector<pid_t> pids() const override {
        std::string cg = cgroup();
        if (cg.empty()) return {};
        std::vector<pid_t> all;
        // cgroup.procs lists only a cgroup's own processes (v1 and v2): walk the sub-cgroups too.
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator(cg, ec); !ec && it != fs::recursive_directory_iterator();
             it.increment(ec))
            if (it->path().filename() == "cgroup.procs")
                for (pid_t p : parse_pid_list(read_text(it->path()).value_or(""))) all.push_back(p);
        for (pid_t p : parse_pid_list(read_text(cg + "/cgroup.procs").value_or(""))) all.push_back(p);
        std::sort(all.begin(), all.end());
        all.erase(std::unique(all.begin(), all.end()), all.end());
        return all;
    }

    std::map<std::string, std::string> console_files() const override {
        if (checkpointable()) return {{"marks", kMarksFile}};  // no console: see LxcDriver::config
        if (spec_.variant == Variant::full) return {{"console", "console.log"}, {"marks", kMarksFile}};
        return {{"console", "console.log"}};
    }
    std::vector<MarkerSpec> milestones() const override {
        if (spec_.restore) return {{"marks", kPongMarker, "ready"}};  // it answers: proven running
        if (checkpointable()) return {{"marks", kReadyMarker, "ready"}};
        return console_milestones(spec_.variant);
    }
    std::string init_path() const override { return spec_.variant == Variant::app ? kAppInit : kFullInit; }
    std::string describe() const override {
        std::string s = "liblxc";
        for (const auto& [k, v] : LxcDriver::config(spec_)) s += " " + k + "=" + v;
        return s;
    }
    std::string failure_hint() const override {
        if (checkpointable())
            return "lxc: " + read_tail((spec_.run_dir / "lxc.log").string(), 300) +
                   " marks: " + read_tail((spec_.run_dir / kMarksFile).string(), 300);
        return "lxc: " + read_tail((spec_.run_dir / "lxc.log").string(), 300) +
               " console: " + read_tail((spec_.run_dir / "console.log").string(), 300);
    }

    // Checkpointed by CRIU through liblxc (lxc_container::checkpoint), restored likewise.
    bool can_checkpoint() const override { return spec_.variant != Variant::firmware; }
    std::string ping_stream() const override { return "marks"; }
    // Into the FIFO the container's answerer reads (scripts/guest/hypetrace-echo, app.rc), reached
    // through its init's root; not there yet (ENOENT) or no reader (ENXIO): call again.
    bool ping(uint64_t token) noexcept override {
        if (init_pid_ <= 0) return false;
        const std::string fifo = "/proc/" + std::to_string(init_pid_) + "/root/dev/hypetrace-ping";
        const int fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) return false;
        const std::string line = std::to_string(token) + "\n";
        const bool sent = write(fd, line.data(), line.size()) == ssize_t(line.size());
        close(fd);
        return sent;
    }
    std::vector<MarkerHit> restore_marks() override {
        if (!spec_.restore || !restored_ns_) return {};
        return {{"resumed", restored_ns_, "liblxc:restore returned"}};
    }
    // CRIU's images go to checkpoint_dir/state (a directory), the container stopped by the dump.
    void checkpoint() override {
        const fs::path dir = spec_.checkpoint_dir / kCheckpointState;
        fs::create_directories(dir);
        std::string images = dir.string();  // liblxc takes a char*
        const bool saved = c_ && c_->is_running(c_) && c_->checkpoint(c_, images.data(), true, false);
        stop();
        if (saved) write_file_atomic(dir / kMakerFile, spec_.name);  // see remove_makers_cgroups
        if (!saved)
            throw UserError("CRIU could not checkpoint container " + spec_.name + ": " + criu_error(dir / "dump.log"));
    }

    void prepare() override {
        if (spec_.rootfs == RootfsMode::copied) copy_rootfs();
        if (spec_.restore) copy_saved_images();
        prepared_ = true;
    }

private:
    bool checkpointable() const { return !spec_.checkpoint_dir.empty(); }

    // What a restore hands CRIU: a copy of the saved images in run_dir, made before the timed start
    // (as a VM's disk overlay), so what CRIU writes beside them (its log, its statistics) never
    // touches the cache. Not symlinks: CRIU resolves them after it entered the container's root.
    fs::path criu_dir() const { return spec_.run_dir / "criu"; }
    void copy_saved_images() {
        const fs::path saved = spec_.checkpoint_dir / kCheckpointState;
        std::error_code ec;
        fs::copy(saved, criu_dir(), fs::copy_options::recursive, ec);
        if (ec) throw UserError("cannot copy the container's checkpoint " + saved.string() + ": " + ec.message());
    }

    // A restore CRIU gave up on leaves the cgroups it had made for the restored processes, named
    // after the container that was saved (lxc.payload.MAKER/...: seen in the lab, CRIU 3.17):
    // removed, where empty, by the name the checkpoint keeps (kMakerFile).
    static constexpr const char* kMakerFile = "hypetrace-container";
    void remove_makers_cgroups() const noexcept {
        try {
            const std::string maker = read_text(criu_dir() / kMakerFile).value_or("");  // as written: no newline
            if (maker.empty() || maker.find_first_of("/\n") != std::string::npos) return;
            for (const auto& m : cgroup_mounts()) {
                std::error_code ec;
                if (fs::is_directory(m / ("lxc.payload." + maker), ec)) remove_empty_cgroups(m / ("lxc.payload." + maker));
            }
        } catch (...) {
        }
    }

    // CRIU's first own error in its log ("Error (criu/mount.c:...): ..."), else the log's last line.
    static std::string criu_error(const fs::path& log) {
        if (auto e = first_criu_error(read_text(log).value_or("")); !e.empty()) return e;
        const std::string tail = read_tail(log.string(), 300);
        return tail.empty() ? "no log in " + log.string() : tail;
    }

    // This process's children (/proc/self/task/*/children).
    static std::vector<pid_t> own_children() {
        std::vector<pid_t> out;
        std::error_code ec;
        for (const auto& t : fs::directory_iterator("/proc/self/task", ec))
            for (pid_t p : parse_pid_list(read_text(t.path() / "children").value_or(""))) out.push_back(p);
        return out;
    }

    void copy_rootfs() {
        fs::path dst = spec_.run_dir / "rootfs";
        SpawnOptions o;
        o.stderr_path = (spec_.run_dir / "copy.log").string();
        int rc = run_and_wait({"cp", "-a", "--reflink=never", spec_.images.rootfs().string(), dst.string()}, o);
        if (rc != 0)
            throw UserError("cannot copy the rootfs for container " + spec_.name + " (cp exit " + std::to_string(rc) +
                            "): " + read_tail(o.stderr_path, 200));
    }

    GuestSpec spec_;
    lxc_container* c_ = nullptr;
    pid_t init_pid_ = -1;
    pid_t monitor_pid_ = -1;
    std::string cgroup_dir_;  // "" until started
    pid_t restore_monitor_ = -1;  // a restored container's monitor: our child
    uint64_t restored_ns_ = 0;    // when liblxc's restore returned (CLOCK_MONOTONIC)
    bool prepared_ = false;
};

}  // namespace

std::string LxcDriver::rootfs_path(const GuestSpec& spec) {
    switch (spec.rootfs) {
    case RootfsMode::direct: break;
    // liblxc mounts the overlay inside the container's mount namespace (gone with the container);
    // its workdir is the upper dir's sibling "work".
    case RootfsMode::shared:
        return "overlay:" + spec.images.rootfs().string() + ":" + (spec.run_dir / "ovl" / "upper").string();
    case RootfsMode::copied: return "dir:" + (spec.run_dir / "rootfs").string();
    }
    return "dir:" + spec.images.rootfs().string();
}

std::vector<std::pair<std::string, std::string>> LxcDriver::config(const GuestSpec& spec) {
    std::vector<std::pair<std::string, std::string>> c{
        {"lxc.include", "/usr/share/lxc/config/common.conf"},
        {"lxc.rootfs.path", rootfs_path(spec)},
        {"lxc.uts.name", spec.name},
        {"lxc.net.0.type", "empty"},
        {"lxc.apparmor.profile", "unconfined"},
        {"lxc.mount.auto", "proc:mixed sys:mixed cgroup:mixed"},
        {"lxc.pty.max", "16"},
        {"lxc.log.file", (spec.run_dir / "lxc.log").string()},
        {"lxc.log.level", "WARN"},
    };
    // A container to checkpoint (or restored) has no console and no ttys: CRIU cannot save a
    // terminal whose other end is on the host. It says it is ready and answers pings on its marks
    // channel instead (scripts/guest/hypetrace-echo, app.rc).
    const bool checkpointable = !spec.checkpoint_dir.empty();
    // Nor BPF programs: CRIU cannot save a BPF program's file descriptor, and systemd holds some
    // (IPAddressDeny=, DeviceAllow= on cgroup v2) where bpf() works; with bpf() refused (EPERM,
    // its seccomp profile: see kNoBpfSeccomp) systemd runs those units without them.
    if (checkpointable) {
        c.push_back({"lxc.console.path", "none"});
        c.push_back({"lxc.tty.max", "0"});
        c.push_back({"lxc.seccomp.profile", (spec.run_dir / kNoBpfSeccomp).string()});
    } else {
        c.push_back({"lxc.console.logfile", (spec.run_dir / "console.log").string()});
        c.push_back({"lxc.tty.max", "1"});
    }
    // The ready marker's own channel (see kMarksFile), in /dev (LXC's tmpfs, not the rootfs). A
    // bind mount from the host: liblxc maps it for CRIU (--ext-mount-map), so a restored container
    // writes to its own run's file.
    if (spec.variant == Variant::full || checkpointable)
        c.push_back({"lxc.mount.entry",
                     (spec.run_dir / kMarksFile).string() + " dev/hypetrace-marks none bind,create=file 0 0"});
    if (spec.variant == Variant::app) {
        c.push_back({"lxc.init.cmd", std::string(kAppInit) + " --rcfile /etc/hypetrace/app.rc -i"});
    } else {
        c.push_back({"lxc.init.cmd", kFullInit});
        if (!spec.job_dir.empty())  // the job (hypetrace-job in the image runs it)
            c.push_back({"lxc.mount.entry", spec.job_dir.string() + " hypetrace-job none bind,ro,create=dir 0 0"});
    }
    // Confined to one host CPU (density runs), by the cpuset of whichever hierarchy has it.
    if (spec.host_cpu >= 0) {
        std::error_code e;
        c.push_back({fs::exists("/sys/fs/cgroup/cpuset/cpuset.cpus", e) ? "lxc.cgroup.cpuset.cpus" : "lxc.cgroup2.cpuset.cpus",
                     std::to_string(spec.host_cpu)});
    }
    // As the paper: a container's memory is limited to 256 MB (the resident size of a typical VM).
    std::error_code ec;
    if (fs::exists("/sys/fs/cgroup/memory/memory.limit_in_bytes", ec))
        c.push_back({"lxc.cgroup.memory.limit_in_bytes", "256M"});
    else if (read_text("/sys/fs/cgroup/cgroup.controllers").value_or("").find("memory") != std::string::npos)
        c.push_back({"lxc.cgroup2.memory.max", "256M"});
    return c;
}

void LxcDriver::preflight(const GuestSpec& spec) const {
    if (spec.variant == Variant::firmware) throw UserError("a container has no firmware: " + ref(Setting::kvm_bios) + " is for VMs only");
    spec.images.require({spec.images.rootfs() / (spec.variant == Variant::app ? "bin/bash" : "usr/local/sbin/hypetrace-init")});
}

std::unique_ptr<Guest> LxcDriver::create(const GuestSpec& spec) { return std::make_unique<LxcGuest>(spec); }

Driver::Reaped LxcDriver::reap(const fs::path& run_dir) noexcept {
    Reaped out;
    try {  // noexcept: what could not be listed is left for the next cleanup
        std::error_code ec;
        const fs::path lxcpath = run_dir / "lxc";
        for (const auto& e : fs::directory_iterator(lxcpath, ec)) {
            std::string name = e.path().filename().string();
            lxc_container* c = lxc_container_new(name.c_str(), lxcpath.c_str());
            if (!c) continue;
            if (c->is_running(c)) {
                const pid_t init = c->init_pid(c);
                c->stop(c);
                c->wait(c, "STOPPED", 10);
                const bool still = c->is_running(c);
                if (!still) queue_monitor_cgroup(name);
                try {
                    if (still) out.still_running.push_back("container " + name + " (init pid " + std::to_string(init) +
                                                           ") did not stop within 10 s");
                    else out.stopped.push_back("stopped container " + name + " (init pid " + std::to_string(init) + ")");
                } catch (...) {
                }
            }
            lxc_container_put(c);
        }
    } catch (...) {
    }
    return out;
}

LxcDriver::~LxcDriver() {
    // The last monitors' zombies are reaped by init at its pace (about 2 s on this machine kind's
    // init; at once under systemd): wait up to 5 s so a run leaves none of their cgroups.
    poll_until(
        [] {
            try_remove_monitor_cgroups();
            std::lock_guard<std::mutex> g(leftovers_mutex());
            return leftover_monitor_cgroups().empty();
        },
        5000, 10);
}

std::vector<std::string> LxcDriver::reap_host() noexcept {
    std::vector<std::string> out;
    try {
        // lxc.monitor.ht-...-PID-...: PID, the first all-digit part of the name, made the container
        std::size_t removed = 0;
        for (const auto& m : cgroup_mounts()) {
            std::error_code ec;
            for (const auto& e : fs::directory_iterator(m, ec)) {
                const std::string dir = e.path().filename().string();
                if (dir.rfind("lxc.monitor.ht-", 0) != 0) continue;
                std::istringstream parts(dir.substr(std::string("lxc.monitor.").size()));
                std::string part;
                pid_t owner = 0;
                while (std::getline(parts, part, '-'))
                    if (!part.empty() && part.find_first_not_of("0123456789") == std::string::npos && part.size() < 10) {
                        owner = pid_t(std::stol(part));
                        break;
                    }
                if (owner > 0 && !process_alive(owner) && rmdir(e.path().c_str()) == 0) ++removed;
            }
        }
        if (removed)
            out.push_back("removed " + std::to_string(removed) + " empty liblxc monitor cgroups (lxc.monitor.ht-*)");
    } catch (...) {
    }
    return out;
}

}  // namespace ht

namespace ht {

std::string LxcDriver::restore_problem() const {
    if (which("criu").empty()) return "criu is not installed (scripts/setup.sh installs it)";
    char path[] = "/tmp/hypetrace-criu-check-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return "cannot run criu check: no temporary file";
    close(fd);
    SpawnOptions o;
    o.stdout_path = path;
    o.stderr_path = path;
    int rc = run_and_wait({"criu", "check"}, o);
    const std::string all = read_tail(path, 4000);
    unlink(path);
    // criu's first own error says why ("vdso: Unexpected rt vDSO area bounds"), without its source line
    std::string out = first_criu_error(all);
    if (const auto at = out.find("): "); at != std::string::npos) out = out.substr(at + 3);
    if (out.empty()) out = last_line(all);
    if (rc == 0) return "";
    utsname u{};
    uname(&u);
    return "criu check fails on this kernel (" + std::string(u.release) + "): " + (out.empty() ? "exit " + std::to_string(rc) : out);
}

}  // namespace ht
