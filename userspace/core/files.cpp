// SPDX-License-Identifier: MIT
#include "core/files.h"

#include "core/error.h"
#include "core/proc.h"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace ht {

void check_writable(const fs::path& path, const std::string& flag) {
    fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throw UserError(flag + " " + path.string() + ": directory " + dir.string() + " does not exist", 2);
    if (access(dir.c_str(), W_OK) != 0)
        throw UserError(flag + " " + path.string() + ": directory " + dir.string() + " is not writable", 2);
    if (fs::is_directory(path, ec))
        throw UserError(flag + " " + path.string() + ": is a directory, give a file name", 2);
}

void write_file_atomic(const fs::path& path, const std::string& content) {
    fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    std::string tmpl = (dir / ("." + path.filename().string() + ".XXXXXX")).string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    int fd = mkstemp(buf.data());
    if (fd < 0) throw UserError(errno_text("cannot write " + path.string(), errno));
    const char* p = content.data();
    std::size_t left = content.size();
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            close(fd);
            unlink(buf.data());
            throw UserError(errno_text("cannot write " + path.string(), err));
        }
        p += n;
        left -= size_t(n);
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

std::vector<fs::path> stale_scratch_dirs(const fs::path& parent) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(parent, ec)) {
        std::string n = e.path().filename().string();
        auto last = n.rfind('-');
        if (last == std::string::npos || last == 0) continue;
        auto prev = n.rfind('-', last - 1);
        if (prev == std::string::npos) continue;
        std::string pid = n.substr(prev + 1, last - prev - 1);
        if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
        if (!process_alive(pid_t(std::stol(pid)))) out.push_back(e.path());
    }
    return out;
}

ScratchDir::ScratchDir(const fs::path& parent, const std::string& prefix) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    std::string tmpl = (parent / (prefix + "-XXXXXX")).string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw UserError(errno_text("cannot create a scratch directory in " + parent.string(), errno));
    path_ = buf.data();
}

ScratchDir::~ScratchDir() {
    if (keep_ || path_.empty()) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
}

}  // namespace ht
