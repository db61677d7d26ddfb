// SPDX-License-Identifier: MIT
#include "cli/options.h"
#include "core/base/error.h"
#include "core/host/files.h"
#include "core/host/host_settings.h"
#include "core/base/json_text.h"
#include "core/host/proc.h"
#include "core/base/text.h"
#include "drivers/libvirt/libvirt_driver.h"
#include "drivers/lxc/lxc_driver.h"
#include "experiments/cleanup.h"
#include "core/views/report.h"

#include <cmath>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <unistd.h>

namespace ht {

std::string default_images() {
    const char* env = std::getenv("HYPETRACE_IMAGE_DIR");
    return env && *env ? env : kDefaultImages;
}

std::string flag_of(Setting s) {
    switch (s) {
    case Setting::accel: return "--accel";
    case Setting::boot_timeout: return "--boot-timeout";
    case Setting::timeout: return "--timeout";
    case Setting::settle_timeout: return "--settle-timeout";
    case Setting::trace: return "--trace";
    case Setting::ksm: return "--ksm";
    case Setting::pid: return "--pid";
    case Setting::vs_guest: return "--vs-guest";
    case Setting::no_host: return "--no-host";
    case Setting::image_files: return "--image-files";
    case Setting::images: return "--images";
    case Setting::guests: return "--guests";
    case Setting::verbose: return "--verbose";
    case Setting::kvm_bios: return "--kvm-bios";
    case Setting::list: return "--list";
    case Setting::kvm: return "--kvm";
    case Setting::lxc: return "--lxc";
    case Setting::driver: return "--driver";
    case Setting::run_timeout: return "--run-timeout";
    case Setting::runs: return "--runs";
    case Setting::max_time: return "--max-time";
    case Setting::detail: return "--detail";
    }
    return "";
}

std::string worded(std::string_view text) { return replace_settings(text, flag_of); }

nlohmann::json worded_json(const nlohmann::json& j) {
    if (j.is_string()) return worded(j.get_ref<const std::string&>());
    if (j.is_object()) {
        nlohmann::json out = nlohmann::json::object();
        for (auto it = j.begin(); it != j.end(); ++it) out[it.key()] = worded_json(it.value());
        return out;
    }
    if (j.is_array()) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& v : j) out.push_back(worded_json(v));
        return out;
    }
    return j;
}

std::function<void(const std::string&)> progress_printer(bool quiet) {
    return [quiet](const std::string& line) {
        if (!quiet) std::cerr << "[hypetrace] " << worded(line) << std::endl;
    };
}

void warn(const std::string& line) { std::cerr << "[hypetrace] warning: " << worded(line) << std::endl; }

void write_json_if_asked(const std::string& path, const nlohmann::json& j, bool quiet) {
    if (path.empty()) return;
    write_file_atomic(path, dump_json(worded_json(j), 2) + "\n");
    progress_printer(quiet)("wrote " + path);
}

void finish(const std::string& json_path, const nlohmann::json& j, const std::string& text, bool quiet) {
    write_json_if_asked(json_path, j, quiet);
    std::cout << worded(text) << std::flush;
}

void require_root(const std::string& what) {
    if (geteuid() != 0)
        throw UserError("`hypetrace " + what + "` must run as root: it loads BPF programs and starts guests (try: sudo)");
}

void repair_dead_runs(bool quiet, bool ksm) {
    LxcDriver lxc;
    LibvirtDriver libvirt;  // connects only for a dead run's restored domain
    const CleanupResult r = clean_dead_runs({&lxc, &libvirt}, ksm);
    for (const auto& line : r.undone) progress_printer(quiet)(line);
    for (const auto& line : r.stuck) progress_printer(false)("warning: " + line);
}

void repair_dead_runs(bool quiet, HostSettingsGuard& held) {
    repair_dead_runs(quiet, false);  // the settings: the guard's
    held.settle_recovered();
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

std::vector<unsigned> parse_number_list(const std::string& text, const std::string& flag, unsigned lo, unsigned hi,
                                        const std::string& what, const std::string& example) {
    std::vector<unsigned> v;
    std::size_t start = 0;
    while (start <= text.size()) {
        auto end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        const std::string item = text.substr(start, end - start);
        char* rest = nullptr;
        const unsigned long n = std::strtoul(item.c_str(), &rest, 10);
        if (item.empty() || *rest || item[0] == '-' || n < lo || n > hi)
            throw usage_error(flag + " " + text + ": give " + what + " from " + std::to_string(lo) + " to " +
                              std::to_string(hi) + " separated by commas, e.g. " + example);
        v.push_back(unsigned(n));
        start = end + 1;
    }
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
}

std::optional<unsigned> parse_runs(const std::string& text, const std::string& flag, unsigned lo, unsigned hi) {
    if (text == "auto") return std::nullopt;
    char* rest = nullptr;
    const unsigned long n = std::strtoul(text.c_str(), &rest, 10);
    if (text.empty() || *rest || !std::isdigit(static_cast<unsigned char>(text[0])) || n < lo || n > hi)
        throw usage_error(flag + " " + visible(text) + ": give a number of runs from " + std::to_string(lo) + " to " +
                          std::to_string(hi) + ", or auto (until each 95 % interval is a tenth of its mean)");
    return unsigned(n);
}

RunsChoice parse_runs_options(const std::string& runs, double max_time, unsigned hi, double default_max_time_s) {
    const std::optional<unsigned> n = parse_runs(runs, "--runs", 1, hi);
    if (n && max_time > 0) throw usage_error("--max-time caps --runs auto: add --runs auto, or drop --max-time");
    RunsChoice c;
    c.runs = n.value_or(0);
    c.auto_runs.on = !n;
    c.auto_runs.max_time_s = max_time > 0 ? max_time : default_max_time_s;
    return c;
}

CLI::Option* add_runs_option(CLI::App* app, std::string& runs, const std::string& help) {
    return app->add_option("--runs", runs, help)->type_name("N|auto")->capture_default_str();
}

}  // namespace ht
