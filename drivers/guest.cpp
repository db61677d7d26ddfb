// SPDX-License-Identifier: MIT
#include "drivers/guest.h"
#include "core/base/setting.h"

#include "core/base/error.h"
#include "core/base/text.h"

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

}  // namespace ht
