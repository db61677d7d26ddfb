// SPDX-License-Identifier: MIT
#include "cli/options.h"
#include "core/base/error.h"
#include "core/host/files.h"
#include "core/base/json_text.h"
#include "core/host/proc.h"
#include "core/base/text.h"
#include "drivers/lxc/lxc_driver.h"
#include "experiments/cleanup.h"
#include "core/views/report.h"

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <unistd.h>

namespace ht {

std::string default_images() {
    const char* env = std::getenv("HYPETRACE_IMAGE_DIR");
    return env && *env ? env : kDefaultImages;
}

std::function<void(const std::string&)> progress_printer(bool quiet) {
    return [quiet](const std::string& line) {
        if (!quiet) std::cerr << "[hypetrace] " << line << std::endl;
    };
}

void write_json_if_asked(const std::string& path, const nlohmann::json& j, bool quiet) {
    if (path.empty()) return;
    write_file_atomic(path, dump_json(j, 2) + "\n");
    progress_printer(quiet)("wrote " + path);
}

void require_root(const std::string& what) {
    if (geteuid() != 0)
        throw UserError("`hypetrace " + what + "` must run as root: it loads BPF programs and starts guests (try: sudo)");
}

void repair_dead_runs(bool quiet, bool ksm) {
    LxcDriver lxc;
    for (const auto& line : clean_dead_runs({&lxc}, ksm).undone) progress_printer(quiet)(line);
}

CLI::Validator finite_range(double lo, double hi, const std::string& what) {
    return CLI::Validator(
        [lo, hi](std::string& s) -> std::string {
            char* end = nullptr;
            const double v = std::strtod(s.c_str(), &end);
            if (s.empty() || *end || !std::isfinite(v) || v < lo || v > hi)
                return "'" + visible(s) + "' is not a number from " + fmt("%g", lo) + " to " + fmt("%g", hi);
            return "";
        },
        what);
}
const CLI::Validator kSeconds = finite_range(0.001, 86400.0, "SECONDS");
const CLI::Validator kSecondsOrZero = finite_range(0.0, 86400.0, "SECONDS");

CLI::Validator pid_validator() {
    return CLI::Validator(
        [](std::string& s) -> std::string {
            const pid_t max = pid_max();
            return parse_pid(s, max) ? "" : not_a_pid(s, max);
        },
        "PID");
}

void add_accel_option(CLI::App* app, std::string& accel) {
    app->add_option("--accel", accel, "VM accelerator: auto (KVM only where the CPU has vmx/svm), kvm, tcg")
        ->check(CLI::IsMember({"auto", "kvm", "tcg"}))
        ->capture_default_str();
}

}  // namespace ht
