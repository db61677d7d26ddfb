// SPDX-License-Identifier: MIT
#include "core/host/host_settings.h"
#include "core/base/text.h"
#include "core/base/setting.h"

#include "core/base/error.h"
#include "core/host/files.h"
#include "core/host/proc.h"

#include <cerrno>
#include <chrono>
#include <thread>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sstream>
#include <mutex>
#include <set>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace ht {
namespace {

// Lock files this process holds (POSIX locks cannot tell a second guard of the same process).
std::mutex& held_mutex() {
    static std::mutex m;
    return m;
}
std::set<std::string>& held_paths() {
    static std::set<std::string> s;
    return s;
}

// "[none] scan-time" -> "none"; plain values unchanged.
std::string selected(const std::string& v) {
    auto open = v.find('[');
    auto close = v.find(']');
    if (open != std::string::npos && close != std::string::npos && close > open)
        return v.substr(open + 1, close - open - 1);
    return v;
}

bool write_setting(const fs::path& file, const std::string& value, int* err) {
    int fd = open(file.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);  // O_TRUNC: as `echo >`
    if (fd < 0) {
        *err = errno;
        return false;
    }
    ssize_t n = write(fd, value.data(), value.size());
    *err = n < 0 ? errno : 0;
    close(fd);
    return n == ssize_t(value.size());
}

}  // namespace

// Scan parameters first, then advisor_mode (kernel 6.9+: while the advisor is on, the kernel refuses
// a write to pages_to_scan, which it then sets itself), `run` last, so ksmd never runs with a mix.
namespace {
// Everything but the two written last.
bool is_scan_parameter(const std::string& name) { return name != "run" && name != "advisor_mode"; }
}  // namespace

std::vector<std::string> ksm_restore_order(const KsmSettings& s) {
    std::vector<std::string> names;
    for (const auto& [k, v] : s)
        if (is_scan_parameter(k)) names.push_back(k);
    for (const char* last : {"advisor_mode", "run"})
        if (s.count(last)) names.push_back(last);
    return names;
}

namespace {
}  // namespace

KsmSettings read_ksm_settings(const fs::path& dir) {
    KsmSettings s;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        struct stat st {};
        if (stat(e.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & S_IWUSR)) continue;
        if (auto v = read_text(e.path().string())) s[e.path().filename().string()] = selected(trim(*v));
    }
    return s;
}

std::string format_ksm_settings(const KsmSettings& s) {
    std::string out;
    for (const auto& [k, v] : s) out += k + " " + v + "\n";
    return out;
}

KsmSettings parse_ksm_settings(const std::string& text) {
    KsmSettings s;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        auto sp = line.find(' ');
        if (sp == std::string::npos || sp == 0) continue;
        s[line.substr(0, sp)] = line.substr(sp + 1);
    }
    return s;
}

KsmCounters read_ksm_counters(const fs::path& dir) {
    auto num = [&](const char* f) {
        return std::strtoull(read_text((dir / f).string()).value_or("0").c_str(), nullptr, 10);
    };
    return {num("pages_shared"), num("pages_sharing"), num("pages_unshared"), num("pages_volatile"), num("full_scans")};
}

KsmSettings HostSettingsGuard::current() const {
    KsmSettings s = read_ksm_settings(sysfs_);
    for (const auto& [name, path] : extra_)
        if (auto v = read_text(path.string())) s[name] = selected(trim(*v));
    return s;
}

fs::path HostSettingsGuard::file_of(const std::string& name) const {
    auto it = extra_.find(name);
    return it != extra_.end() ? it->second : sysfs_ / name;
}

HostSettingsGuard::HostSettingsGuard(fs::path sysfs_dir, fs::path state_dir, std::map<std::string, fs::path> extra)
    : sysfs_(std::move(sysfs_dir)), state_(std::move(state_dir)), extra_(std::move(extra)) {
    std::error_code ec;
    if (!fs::exists(sysfs_ / "run", ec))
        throw UserError("this kernel has no KSM (" + (sysfs_ / "run").string() +
                        " is missing): build it with CONFIG_KSM=y, or run without " + ref(Setting::ksm));
    ensure_private_dir(state_);
    const fs::path lock = state_ / "settings.lock";
    // A POSIX record lock, not flock(): forked children (liblxc's, mid-start when a run is killed)
    // do not inherit it, so it goes exactly when this process does. POSIX locks are per process
    // (and closing any descriptor of the file drops them), so a second guard in this process is
    // refused before it opens the file.
    lock_path_ = lock.string();
    {
        std::lock_guard<std::mutex> g(held_mutex());
        if (held_paths().count(lock_path_))
            throw UserError("another hypetrace run (pid " + std::to_string(getpid()) +
                            ") owns KSM; wait for it to finish, it restores KSM when it ends");
    }
    lock_fd_ = open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) throw UserError(errno_text("cannot open " + lock.string(), errno));
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    bool taken = fcntl(lock_fd_, F_SETLK, &fl) == 0;
    if (taken) {
        std::lock_guard<std::mutex> g(held_mutex());
        held_paths().insert(lock_path_);
    }
    if (!taken) {
        std::string owner = trim(read_text(lock.string()).value_or(""));
        close(lock_fd_);
        lock_fd_ = -1;
        throw UserError("another hypetrace run" + (owner.empty() ? "" : " (pid " + owner + ")") +
                        " owns KSM; wait for it to finish, it restores KSM when it ends");
    }
    std::string me = std::to_string(getpid()) + "\n";
    if (ftruncate(lock_fd_, 0) == 0) {
        [[maybe_unused]] auto n = pwrite(lock_fd_, me.data(), me.size(), 0);
    }

    // A run that died without restoring left its saved settings: put them back first.
    const fs::path saved_file = saved_path(state_);
    if (auto old = read_text(saved_file.string()); old && !old->empty()) {
        saved_ = parse_ksm_settings(*old);
        KsmSettings now = current();
        for (const auto& [k, v] : saved_)
            if (now.count(k) && now[k] != v) recovered_ = true;  // else it died without changing KSM
        recovered_ksm_run_ = now.count("run") && now["run"] == "1" && saved_.count("run") && saved_["run"] != "1";
        if (!restore()) {
            release_lock();
            throw UserError("a previous hypetrace run left KSM changed and its settings (" + saved_file.string() +
                            ") cannot be written back: " + failed_ + "; fix them by hand and remove that file");
        }
        restored_ = false;
    }
    saved_ = current();
    try {
        write_file_atomic(saved_file, format_ksm_settings(saved_));
    } catch (...) {
        release_lock();
        throw;
    }
}

HostSettingsGuard::~HostSettingsGuard() {
    restore();
    release_lock();
}

void HostSettingsGuard::release_lock() noexcept {
    if (lock_fd_ < 0) return;
    close(lock_fd_);  // drops the POSIX lock
    lock_fd_ = -1;
    std::lock_guard<std::mutex> g(held_mutex());
    held_paths().erase(lock_path_);
}

void HostSettingsGuard::set(const std::string& name, const std::string& value) {
    auto cur = current();
    if (cur.count(name) && cur[name] == value) return;
    int err = 0;
    if (!write_setting(file_of(name), value, &err))
        throw UserError(errno_text("cannot set " + file_of(name).string() + " to " + value, err));
}

void HostSettingsGuard::set_thp(const std::string& mode) {
    if (!saved_.count("thp"))
        throw UserError("this kernel has no transparent huge page control (" + file_of("thp").string() + " is missing)");
    set("thp", mode);
}

void HostSettingsGuard::ensure_inotify_instances(unsigned n) {
    auto cur = current();
    if (!cur.count("inotify_instances")) return;
    if (std::strtoul(cur["inotify_instances"].c_str(), nullptr, 10) < n) set("inotify_instances", std::to_string(n));
}

std::string HostSettingsGuard::thp() const {
    auto c = current();
    return c.count("thp") ? c["thp"] : "";
}

void HostSettingsGuard::enable(unsigned pages_to_scan, unsigned sleep_ms) {
    if (!enabled_) at_enable_ = read_ksm_counters(sysfs_);
    enabled_ = true;
    if (saved_.count("advisor_mode")) set("advisor_mode", "none");
    set("pages_to_scan", std::to_string(pages_to_scan));
    set("sleep_millisecs", std::to_string(sleep_ms));
    set("run", "1");
}

void HostSettingsGuard::disable() {
    if (owns_running_ksm()) settle();
    set("run", "0");
}

bool HostSettingsGuard::owns_running_ksm() const {
    if (!enabled_) return false;
    const auto run = saved_.find("run");
    return run != saved_.end() && run->second != "1" && current()["run"] == "1";
}

void HostSettingsGuard::settle_recovered() noexcept {
    if (!recovered_ksm_run_) return;
    recovered_ksm_run_ = false;
    try {
        const std::string stop = saved_.at("run");
        int err = 0;
        if (!write_setting(file_of("run"), "1", &err)) return;
        at_enable_ = {};  // what the dead run found is not known: down to no merge counted
        settle();
        write_setting(file_of("run"), stop, &err);
    } catch (...) {
    }
}

void HostSettingsGuard::unmerge() { set("run", "2"); }

void HostSettingsGuard::settle() noexcept {
    settled_ = true;
    try {
        const auto start = read_ksm_counters(sysfs_);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(settle_timeout_s_);
        for (KsmCounters c = start;; c = read_ksm_counters(sysfs_)) {
            if (c.pages_shared <= at_enable_.pages_shared && c.pages_sharing <= at_enable_.pages_sharing) return;
            // Two full scans after this point have visited every registered process, the ended ones
            // included (merges still counted then belong to processes still alive).
            if (c.full_scans >= start.full_scans + 2 || std::chrono::steady_clock::now() >= deadline) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    } catch (...) {
    }
    settled_ = false;
}

bool HostSettingsGuard::restore() noexcept {
    if (restored_ || saved_.empty()) return true;
    bool ok = true;
    try {
        if (!restore_settled_ && owns_running_ksm()) {
            restore_settled_ = true;
            settle();
        }
        KsmSettings now = current();
        // A scan parameter to write while the advisor is on (a run killed before it turned the
        // advisor off, or a user who turned it on since): the advisor off first, back in its turn.
        bool param_differs = false;
        for (const auto& [name, want] : saved_)
            if (is_scan_parameter(name) && now.count(name) && now[name] != want) param_differs = true;
        if (param_differs && now.count("advisor_mode") && now["advisor_mode"] != "none") {
            int err = 0;
            if (write_setting(file_of("advisor_mode"), "none", &err)) now["advisor_mode"] = "none";
        }
        failed_.clear();
        for (const auto& name : ksm_restore_order(saved_)) {
            const std::string& want = saved_.at(name);
            auto it = now.find(name);
            if (it == now.end() || it->second == want) continue;
            int err = 0;
            if (!write_setting(file_of(name), want, &err)) {
                ok = false;
                failed_ += (failed_.empty() ? "" : ", ") + file_of(name).string() + "=" + want + " (" +
                           std::string(strerror(err)) + ")";
            }
        }
        if (ok) {
            std::error_code ec;
            fs::remove(saved_path(state_), ec);
            restored_ = true;
        }
    } catch (...) {
        ok = false;
    }
    return ok;
}

}  // namespace ht
