// SPDX-License-Identifier: MIT
#include "drivers/native/native_driver.h"

#include "app_rc.h"  // generated from scripts/guest/app.rc: the guests' rc file, verbatim
#include "core/base/error.h"
#include "core/host/spawn.h"

#include <fstream>
#include <unistd.h>

namespace ht {
namespace {

class NativeGuest : public Guest {
public:
    explicit NativeGuest(GuestSpec spec) : spec_(std::move(spec)) {}
    ~NativeGuest() override { stop(); }

    GuestKind kind() const override { return GuestKind::process; }

    void start() override {
        auto rc = spec_.run_dir / "app.rc";
        std::ofstream(rc) << kAppRc;
        std::ofstream(spec_.run_dir / "console.log").flush();
        SpawnOptions o;
        o.stdin_path = "";  // a pipe held open: bash waits for input like the guests' bash
        o.stdout_path = (spec_.run_dir / "native.out").string();
        o.stderr_path = o.stdout_path;
        o.env = {{"HYPETRACE_CONSOLE", (spec_.run_dir / "console.log").string()}};
        o.cpu = spec_.host_cpu;
        child_ = spawn({which("bash"), "--rcfile", rc.string(), "-i"}, o);
    }

    void stop() noexcept override {
        if (child_.stdin_fd >= 0) {
            close(child_.stdin_fd);
            child_.stdin_fd = -1;
        }
        if (child_.pid > 0) {
            terminate(child_.pid, std::chrono::milliseconds(1000));
            child_.pid = -1;
        }
    }

    bool alive() const override { return child_.pid > 0 && !child_exited(child_.pid); }
    pid_t main_pid() const override { return child_.pid; }
    std::vector<pid_t> pids() const override { return {child_.pid}; }
    std::map<std::string, std::string> console_files() const override { return {{"console", "console.log"}}; }
    std::vector<MarkerSpec> milestones() const override { return {{"console", kReadyMarker, "ready"}}; }
    std::string init_path() const override { return which("bash"); }
    std::string describe() const override { return which("bash") + " --rcfile app.rc -i"; }

private:
    GuestSpec spec_;
    Child child_;
};

}  // namespace

void NativeDriver::preflight(const GuestSpec&) const {
    if (which("bash").empty()) throw UserError("bash not found in PATH");
}

std::unique_ptr<Guest> NativeDriver::create(const GuestSpec& spec) { return std::make_unique<NativeGuest>(spec); }

}  // namespace ht
