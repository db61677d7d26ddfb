// SPDX-License-Identifier: MIT
#include "core/host/files.h"

#include "core/base/error.h"
#include "core/host/proc.h"

#include <cerrno>
#include <chrono>
#include <thread>
#include <cstdlib>
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
    // A file made and removed there, as write_file_atomic will: access(2) says yes to root for
    // /proc or a read-only mount, where the result would be lost at the run's end.
    std::string tmpl = (dir / ".hypetrace-probe-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    int fd = mkstemp(buf.data());
    if (fd < 0) throw UserError(errno_text(flag + " " + path.string() + ": cannot write in " + dir.string(), errno), 2);
    close(fd);
    unlink(buf.data());
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

// The file is written unnamed (O_TMPFILE) and gets its name only once whole and synced: a run
// killed (SIGKILL) while writing leaves nothing, where a named temp file would stay behind in a
// directory no cleanup knows about. False if this filesystem has no O_TMPFILE (9p, NFS).
bool write_unnamed_then_link(const fs::path& dir, const fs::path& path, const std::string& content) {
    int fd = open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) return false;
        throw UserError(errno_text("cannot write " + path.string(), errno));
    }
    const std::string self = "/proc/self/fd/" + std::to_string(fd);
    auto fail = [&](int err) {
        close(fd);
        throw UserError(errno_text("cannot write " + path.string(), err));
    };
    if (!write_all(fd, content) || fchmod(fd, 0644) != 0 || fsync(fd) != 0) fail(errno);
    if (linkat(AT_FDCWD, self.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) != 0) {
        if (errno != EEXIST) fail(errno);
        // Replacing a file: a name of its own for the moment between link and rename.
        const fs::path named = dir / ("." + path.filename().string() + "." + std::to_string(getpid()) + ".new");
        unlink(named.c_str());
        if (linkat(AT_FDCWD, self.c_str(), AT_FDCWD, named.c_str(), AT_SYMLINK_FOLLOW) != 0) fail(errno);
        if (rename(named.c_str(), path.c_str()) != 0) {
            const int err = errno;
            unlink(named.c_str());
            fail(err);
        }
    }
    if (close(fd) != 0) throw UserError(errno_text("cannot write " + path.string(), errno));
    return true;
}

}  // namespace

void write_file_atomic(const fs::path& path, const std::string& content) {
    fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    if (write_unnamed_then_link(dir, path, content)) return;
    std::string tmpl = (dir / ("." + path.filename().string() + ".XXXXXX")).string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    int fd = mkstemp(buf.data());
    if (fd < 0) throw UserError(errno_text("cannot write " + path.string(), errno));
    if (!write_all(fd, content)) {
        int err = errno;
        close(fd);
        unlink(buf.data());
        throw UserError(errno_text("cannot write " + path.string(), err));
    }
    fchmod(fd, 0644);
    if (fsync(fd) != 0 || close(fd) != 0) {
        int err = errno;
        unlink(buf.data());
        throw UserError(errno_text("cannot write " + path.string(), err));
    }
    if (rename(buf.data(), path.c_str()) != 0) {
        int err = errno;
        unlink(buf.data());
        throw UserError(errno_text("cannot write " + path.string(), err));
    }
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
    std::string tmpl = (parent / (prefix + "-XXXXXX")).string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw UserError(errno_text("cannot create a scratch directory in " + parent.string(), errno));
    path_ = buf.data();
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
