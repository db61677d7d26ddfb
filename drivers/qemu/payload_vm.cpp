// SPDX-License-Identifier: MIT
#include "drivers/qemu/payload_vm.h"

#include "core/error.h"
#include "core/files.h"
#include "core/proc.h"
#include "core/text.h"
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

namespace {

std::string owner_of(const std::vector<MtreeRange>& v, uint64_t a) {
    for (const auto& r : v)
        if (r.start <= a && a <= r.end) return r.owner.empty() ? "unassigned" : r.owner;
    return "unassigned";
}

}  // namespace

std::string Mtree::io_owner(uint64_t port) const { return owner_of(io, port); }
std::string Mtree::memory_owner(uint64_t gpa) const { return owner_of(memory, gpa); }

Mtree parse_mtree(const std::string& text) {
    Mtree m;
    std::istringstream in(text);
    std::string line;
    std::vector<MtreeRange>* cur = nullptr;
    bool in_root = false;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();  // HMP over QMP ends lines with \r\n
        if (line.rfind("FlatView", 0) == 0) {
            cur = nullptr;
            in_root = false;
            continue;
        }
        if (line.find(" AS \"I/O\"") != std::string::npos) cur = &m.io;
        else if (line.find(" AS \"memory\"") != std::string::npos) cur = &m.memory;
        if (line.find("Root memory region:") != std::string::npos) {
            in_root = true;
            continue;
        }
        if (!cur || !in_root) continue;
        // "  00000000000001f0-00000000000001f7 (prio 0, i/o): ide"
        unsigned long long a = 0, b = 0;
        char rest[256] = {};
        if (sscanf(line.c_str(), " %llx-%llx (%255[^\n]", &a, &b, rest) != 3) continue;
        std::string r = rest;
        auto colon = r.find("): ");
        std::string owner = colon == std::string::npos ? "" : r.substr(colon + 3);
        // "io @0000000000000010": a hole of the I/O root, nothing there
        if (owner.rfind("io @", 0) == 0 || owner == "io") owner.clear();
        auto at = owner.find(" @");
        if (at != std::string::npos) owner = owner.substr(0, at);
        if (cur->size() < 4096 && (cur->empty() || cur->back().start <= a)) cur->push_back({a, b, owner});
    }
    return m;
}

QmpClient::QmpClient(const std::string& path, int timeout_ms) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) throw UserError("QMP socket path too long: " + path);
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    for (int waited = 0;; waited += 20) {
        fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) break;
        if (fd_ >= 0) close(fd_);
        fd_ = -1;
        if (waited >= timeout_ms) throw UserError("QEMU's QMP socket " + path + " did not open");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    read_message();  // greeting
    execute("qmp_capabilities");
}

QmpClient::~QmpClient() {
    if (fd_ >= 0) close(fd_);
}

nlohmann::json QmpClient::read_message() {
    for (;;) {
        auto nl = buf_.find('\n');
        if (nl != std::string::npos) {
            std::string line = buf_.substr(0, nl);
            buf_.erase(0, nl + 1);
            if (line.find_first_not_of(" \r") == std::string::npos) continue;
            return nlohmann::json::parse(line);
        }
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 10000) <= 0) throw UserError("QEMU did not answer on QMP within 10 s");
        char tmp[65536];
        ssize_t n = read(fd_, tmp, sizeof tmp);
        if (n <= 0) throw UserError("QEMU closed its QMP socket");
        buf_.append(tmp, std::size_t(n));
    }
}

nlohmann::json QmpClient::execute(const std::string& command, const nlohmann::json& args) {
    nlohmann::json req{{"execute", command}};
    if (!args.is_null()) req["arguments"] = args;
    std::string s = req.dump() + "\n";
    if (write(fd_, s.data(), s.size()) != ssize_t(s.size())) throw UserError("cannot write to QEMU's QMP socket");
    for (;;) {
        nlohmann::json m = read_message();
        if (m.contains("event")) continue;
        if (m.contains("error"))
            throw UserError("QMP " + command + ": " + m["error"].value("desc", m["error"].dump()));
        if (m.contains("return")) return m["return"];
    }
}

std::string QmpClient::hmp(const std::string& command_line) {
    auto r = execute("human-monitor-command", {{"command-line", command_line}});
    return r.is_string() ? r.get<std::string>() : r.dump();
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

Mtree PayloadVm::read_mtree() { return parse_mtree(qmp_->hmp("info mtree -f")); }

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

}  // namespace ht
