// SPDX-License-Identifier: MIT
// The exitcost payload VM (drivers/payload.h; the firmware is drivers/qemu/payload/exitcost.asm): QEMU with the payload as its
// firmware, an IDE disk whose sector 0 holds the payload's parameters, a VGA device (its MMIO
// window is the payload's MMIO target) and isa-debug-exit. QEMU starts paused (-S); over QMP
// hypetrace reads QEMU's memory tree (which device owns which port and address), then lets the
// vCPU run. Depends on: userspace/core (spawn, errors, host), nlohmann_json.
#pragma once
#include "core/host/spawn.h"
#include "drivers/payload.h"
#include "drivers/qemu/qmp.h"

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ht {

class PayloadVm final : public PayloadGuest {
public:
    PayloadVm(std::filesystem::path run_dir, Accel accel, PayloadParams params);
    ~PayloadVm() override;
    PayloadVm(const PayloadVm&) = delete;
    PayloadVm& operator=(const PayloadVm&) = delete;

    // Writes the firmware and the disk, starts QEMU paused. Throws UserError.
    void start() override;
    pid_t pid() const override { return child_.pid; }
    // QEMU's memory tree (info mtree -f), read over QMP while paused.
    DeviceMap device_map() override;
    // Lets the vCPU run.
    void resume() override;
    // Waits for QEMU to exit (the payload ends it); returns true if it exited as the payload
    // asks (status 1), false on timeout (QEMU is then killed) or another status (`status`).
    bool wait(double timeout_s, int* status) override;
    void stop() noexcept override;
    std::vector<std::string> command_line() const override;
    std::string stderr_tail() const override;

private:
    std::filesystem::path dir_;
    Accel accel_;
    PayloadParams params_;
    Child child_;
    std::unique_ptr<QmpClient> qmp_;
};

}  // namespace ht
