// SPDX-License-Identifier: MIT
// Containers through the liblxc C API (no lxc-* tools): a "full" container (systemd as init)
// or an "app" container (a single /bin/bash, the paper's LXC-bash); its rootfs is the image's own,
// an overlay on it (shared) or a private copy (copied): see RootfsMode.
#pragma once
#include "drivers/guest.h"

#include <utility>

namespace ht {

// A checkpointable container's seccomp profile, in its run_dir (see LxcDriver::config).
inline constexpr const char* kNoBpfSeccomp = "seccomp-no-bpf";

class LxcDriver : public Driver {
public:
    ~LxcDriver() override;  // removes the containers' monitor cgroups liblxc left (see reap_host)
    std::string name() const override { return "lxc"; }
    GuestKind kind() const override { return GuestKind::container; }
    void preflight(const GuestSpec& spec) const override;
    std::unique_ptr<Guest> create(const GuestSpec& spec) override;
    // Daemonized containers outlive a SIGKILLed hypetrace: stops those under run_dir/lxc.
    Reaped reap(const std::filesystem::path& run_dir) noexcept override;
    // Dead runs' empty monitor cgroups (lxc.monitor.ht-*, which liblxc leaves on hybrid hosts).
    std::vector<std::string> reap_host() noexcept override;
    // Containers are checkpointed by CRIU: `criu check` must pass on this kernel.
    std::string restore_problem() const override;
    // The config items set on a container for a spec (exposed for tests and reports).
    static std::vector<std::pair<std::string, std::string>> config(const GuestSpec& spec);
    // lxc.rootfs.path for the spec's RootfsMode.
    static std::string rootfs_path(const GuestSpec& spec);
};

}  // namespace ht
