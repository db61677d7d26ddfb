// SPDX-License-Identifier: MIT
#include "drivers/qemu/qmp.h"

#include "core/base/error.h"
#include "core/host/interrupt.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <utility>

namespace ht {


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
        throw_if_interrupted();
        if (waited >= timeout_ms) throw UserError("QEMU's QMP socket " + path + " did not open");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    try {
        read_line();  // the greeting
        execute("qmp_capabilities");
    } catch (...) {
        close(fd_);
        throw;
    }
}

QmpClient::~QmpClient() {
    if (fd_ >= 0) close(fd_);
}

std::optional<std::string> QmpClient::read_line(int timeout_ms, bool must) {
    for (;;) {
        auto nl = buf_.find('\n');
        if (nl != std::string::npos) {
            std::string line = buf_.substr(0, nl);
            buf_.erase(0, nl + 1);
            return line;
        }
        if (buf_.size() > (64u << 20)) throw UserError("QEMU sent a QMP line over 64 MiB long");
        pollfd p{fd_, POLLIN, 0};
        const int ready = poll(&p, 1, timeout_ms);
        if (ready < 0 && errno == EINTR) {  // a signal: hypetrace is being stopped, or not
            throw_if_interrupted();
            continue;
        }
        if (ready == 0 && !must) return std::nullopt;
        if (ready <= 0) throw UserError("QEMU did not answer on QMP within " + std::to_string(timeout_ms / 1000) + " s");
        char tmp[65536];
        ssize_t n = read(fd_, tmp, sizeof tmp);
        if (n <= 0) throw UserError("QEMU closed its QMP socket");
        buf_.append(tmp, std::size_t(n));
    }
}

std::optional<nlohmann::json> qmp_reply(std::string_view line, const std::string& command) {
    if (line.find_first_not_of(" \r\t") == std::string_view::npos) return std::nullopt;
    nlohmann::json m = nlohmann::json::parse(line, nullptr, false);
    if (m.is_discarded() || !m.is_object())
        throw UserError("QMP " + command + ": QEMU sent a line that is not a QMP message: " +
                        std::string(line.substr(0, 120)));
    if (m.contains("error")) {
        const auto& e = m["error"];
        const auto desc = e.is_object() && e.contains("desc") && e["desc"].is_string() ? e["desc"].get<std::string>()
                                                                                        : e.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
        throw UserError("QMP " + command + ": " + desc);
    }
    if (m.contains("return")) return m["return"];
    return std::nullopt;  // the greeting, an event
}

nlohmann::json QmpClient::execute(const std::string& command, const nlohmann::json& args) {
    nlohmann::json req{{"execute", command}};
    if (!args.is_null()) req["arguments"] = args;
    std::string s = req.dump() + "\n";
    if (write(fd_, s.data(), s.size()) != ssize_t(s.size())) throw UserError("cannot write to QEMU's QMP socket");
    for (;;) {
        const std::string line = *read_line();
        if (auto r = qmp_reply(line, command)) return *r;
        keep_if_event(line);
    }
}

void QmpClient::keep_if_event(const std::string& line) {
    nlohmann::json m = nlohmann::json::parse(line, nullptr, false);
    if (m.is_object() && m.contains("event") && events_.size() < 10000) events_.push_back(std::move(m));
}

std::vector<nlohmann::json> QmpClient::take_events(int wait_ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        auto line = read_line(int(std::max<int64_t>(0, left.count())), false);
        if (!line) break;
        keep_if_event(*line);
    }
    return std::exchange(events_, {});
}

std::string QmpClient::hmp(const std::string& command_line) {
    auto r = execute("human-monitor-command", {{"command-line", command_line}});
    return r.is_string() ? r.get<std::string>() : r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ht
