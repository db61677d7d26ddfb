// SPDX-License-Identifier: MIT
#include "core/host/files.h"

#include "core/base/error.h"
#include "core/host/proc.h"

#include <cerrno>
#include <chrono>
#include <thread>
#include <cstdlib>
#include <random>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace ht {

Fd Fd::open_read(const std::string& path, int extra_flags) {
    return Fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | extra_flags));
}

void Fd::reset(int fd) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
}

void check_writable(const fs::path& path, const std::string& flag) {
    fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throw UserError(flag + " " + path.string() + ": directory " + dir.string() + " does not exist", 2);
    if (fs::is_directory(path, ec))
        throw UserError(flag + " " + path.string() + ": is a directory, give a file name", 2);
    // A file made and removed there, as write_file_atomic's fallback does: access(2) says yes to root for
    // /proc or a read-only mount, where the result would be lost at the run's end.
    // (mkstemp and mkdtemp fill the template in place: std::string's buffer is writable and ends in NUL)
    std::string made = (dir / ".hypetrace-probe-XXXXXX").string();
    int fd = mkstemp(made.data());
    if (fd < 0) throw UserError(errno_text(flag + " " + path.string() + ": cannot write in " + dir.string(), errno), 2);
    close(fd);
    unlink(made.c_str());
}

namespace {

// Writes all of `content` to `fd`; false with errno set on failure.
bool write_all(int fd, const std::string& content) {
    const char* p = content.data();
    std::size_t left = content.size();
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += n;
        left -= size_t(n);
    }
    return true;
}

[[noreturn]] void cannot_write(const fs::path& path, int err) {
    throw UserError(errno_text("cannot write " + path.string(), err));
}

// A name in `dir` for the moment between link and rename: ".NAME.XXXXXX.new", the X's random
// (the caller retries if one is taken).
fs::path fresh_name(const fs::path& dir, const fs::path& path) {
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    static thread_local std::mt19937_64 rng(
        uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) ^ (uint64_t(getpid()) << 32));
    std::string x(6, '0');
    for (char& c : x) c = digits[rng() % 36];
    return dir / ("." + path.filename().string() + "." + x + ".new");
}

// The file is written unnamed (O_TMPFILE) and gets its name only once whole and synced: a run
// killed (SIGKILL) while writing leaves nothing, where a named temp file would stay behind in a
// directory no cleanup knows about. False (nothing made) where that cannot be done: a filesystem
// without O_TMPFILE (9p, NFS), or no /proc to link the file in through.
bool write_unnamed_then_link(const fs::path& dir, const fs::path& path, const std::string& content) {
    if (access("/proc/self/fd", F_OK) != 0) return false;
    Fd fd(open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644));
    if (!fd) {
        const int err = errno;
        if (err == EOPNOTSUPP || err == EISDIR || err == EINVAL) return false;
        cannot_write(path, err);
    }
    if (!write_all(fd.get(), content) || fchmod(fd.get(), 0644) != 0 || fsync(fd.get()) != 0) cannot_write(path, errno);
    const std::string self = "/proc/self/fd/" + std::to_string(fd.get());
    if (linkat(AT_FDCWD, self.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0) {
        if (close(fd.release()) != 0) cannot_write(path, errno);
        return true;
    }
    if (const int err = errno; err != EEXIST) cannot_write(path, err);
    // Replacing a file: a name of its own for the moment between link and rename (a SIGKILL in
    // that moment, two syscalls long, leaves the whole new file under that name).
    for (int attempt = 0;; ++attempt) {
        const fs::path named = fresh_name(dir, path);
        if (linkat(AT_FDCWD, self.c_str(), AT_FDCWD, named.c_str(), AT_SYMLINK_FOLLOW) != 0) {
            if (errno == EEXIST && attempt < 16) continue;
            cannot_write(path, errno);
        }
        if (rename(named.c_str(), path.c_str()) != 0) {
            const int err = errno;
            unlink(named.c_str());
            cannot_write(path, err);
        }
        break;
    }
    if (close(fd.release()) != 0) cannot_write(path, errno);
    return true;
}

}  // namespace

void write_file_atomic(const fs::path& path, const std::string& content) {
    fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    if (write_unnamed_then_link(dir, path, content)) return;
    std::string tmp = (dir / ("." + path.filename().string() + ".XXXXXX")).string();
    Fd fd(mkstemp(tmp.data()));
    if (!fd) cannot_write(path, errno);
    auto fail = [&](int err) {
        fd.reset();
        unlink(tmp.c_str());
        cannot_write(path, err);
    };
    if (!write_all(fd.get(), content) || fchmod(fd.get(), 0644) != 0 || fsync(fd.get()) != 0) fail(errno);
    if (close(fd.release()) != 0) fail(errno);
    if (rename(tmp.c_str(), path.c_str()) != 0) fail(errno);
}

std::optional<pid_t> scratch_dir_owner(const fs::path& dir) {
    const std::string n = dir.filename().string();
    auto last = n.rfind('-');
    if (last == std::string::npos || last == 0) return std::nullopt;
    auto prev = n.rfind('-', last - 1);
    if (prev == std::string::npos) return std::nullopt;
    return parse_pid(n.substr(prev + 1, last - prev - 1), pid_max());
}

std::vector<fs::path> stale_scratch_dirs(const fs::path& parent) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(parent, ec))
        if (auto pid = scratch_dir_owner(e.path()); pid && !process_alive(*pid)) out.push_back(e.path());
    return out;
}

void fsync_path(const fs::path& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw UserError(errno_text("cannot open " + path.string() + " to sync it", errno));
    const int rc = fsync(fd);
    const int err = errno;
    close(fd);
    if (rc != 0) throw UserError(errno_text("cannot sync " + path.string(), err));
}

void ensure_private_dir(const fs::path& dir) {
    std::error_code ec;
    if (dir.has_parent_path() && dir.parent_path() != dir) fs::create_directories(dir.parent_path(), ec);
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
        throw UserError(errno_text("cannot create " + dir.string(), errno));
    struct stat st {};
    if (lstat(dir.c_str(), &st) != 0) throw UserError(errno_text("cannot inspect " + dir.string(), errno));
    const std::string fix = ": remove it (rm -rf " + dir.string() + ") and run again; hypetrace makes it itself";
    if (S_ISLNK(st.st_mode)) throw UserError(dir.string() + " is a symbolic link, not hypetrace's directory" + fix);
    if (!S_ISDIR(st.st_mode)) throw UserError(dir.string() + " is not a directory" + fix);
    if (st.st_uid != geteuid())
        throw UserError(dir.string() + " belongs to uid " + std::to_string(st.st_uid) + ", not to this user (uid " +
                        std::to_string(geteuid()) + ")" + fix);
    if (st.st_mode & (S_IWGRP | S_IWOTH)) throw UserError(dir.string() + " is writable by other users" + fix);
}

ScratchDir::ScratchDir(const fs::path& parent, const std::string& prefix) {
    ensure_private_dir(parent);
    std::string made = (parent / (prefix + "-XXXXXX")).string();
    if (!mkdtemp(made.data())) throw UserError(errno_text("cannot create a scratch directory in " + parent.string(), errno));
    path_ = made;
}

ScratchDir::~ScratchDir() {
    if (keep_ || path_.empty()) return;
    // A process still dying in the directory (fio's workers, SIGKILLed but finishing an I/O in
    // the kernel) can add a file behind remove_all: try again for up to 5 s.
    for (int i = 0; i < 50; ++i) {
        std::error_code ec;
        fs::remove_all(path_, ec);
        if (!fs::exists(path_, ec)) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

}  // namespace ht
