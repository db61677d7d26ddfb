// SPDX-License-Identifier: MIT
// One function per subcommand: add_X(app) creates subcommand X on `app` with its options (held
// by the returned `run`) and returns both; main() calls them in the order --help lists them and
// runs the one the command line chose. Each lives in cli/cmd_X.cpp (record, flamegraph and
// timeline in cli/trace_cmds.cpp).
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <vector>

namespace ht {

struct Command {
    CLI::App* sub = nullptr;
    std::function<int()> run;  // after a successful parse, if `sub` was chosen
};

Command add_startup(CLI::App& app);
Command add_memory(CLI::App& app);
Command add_devices(CLI::App& app);
Command add_dedup(CLI::App& app);
Command add_exitcost(CLI::App& app);
Command add_io(CLI::App& app);
Command add_density(CLI::App& app);
Command add_paper(CLI::App& app);
Command add_record(CLI::App& app);
Command add_flamegraph(CLI::App& app);
Command add_timeline(CLI::App& app);
Command add_cleanup(CLI::App& app);
Command add_host(CLI::App& app);

// Every subcommand, added in the order --help lists them (cli/commands.cpp).
std::vector<Command> add_all_commands(CLI::App& app);

}  // namespace ht
