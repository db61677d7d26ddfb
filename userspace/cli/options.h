// SPDX-License-Identifier: MIT
// What the subcommands share: option helpers and validators, the progress printer, the JSON
// writer, the root check, and the repair of what killed runs left.
#pragma once
#include "core/base/setting.h"

#include <CLI/CLI.hpp>

#include "core/base/stats.h"

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace ht {

class HostSettingsGuard;

inline constexpr const char* kDefaultImages = "/var/cache/hypetrace/images";

// $HYPETRACE_IMAGE_DIR if set, else kDefaultImages.
std::string default_images();

// The flag that sets `s`, as typed ("--boot-timeout"): the one table from what lower layers name
// (core/base/setting.h) to this CLI's words. tests/cli checks that each flag exists.
std::string flag_of(Setting s);
// `text`, or every string in `j`, with each setting a lower layer named worded as its flag. Every
// line hypetrace prints and every JSON it writes goes through one of these.
std::string worded(std::string_view text);
nlohmann::json worded_json(const nlohmann::json& j);

// Progress lines on stderr ("[hypetrace] ..."), or nothing with -q.
std::function<void(const std::string&)> progress_printer(bool quiet);

// A warning on stderr ("[hypetrace] warning: ..."), quiet or not.
void warn(const std::string& line);

// Writes a result's JSON to `path` (atomically) if one was asked for, and says so unless quiet.
void write_json_if_asked(const std::string& path, const nlohmann::json& j, bool quiet);

// How every experiment's command ends: its JSON written if asked (first: a view that fails must
// not lose the run), then its text report on stdout.
void finish(const std::string& json_path, const nlohmann::json& j, const std::string& text, bool quiet);

// Throws a UserError unless this process runs as root; `what` is the command as typed after
// `hypetrace `.
void require_root(const std::string& what);

// What killed runs left (their containers, scratch directories and, with `ksm`, the host settings
// they changed), undone before this run starts; each thing undone is said on stderr.
void repair_dead_runs(bool quiet, bool ksm);
// The same for a run that holds the host settings itself (its guard restored a dead run's when it
// took them): once the dead runs' guests are reaped, a KSM the guard's recovery stopped runs until
// ksmd has freed their merges (HostSettingsGuard::settle_recovered).
void repair_dead_runs(bool quiet, HostSettingsGuard& held);

// A number from `lo` to `hi`; CLI::Range lets NaN through (every comparison with it is false).
CLI::Validator finite_range(double lo, double hi, const std::string& what);
// Seconds an option may name: from 1 ms to a day. Nanosecond counts are int64: 1e300 s, or
// 1e12 s, would wrap into a negative deadline.
extern const CLI::Validator kSeconds;
extern const CLI::Validator kSecondsOrZero;

// A pid of this host: digits, 1 to pid_max - 1 (CLI11's number checks pass 4294967297, which
// would become pid 1).
CLI::Validator pid_validator();

// A comma-separated list of whole numbers from lo to hi, sorted, each once ("1,2,4,8"); anything
// else is a usage error naming `flag` and giving `example`.
std::vector<unsigned> parse_number_list(const std::string& text, const std::string& flag, unsigned lo, unsigned hi,
                                        const std::string& what, const std::string& example);

// --runs N or auto: N from lo to hi, or nullopt for auto (runs until each figure settles,
// core/base/stats.h); anything else is a usage error naming `flag`.
std::optional<unsigned> parse_runs(const std::string& text, const std::string& flag, unsigned lo, unsigned hi);

// --runs N|auto with --max-time, as startup, io and density take them: the runs (0 for auto) and
// auto's settings, its time cap `default_max_time_s` unless --max-time (> 0) says otherwise;
// --max-time without auto is a usage error.
struct RunsChoice {
    unsigned runs = 0;
    AutoRuns auto_runs;
};
RunsChoice parse_runs_options(const std::string& runs, double max_time, unsigned hi, double default_max_time_s);
// The --runs N|auto option (`help` says what a run is and what auto waits for).
CLI::Option* add_runs_option(CLI::App* app, std::string& runs, const std::string& help);

// --accel auto|kvm|tcg.
void add_accel_option(CLI::App* app, std::string& accel);

}  // namespace ht
