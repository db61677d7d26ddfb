// SPDX-License-Identifier: MIT
// Starting and stopping child processes from argv vectors (never a shell string).
#pragma once
#include <chrono>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace ht {

// Every spawned child's environment names the hypetrace process that started it.
inline constexpr const char* kRunPidEnv = "HYPETRACE_RUN_PID";

struct SpawnOptions {
    std::string stdin_path = "/dev/null";   // "" = keep a pipe open to the child's stdin (see Child)
    std::string stdout_path = "/dev/null";  // appended to
    std::string stderr_path = "/dev/null";
    std::vector<std::pair<std::string, std::string>> env;  // added to the environment
    bool own_process_group = true;  // Ctrl-C at the terminal reaches hypetrace, which stops the child
    bool die_with_parent = true;    // PR_SET_PDEATHSIG SIGKILL: no orphans if hypetrace is killed
    int cpu = -1;                   // >= 0: the child (and all it starts) runs on this CPU only
};

struct Child {
    pid_t pid = -1;
    int stdin_fd = -1;  // write end of the child's stdin when stdin_path was ""
};

// Forks and execs argv[0] (searched in PATH). Throws UserError if the program cannot be executed
// (the child reports the exec failure through a close-on-exec pipe before spawn returns).
Child spawn(const std::vector<std::string>& argv, const SpawnOptions& opts = {});

// spawn() and wait for the child; returns its exit code (128+signal if killed). If hypetrace is
// interrupted meanwhile, the child is terminated and Interrupted is thrown.
int run_and_wait(const std::vector<std::string>& argv, const SpawnOptions& opts = {});

// Sends SIGTERM, waits up to `grace`, then SIGKILL and waits. A child that leads its own process
// group is signalled with its group, and what is left of the group is killed once it has exited
// (up to 2 s for it to be gone). Returns the wait status (or -1 if the pid was not our child).
// Safe to call for an already reaped child.
int terminate(pid_t pid, std::chrono::milliseconds grace = std::chrono::milliseconds(3000));

// For processes that are not our children (found by what they carry, not spawned here): sends
// them SIGKILL and waits up to `wait` for every one to be gone. True if none is left.
bool kill_processes(const std::vector<pid_t>& pids, std::chrono::milliseconds wait = std::chrono::milliseconds(2000));

// Non-blocking: true if the child has exited (and reaps it, storing the status).
bool child_exited(pid_t pid, int* status = nullptr);

// Finds `name` in PATH (or returns it if it holds a '/'), "" if not found.
std::string which(const std::string& name);

}  // namespace ht
