// SPDX-License-Identifier: MIT
#include "drivers/guest.h"

#include "core/error.h"
#include "core/text.h"

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
                            " (build the images with: scripts/build-images.sh, or point --images at them)");
    }
}

}  // namespace ht
