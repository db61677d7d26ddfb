// SPDX-License-Identifier: MIT
#include "drivers/guest.h"
#include "core/base/setting.h"

#include "core/base/error.h"
#include "core/base/text.h"
#include "core/host/proc.h"
#include "core/host/spawn.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace ht {

std::string to_string(Variant v) {
    switch (v) {
    case Variant::full: return "full";
    case Variant::app: return "app";
    case Variant::firmware: return "firmware";
    }
    return "?";
}

std::string to_string(RootfsMode m) {
    switch (m) {
    case RootfsMode::direct: return "direct";
    case RootfsMode::shared: return "shared";
    case RootfsMode::copied: return "copied";
    }
    return "?";
}

namespace {
std::string owner_of(const std::vector<DeviceRange>& v, uint64_t a) {
    for (const auto& r : v)
        if (r.start <= a && a <= r.end) return r.owner.empty() ? "unassigned" : r.owner;
    return "unassigned";
}
}  // namespace

std::string DeviceMap::io_owner(uint64_t port) const { return owner_of(io, port); }
std::string DeviceMap::memory_owner(uint64_t gpa) const { return owner_of(memory, gpa); }

std::string DeviceSet::name() const {
    if (video && sound && usb) return "default";
    if (!video && !sound && !usb) return "none";
    std::string n;
    auto add = [&](bool present, const char* what) {
        if (!present) n += (n.empty() ? "no-" : "+") + std::string(what);
    };
    add(video, "video");
    add(sound, "audio");
    add(usb, "usb");
    return n;
}

std::vector<DeviceSet> all_device_sets() {
    return {{true, true, true},   {false, true, true}, {true, false, true},   {true, true, false},
            {false, false, true}, {false, true, false}, {true, false, false}, {false, false, false}};
}

GuestSpec make_guest_spec(Variant variant, const ImageSet& images, Accel accel, RootfsMode rootfs) {
    GuestSpec s;
    s.variant = variant;
    s.images = images;
    s.accel = accel;
    s.rootfs = rootfs;
    return s;
}

double default_ready_timeout_s(GuestKind kind, Accel accel) {
    if (kind != GuestKind::vm) return 120;
    return accel == Accel::tcg ? 600 : 180;
}

std::vector<MarkerSpec> console_milestones(Variant v) {
    std::vector<MarkerSpec> m;
    if (v == Variant::full) {
        m.push_back({"console", kInitMarker, "init"});
        m.push_back({"marks", kReadyMarker, "ready"});
    } else {
        m.push_back({"console", kReadyMarker, "ready"});
    }
    return m;
}

void ImageSet::require(const std::vector<std::filesystem::path>& files) const {
    for (const auto& f : files) {
        std::error_code ec;
        if (!std::filesystem::exists(f, ec))
            throw UserError("guest image missing: " + visible(f.string()) +
                            " (build the images with: scripts/build-images.sh, or point " + ref(Setting::images) + " at them)");
    }
}

std::vector<std::string> ImageSet::kernel_releases() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir / "kernels", ec))
        if (std::filesystem::exists(e.path() / "vmlinuz", ec)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

std::string ImageSet::default_kernel() const {
    auto text = read_text((dir / "kernel.release").string());
    return text ? trim(*text) : std::string();
}

std::string ImageSet::kernel_version(const std::string& release) const {
    auto text = read_text((dir / "kernels" / release / "version").string());
    return text ? trim(*text) : std::string();
}

std::string ImageSet::resolve_kernel(const std::string& name) const {
    const auto all = kernel_releases();
    const std::string def = default_kernel();
    auto listing = [&] {
        std::string s;
        for (const auto& r : all) s += (s.empty() ? "" : ", ") + r + (r == def ? " (default)" : "");
        return s;
    };
    if (all.empty())
        throw UserError("no guest kernels in " + visible((dir / "kernels").string()) +
                        ": these images predate them; rebuild with scripts/build-images.sh");
    if (name == "default") {
        if (def.empty() || std::find(all.begin(), all.end(), def) == all.end())
            throw UserError("the images name no default guest kernel (" + visible((dir / "kernel.release").string()) +
                            "); rebuild them with scripts/build-images.sh");
        return def;
    }
    if (std::find(all.begin(), all.end(), name) != all.end()) return name;
    std::vector<std::string> hits;
    for (const auto& r : all)
        if (!name.empty() && r.compare(0, name.size(), name) == 0) hits.push_back(r);
    if (hits.size() == 1) return hits[0];
    throw UserError("guest kernel '" + visible(name) + "' " + (hits.empty() ? "is not one" : "names more than one") +
                    " of the images' kernels: " + listing() + " (say \"default\", a release or its unique start)");
}

bool send_serial_ping(int& fd, const std::filesystem::path& sock, const std::string& line) noexcept {
    if (fd < 0) {
        const std::string path = sock.string();
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (path.size() >= sizeof addr.sun_path) return false;
        std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (s < 0) return false;
        if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            close(s);
            return false;
        }
        fd = s;
    }
    char sink[4096];  // what the guest writes there also goes to its log file: drop it here
    while (read(fd, sink, sizeof sink) > 0) {
    }
    return send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT) == ssize_t(line.size());
}

void create_qcow2_overlay(const std::filesystem::path& disk, const std::filesystem::path& backing, const char* format,
                          const std::filesystem::path& log, const std::string& what) {
    std::error_code ec;
    std::filesystem::remove(disk, ec);
    SpawnOptions o;
    o.stdout_path = o.stderr_path = log.string();
    int rc = run_and_wait({"qemu-img", "create", "-q", "-f", "qcow2", "-F", format, "-b", backing.string(), disk.string()}, o);
    if (rc != 0) throw UserError("qemu-img could not create " + what + ": " + read_tail(o.stderr_path, 200));
}

std::optional<uint64_t> vm_ram_resident_bytes(pid_t qemu, unsigned memory_mb, const std::filesystem::path& ram_file) noexcept {
    try {
        std::ifstream smaps("/proc/" + std::to_string(qemu) + "/smaps");
        const std::string file = ram_file.string();
        const uint64_t want = uint64_t(memory_mb) << 20;
        std::string line;
        bool in_ram = false;
        while (std::getline(smaps, line)) {
            unsigned long long lo = 0, hi = 0;
            char sep = 0;
            if (std::sscanf(line.c_str(), "%llx-%llx%c", &lo, &hi, &sep) == 3 && sep == ' ') {
                const bool file_named = !file.empty() && line.size() >= file.size() &&
                                        line.compare(line.size() - file.size(), file.size(), file) == 0;
                // QEMU's RAM block is rw-p; TCG's code buffer, as big, is rwxp
                const bool anon_sized = file.empty() && hi - lo == want && line.find(" rw-p ") != std::string::npos &&
                                        line.find('/') == std::string::npos;
                in_ram = file_named || anon_sized;
                continue;
            }
            unsigned long long kb = 0;
            if (in_ram && std::sscanf(line.c_str(), "Rss: %llu kB", &kb) == 1) return uint64_t(kb) << 10;
        }
    } catch (...) {
    }
    return std::nullopt;
}

}  // namespace ht
