// SPDX-License-Identifier: MIT
// The exitcost payload, as experiments see it: its protocol (the phases it marks, on which port,
// what it reads from its disk) and a guest that runs it. The one implementation is QEMU's
// (drivers/qemu/payload_vm.*, the firmware in drivers/qemu/payload/exitcost.asm): experiments
// include this header, never that one. Depends on: drivers/guest.h (DeviceMap), core/host (Accel).
#pragma once
#include "core/host/host.h"
#include "drivers/guest.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <sys/types.h>
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

// The payload's disk: sector 0 the parameters, then `sectors` sectors of data.
std::string payload_disk_image(const PayloadParams& p);

// A VM running the payload, started paused so that its device map can be read before it runs.
class PayloadGuest {
public:
    virtual ~PayloadGuest() = default;
    // Writes the firmware and the disk into its run directory, starts paused. Throws UserError.
    virtual void start() = 0;
    virtual pid_t pid() const = 0;
    // Which device owns which port and address, read while paused.
    virtual DeviceMap device_map() = 0;
    // Lets the vCPU run.
    virtual void resume() = 0;
    // Waits for the VM to exit (the payload ends it); true if it exited as the payload asks,
    // false on timeout (the VM is then killed; `status` -1) or another exit status (`status`).
    virtual bool wait(double timeout_s, int* status) = 0;
    virtual void stop() noexcept = 0;
    virtual std::vector<std::string> command_line() const = 0;
    virtual std::string stderr_tail() const = 0;
};

// The payload under QEMU with `accel`, its files in `run_dir` (drivers/qemu/payload_vm.cpp).
std::unique_ptr<PayloadGuest> make_payload_vm(std::filesystem::path run_dir, Accel accel, PayloadParams params);

}  // namespace ht
