// SPDX-License-Identifier: MIT
// A setting the user chooses, as lower layers name it in what they say ("not ready after 600 s
// (the boot timeout)"): by what it is, never by a command-line flag. A message carries
// ref(Setting::boot_timeout); the CLI, the one layer that knows its flags, words every line and
// JSON string it emits (cli/options: worded), so renaming a flag changes each message with it,
// and tests/cli checks that every Setting maps to a flag that exists.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace ht {

enum class Setting {
    accel,           // the VM accelerator (auto, kvm, tcg)
    boot_timeout,    // seconds a guest of a fleet may take to be ready
    timeout,         // seconds one run may take
    settle_timeout,  // seconds memory waits for a step to settle
    trace,           // the trace directory to write
    ksm,             // KSM on or off for a run
    pid,             // a running guest given by its pid
    vs_guest,        // dedup's second guest
    no_host,         // dedup without the host scan
    image_files,     // dedup's directory of the guest image's files
    images,          // the guest images' directory
    guests,          // how many guests devices boots
    verbose,         // libbpf's log echoed
    kvm_bios,        // the firmware-only VM
    list,            // dedup's list of running guests
    kvm,             // boot a QEMU/KVM guest
    lxc,             // boot an LXC container
    driver,          // the VM driver (qemu, libvirt)
    run_timeout,     // seconds one benchmark run of density may take
    runs,            // measured runs per technique (a number, or auto: until settled)
    max_time,        // seconds runs auto may keep measuring one technique
    detail,          // exitcost's per-exit times (more clock reads per exit)
};
inline constexpr Setting kAllSettings[] = {
    Setting::accel,   Setting::boot_timeout, Setting::timeout,     Setting::settle_timeout, Setting::trace,
    Setting::ksm,     Setting::pid,          Setting::vs_guest,    Setting::no_host,        Setting::image_files,
    Setting::images,  Setting::guests,       Setting::verbose,     Setting::kvm_bios,       Setting::list,
    Setting::kvm,     Setting::lxc,          Setting::driver,      Setting::run_timeout,    Setting::runs,
    Setting::max_time, Setting::detail};

// "boot_timeout"
const char* setting_key(Setting s);
std::optional<Setting> setting_from_key(std::string_view key);

// The mark a message carries where it names `s`: "{setting:boot_timeout}".
std::string ref(Setting s);

// `text` with every mark replaced by name(setting); anything else, a mark of an unknown key
// included, is left as it is.
std::string replace_settings(std::string_view text, const std::function<std::string(Setting)>& name);

}  // namespace ht
