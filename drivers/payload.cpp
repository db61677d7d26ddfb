// SPDX-License-Identifier: MIT
#include "drivers/payload.h"

#include <cstring>

namespace ht {

const char* to_string(PayloadPhase p) {
    switch (p) {
    case PayloadPhase::pio_out: return "pio-out";
    case PayloadPhase::pio_in: return "pio-in";
    case PayloadPhase::pio_kernel: return "pio-kernel";
    case PayloadPhase::mmio: return "mmio";
    case PayloadPhase::cpuid: return "cpuid";
    case PayloadPhase::disk: return "disk";
    case PayloadPhase::hlt: return "hlt";
    case PayloadPhase::done: return "done";
    case PayloadPhase::bad_params: return "bad-params";
    }
    return "?";
}

std::string payload_disk_image(const PayloadParams& p) {
    std::string d(512 + std::size_t(p.sectors) * 512, '\0');
    std::memcpy(d.data(), "HTXC", 4);
    std::memcpy(d.data() + 4, &p.ops, 4);
    std::memcpy(d.data() + 8, &p.sectors, 4);
    std::memcpy(d.data() + 12, &p.hlts, 4);
    for (std::size_t i = 512; i < d.size(); ++i) d[i] = char(i * 131 >> 9);
    return d;
}

}  // namespace ht
