// SPDX-License-Identifier: MIT
// One place for guest policy (issue 14): what a preflight checks is what the runs create, and one
// default ready timeout per guest kind and accelerator. A recording driver stands in for the
// backends (no guest is started).
#include "core/base/error.h"
#include "drivers/guest.h"
#include "experiments/dedup.h"
#include "experiments/fleet.h"
#include "experiments/io.h"
#include "experiments/memory.h"
#include "experiments/startup.h"

#include <gtest/gtest.h>

namespace ht {
namespace {

class RecordingDriver : public Driver {
public:
    explicit RecordingDriver(GuestKind k) : kind_(k) {}
    std::string name() const override { return "recording"; }
    GuestKind kind() const override { return kind_; }
    void preflight(const GuestSpec& spec) const override { checked.push_back(spec); }
    std::unique_ptr<Guest> create(const GuestSpec&) override { throw UserError("no guests in unit tests"); }
    mutable std::vector<GuestSpec> checked;

private:
    GuestKind kind_;
};

void expect_same(const GuestSpec& a, const GuestSpec& b) {
    EXPECT_EQ(a.variant, b.variant);
    EXPECT_EQ(a.images.dir, b.images.dir);
    EXPECT_EQ(a.accel, b.accel);
    EXPECT_EQ(a.rootfs, b.rootfs);
    EXPECT_EQ(a.memory_mb, b.memory_mb);
    EXPECT_EQ(a.vcpus, b.vcpus);
}

}  // namespace

TEST(GuestPolicy, OneDefaultReadyTimeoutPerKindAndAccelerator) {
    EXPECT_EQ(default_ready_timeout_s(GuestKind::container, Accel::tcg), 120);
    EXPECT_EQ(default_ready_timeout_s(GuestKind::container, Accel::kvm), 120);
    EXPECT_EQ(default_ready_timeout_s(GuestKind::process, Accel::tcg), 120);
    EXPECT_EQ(default_ready_timeout_s(GuestKind::vm, Accel::tcg), 600);
    EXPECT_EQ(default_ready_timeout_s(GuestKind::vm, Accel::kvm), 180);
}

// A start-up of a container and of a VM: each technique gets its kind's timeout, --timeout both.
TEST(GuestPolicy, StartupTimeoutFollowsEachTechniquesKindUnlessGiven) {
    RecordingDriver vm(GuestKind::vm), lxc(GuestKind::container);
    StartupConfig cfg;
    cfg.accel.accel = Accel::tcg;
    cfg.techniques = {{"kvm", "KVM", &vm, Variant::full, NAN}, {"lxc", "LXC", &lxc, Variant::app, NAN}};
    EXPECT_EQ(ready_timeout_s(cfg, cfg.techniques[0]), 600);
    EXPECT_EQ(ready_timeout_s(cfg, cfg.techniques[1]), 120);
    cfg.timeout_s = 7;
    EXPECT_EQ(ready_timeout_s(cfg, cfg.techniques[0]), 7);
    EXPECT_EQ(ready_timeout_s(cfg, cfg.techniques[1]), 7);
}

TEST(GuestPolicy, StartupPreflightChecksEachTechniquesVariant) {
    RecordingDriver vm(GuestKind::vm), lxc(GuestKind::container);
    StartupConfig cfg;
    cfg.accel.accel = Accel::kvm;
    cfg.images.dir = "/images";
    cfg.techniques = {{"kvm-bios", "KVM firmware", &vm, Variant::firmware, NAN},
                      {"lxc-app", "LXC-bash", &lxc, Variant::app, NAN}};
    preflight_startup(cfg);
    ASSERT_EQ(vm.checked.size(), 1u);
    ASSERT_EQ(lxc.checked.size(), 1u);
    expect_same(vm.checked[0], make_guest_spec(Variant::firmware, cfg.images, Accel::kvm));
    expect_same(lxc.checked[0], make_guest_spec(Variant::app, cfg.images, Accel::kvm));
}

// The CLI used to preflight io's container with the image's rootfs itself while the run created
// it on an overlay: the two now come from io_guest_spec.
TEST(GuestPolicy, IoPreflightChecksTheSpecItsGuestsAreCreatedFrom) {
    RecordingDriver vm(GuestKind::vm), lxc(GuestKind::container);
    IoConfig cfg;
    cfg.accel = Accel::kvm;
    cfg.images.dir = "/images";
    cfg.techniques = {{"kvm", "KVM", &vm}, {"lxc", "LXC", &lxc}, {"native", "native", nullptr}};
    preflight_io(cfg);
    ASSERT_EQ(vm.checked.size(), 1u);
    ASSERT_EQ(lxc.checked.size(), 1u);
    EXPECT_EQ(lxc.checked[0].rootfs, RootfsMode::shared);
    EXPECT_EQ(lxc.checked[0].variant, Variant::full);
    expect_same(lxc.checked[0], io_guest_spec(cfg));
    expect_same(vm.checked[0], io_guest_spec(cfg));
}

TEST(GuestPolicy, MemoryPreflightChecksTheFleetsSpec) {
    RecordingDriver vm(GuestKind::vm), lxc(GuestKind::container);
    MemoryConfig cfg;
    cfg.accel.accel = Accel::tcg;
    cfg.rootfs = RootfsMode::copied;
    cfg.images.dir = "/images";
    cfg.techniques = {{"kvm", "KVM", &vm, Variant::full, NAN, NAN}, {"lxc-app", "LXC-bash", &lxc, Variant::app, NAN, NAN}};
    preflight_memory(cfg);
    ASSERT_EQ(vm.checked.size(), 1u);
    ASSERT_EQ(lxc.checked.size(), 1u);
    expect_same(vm.checked[0], make_guest_spec(Variant::full, cfg.images, Accel::tcg, RootfsMode::copied));
    expect_same(lxc.checked[0], make_guest_spec(Variant::app, cfg.images, Accel::tcg, RootfsMode::copied));
}

TEST(GuestPolicy, DedupPreflightChecksSharedFullGuests) {
    RecordingDriver lxc(GuestKind::container);
    DedupBootConfig cfg;
    cfg.driver = &lxc;
    cfg.containers = true;
    cfg.images.dir = "/images";
    preflight_dedup_guests(cfg);
    ASSERT_EQ(lxc.checked.size(), 1u);
    EXPECT_EQ(lxc.checked[0].variant, Variant::full);
    EXPECT_EQ(lxc.checked[0].rootfs, RootfsMode::shared);
}

}  // namespace ht
