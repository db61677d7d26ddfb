// SPDX-License-Identifier: MIT
// hypetrace's command line: builds the app from the subcommands (each in cli/cmd_NAME.cpp, the
// trace directory ones in cli/trace_cmds.cpp), parses, and runs the one chosen. The CLI is the only
// place that wires drivers to experiments.
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/trace_cmds.h"
#include "core/base/error.h"
#include "core/host/interrupt.h"
#include "core/host/mount_ns.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <set>
#include <string>
#include <vector>

namespace {
int interrupted_by(int sig) {
    std::cerr << "hypetrace: interrupted by signal " << sig << "; guests stopped, programs detached" << std::endl;
    return 128 + sig;
}
}  // namespace

int main(int argc, char** argv) {
    using namespace ht;
    // First, before any thread: tracefs, mounted by a tracer where the host has none, then stays
    // in this process's namespace, never on the host, and goes with the namespace's last process,
    // even when hypetrace is killed. Where this cannot be (not root: nothing will be mounted), the
    // tracer unmounts what it mounted itself.
    enter_private_mount_namespace(nullptr);
    install_interrupt_handlers();
    remember_command_line(argc, argv);
    CLI::App app{"hypetrace: measure and explain the real cost of containers vs virtual machines, traced with eBPF"};
    app.set_version_flag("--version", std::string("hypetrace ") + HYPETRACE_VERSION);
    app.require_subcommand(1);
    app.failure_message([](const CLI::App*, const CLI::Error& e) {
        return std::string("hypetrace: ") + e.what() + " (see hypetrace --help)\n";
    });
    app.footer("Examples:\n"
               "  hypetrace startup --kvm --lxc --lxc-app --native --runs 5 --json startup.json\n"
               "  hypetrace startup --kvm-bios --accel kvm --runs 3\n"
               "  hypetrace memory --kvm --lxc --count 1,2,4,8 --ksm on --plot fig4.svg\n"
               "  hypetrace devices --guests 3 --json table2.json\n"
               "  hypetrace dedup --kvm --ksm-check\n"
               "  hypetrace io --kvm --lxc --native --json io.json\n"
               "  hypetrace exitcost --json exits.json\n"
               "  hypetrace startup --lxc --kvm --runs 2 --trace out/ && hypetrace flamegraph out/ && hypetrace timeline out/\n"
               "  hypetrace host\n"
               "Guest images: scripts/build-images.sh (default location " +
               std::string(kDefaultImages) + ", or $HYPETRACE_IMAGE_DIR).");

    const std::vector<Command> commands = add_all_commands(app);

    // CLI11 reports an unknown subcommand as "a subcommand is required": name it instead.
    std::set<std::string> known;
    std::string names;
    for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        known.insert(sub->get_name());
        names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (argc > 1 && argv[1][0] != '-' && !known.count(argv[1])) {
        std::cerr << "hypetrace: unknown subcommand '" << argv[1] << "': choose one of " << names << " (see hypetrace --help)"
                  << std::endl;
        return 2;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);  // prints the one-line failure message
        return 2;     // usage errors exit with 2, whatever CLI11's own code
    }

    try {
        for (const auto& c : commands)
            if (*c.sub) return c.run();
    } catch (const UserError& e) {
        // An error while a signal was pending is the signal's doing (a wait cut short by it):
        // say that, and exit as interrupted.
        if (const int sig = interrupt_signal())
            return interrupted_by(sig);
        std::cerr << "hypetrace: " << worded(e.what()) << std::endl;
        return e.exit_code;
    } catch (const Interrupted& i) {
        return interrupted_by(i.signal);
    } catch (const std::exception& e) {
        if (const int sig = interrupt_signal()) return interrupted_by(sig);
        std::cerr << "hypetrace: internal error: " << worded(e.what()) << std::endl;
        return 70;
    }
    return 0;
}
