// SPDX-License-Identifier: MIT
#include "cli/commands.h"

namespace ht {

std::vector<Command> add_all_commands(CLI::App& app) {
    return {add_startup(app), add_memory(app),     add_devices(app),  add_dedup(app),   add_exitcost(app), add_io(app),
            add_density(app),  add_paper(app),
            add_record(app),  add_flamegraph(app), add_timeline(app), add_cleanup(app), add_host(app)};
}

}  // namespace ht
