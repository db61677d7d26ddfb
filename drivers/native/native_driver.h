// SPDX-License-Identifier: MIT
// The baseline: a plain process (bash with the same rc file the app guests run), no isolation.
#pragma once
#include "drivers/guest.h"

namespace ht {

class NativeDriver : public Driver {
public:
    std::string name() const override { return "native"; }
    GuestKind kind() const override { return GuestKind::process; }
    void preflight(const GuestSpec& spec) const override;
    std::unique_ptr<Guest> create(const GuestSpec& spec) override;
};

}  // namespace ht
