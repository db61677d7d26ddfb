// SPDX-License-Identifier: MIT
// Files the tool writes: results atomically (whole and synced before they get their name, never
// half-written), and per-run scratch directories that are removed on every exit path; file
// descriptors that close themselves.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace ht {

// Writes `content` to `path`, never half: an unnamed file (O_TMPFILE) in the same directory,
// fsync, then linked in under its name (so a SIGKILL leaves nothing, but in the two syscalls that
// rename it over a file it replaces); where the filesystem has no O_TMPFILE (or there is no /proc
// to link through), a named temp file, fsync, rename. Throws UserError with one line if the
// directory is missing or not writable.
void write_file_atomic(const std::filesystem::path& path, const std::string& content);

// fsync(2) of a file or directory (its entries), so what was written survives a crash before
// a rename is relied on. Throws UserError.
void fsync_path(const std::filesystem::path& path);

// Checks up front that `path` can be written atomically later (parent exists, writable), so a
// long experiment does not fail at its very end. Throws UserError.
void check_writable(const std::filesystem::path& path, const std::string& flag);

// Scratch directories of runs whose process is gone (killed with SIGKILL): entries of `parent`
// named PREFIX-PID-XXXXXX (ScratchDir with a prefix ending in the pid) whose PID is not alive.
std::vector<std::filesystem::path> stale_scratch_dirs(const std::filesystem::path& parent);
// The run a scratch directory belongs to: the pid in PREFIX-PID-XXXXXX; nullopt for other names.
std::optional<pid_t> scratch_dir_owner(const std::filesystem::path& dir);

// Makes `dir` (mode 0755, its missing ancestors too) or checks the one found there: a real
// directory, not a symlink, owned by this user, writable by no one else. A directory that another
// user made first in a shared place (/var/tmp) could be swapped for symlinks under a root run and
// steer its writes anywhere: refused, with one line saying what to remove. Throws UserError.
void ensure_private_dir(const std::filesystem::path& dir);

// An owned file descriptor, closed when it goes or is replaced (-1: none). Move-only.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    // open(path, O_RDONLY | O_CLOEXEC | extra_flags); holds -1 (errno set) if it cannot.
    static Fd open_read(const std::string& path, int extra_flags = 0);
    ~Fd() { reset(); }
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) reset(std::exchange(o.fd_, -1));
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    // Closes the one held, holds `fd`.
    void reset(int fd = -1);
    // Gives the descriptor up (to close it oneself and see close's error); holds -1.
    int release() { return std::exchange(fd_, -1); }

private:
    int fd_ = -1;
};

class ScratchDir {
public:
    // Creates a fresh directory under `parent` (ensure_private_dir) named prefix-XXXXXX.
    ScratchDir(const std::filesystem::path& parent, const std::string& prefix);
    ~ScratchDir();
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    void keep() { keep_ = true; }

private:
    std::filesystem::path path_;
    bool keep_ = false;
};

}  // namespace ht
