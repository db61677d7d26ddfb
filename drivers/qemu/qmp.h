// SPDX-License-Identifier: MIT
// QEMU's monitor: a minimal QMP client, the reading of its replies, and the flat memory tree
// (`info mtree -f`: which device owns which port and guest-physical address). The parsers take
// whatever QEMU sends and never throw anything but UserError (tests/fuzz). Depends on:
// userspace/core (errors), nlohmann_json.
#pragma once
#include "drivers/guest.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ht {

// QEMU's flat memory tree is a guest's device map (drivers/guest.h).
using MtreeRange = DeviceRange;
using Mtree = DeviceMap;
// Parses `info mtree -f` text: the "I/O" and "memory" address spaces' flat views.
Mtree parse_mtree(const std::string& text);

// One line QEMU sent on its QMP socket, as the caller of `command` sees it: the reply's "return"
// value; nullopt for what is not a reply (a blank line, the greeting, an event); UserError for a
// QMP error (its description) and for a line that is not a JSON object.
std::optional<nlohmann::json> qmp_reply(std::string_view line, const std::string& command);

// A minimal QMP client over a unix socket (greeting, qmp_capabilities, commands); the events QEMU
// sends meanwhile are kept, in order, for take_events().
class QmpClient {
public:
    // Connects, retrying until `timeout_ms` (QEMU creates the socket shortly after it starts).
    QmpClient(const std::string& socket_path, int timeout_ms);
    ~QmpClient();
    QmpClient(const QmpClient&) = delete;
    QmpClient& operator=(const QmpClient&) = delete;
    nlohmann::json execute(const std::string& command, const nlohmann::json& args = nullptr);
    std::string hmp(const std::string& command_line);
    // The events received so far, and those that arrive within `wait_ms`; each as QEMU sent it
    // ({"event": NAME, "data": ..., "timestamp": {"seconds", "microseconds"}}, CLOCK_REALTIME).
    std::vector<nlohmann::json> take_events(int wait_ms = 0);

private:
    // The next line; nullopt when none arrived within `timeout_ms` (throws UserError on a closed
    // socket, and when `timeout_ms` is the 10 s a command may take).
    std::optional<std::string> read_line(int timeout_ms = 10000, bool must = true);
    void keep_if_event(const std::string& line);
    int fd_ = -1;
    std::string buf_;
    std::vector<nlohmann::json> events_;
};

}  // namespace ht
