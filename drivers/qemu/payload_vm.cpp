// SPDX-License-Identifier: MIT
#include "drivers/qemu/payload_vm.h"

#include "core/base/error.h"
#include "core/host/files.h"
#include "core/host/proc.h"
#include "core/base/text.h"
#include "exitcost_payload.h"

#include <chrono>
#include <cstring>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace ht {

PayloadVm::PayloadVm(std::filesystem::path run_dir, Accel accel, PayloadParams params)
    : dir_(std::move(run_dir)), accel_(accel), params_(params) {}

PayloadVm::~PayloadVm() { stop(); }

std::vector<std::string> PayloadVm::command_line() const {
    return {"qemu-system-x86_64",
            "-machine", "pc",
            "-accel", to_string(accel_),
            "-m", "16",
            "-nodefaults", "-no-user-config", "-display", "none",
            "-bios", (dir_ / "exitcost.bin").string(),
            "-drive", "file=" + qemu_opt_escape((dir_ / "disk.img").string()) + ",if=ide,format=raw",
            "-device", "VGA",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-qmp", "unix:" + qemu_opt_escape((dir_ / "qmp.sock").string()) + ",server=on,wait=off",
            "-S"};
}

void PayloadVm::start() {
    write_file_atomic(dir_ / "exitcost.bin",
                      std::string(reinterpret_cast<const char*>(kExitcostPayload), sizeof kExitcostPayload));
    write_file_atomic(dir_ / "disk.img", payload_disk_image(params_));
    SpawnOptions o;
    o.stderr_path = (dir_ / "qemu.err").string();
    child_ = spawn(command_line(), o);
    try {
        qmp_ = std::make_unique<QmpClient>((dir_ / "qmp.sock").string(), 10000);
    } catch (const UserError& e) {
        std::string tail = stderr_tail();
        stop();
        throw UserError(std::string(e.what()) + (tail.empty() ? "" : "; QEMU said: " + tail));
    }
}

DeviceMap PayloadVm::device_map() { return parse_mtree(qmp_->hmp("info mtree -f")); }

void PayloadVm::resume() { qmp_->execute("cont"); }

bool PayloadVm::wait(double timeout_s, int* status) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    int st = 0;
    while (!child_exited(child_.pid, &st)) {
        if (std::chrono::steady_clock::now() > deadline) {
            stop();
            if (status) *status = -1;
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    child_.pid = -1;
    qmp_.reset();
    const int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (status) *status = code;
    return code == 1;  // isa-debug-exit: (0 << 1) | 1
}

void PayloadVm::stop() noexcept {
    qmp_.reset();
    if (child_.pid > 0) {
        terminate(child_.pid, std::chrono::milliseconds(1000));
        child_.pid = -1;
    }
}

std::string PayloadVm::stderr_tail() const { return last_line(read_tail((dir_ / "qemu.err").string(), 300)); }

std::unique_ptr<PayloadGuest> make_payload_vm(std::filesystem::path run_dir, Accel accel, PayloadParams params) {
    return std::make_unique<PayloadVm>(std::move(run_dir), accel, params);
}

}  // namespace ht
