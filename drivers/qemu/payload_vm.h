// SPDX-License-Identifier: MIT
// The exitcost payload VM (drivers/qemu/payload/exitcost.asm): QEMU with the payload as its
// firmware, an IDE disk whose sector 0 holds the payload's parameters, a VGA device (its MMIO
// window is the payload's MMIO target) and isa-debug-exit. QEMU starts paused (-S); over QMP
// hypetrace reads QEMU's memory tree (which device owns which port and address), then lets the
// vCPU run. Depends on: userspace/core (spawn, errors, host), nlohmann_json.
#pragma once
#include "core/host.h"
#include "core/spawn.h"
#include "drivers/qemu/qmp.h"

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ht {

// Phase numbers the payload writes to kPayloadPhasePort.
enum class PayloadPhase : uint8_t { pio_out = 1, pio_in = 2, pio_kernel = 3, mmio = 4, cpuid = 5, disk = 6,
                                    hlt = 7, done = 0xFE, bad_params = 0xEE };
inline constexpr uint16_t kPayloadPhasePort = 0x0404;
inline constexpr uint16_t kPayloadTargetPort = 0x0406;
inline constexpr uint64_t kPayloadMmioAddr = 0xA0000;
const char* to_string(PayloadPhase p);

struct PayloadParams {
    uint32_t ops = 10000;     // per exit phase
    uint32_t sectors = 200;   // disk phase
    uint32_t hlts = 1000;     // hlt phase (a timer tick each, 0.1 ms); 0: no hlt phase
};

class PayloadVm {
public:
    PayloadVm(std::filesystem::path run_dir, Accel accel, PayloadParams params);
    ~PayloadVm();
    PayloadVm(const PayloadVm&) = delete;
    PayloadVm& operator=(const PayloadVm&) = delete;

    // Writes the firmware and the disk, starts QEMU paused. Throws UserError.
    void start();
    pid_t pid() const { return child_.pid; }
    // QEMU's memory tree, read over QMP while paused.
    Mtree read_mtree();
    // Lets the vCPU run.
    void resume();
    // Waits for QEMU to exit (the payload ends it); returns true if it exited as the payload
    // asks (status 1), false on timeout (QEMU is then killed) or another status (`status`).
    bool wait(double timeout_s, int* status);
    void stop() noexcept;
    std::vector<std::string> command_line() const;
    std::string stderr_tail() const;

private:
    std::filesystem::path dir_;
    Accel accel_;
    PayloadParams params_;
    Child child_;
    std::unique_ptr<QmpClient> qmp_;
};

// The payload's disk: sector 0 the parameters, then `sectors` sectors of data.
std::string payload_disk_image(const PayloadParams& p);

}  // namespace ht
