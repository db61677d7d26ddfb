// SPDX-License-Identifier: MIT
#include "core/host/spawn.h"

#include "core/base/error.h"
#include "core/host/interrupt.h"
#include "core/host/proc.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace ht {

std::string which(const std::string& name) {
    if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
    const char* path = std::getenv("PATH");
    std::string p = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    std::size_t start = 0;
    while (start <= p.size()) {
        auto end = p.find(':', start);
        if (end == std::string::npos) end = p.size();
        std::string cand = p.substr(start, end - start) + "/" + name;
        struct stat st {};
        if (stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(cand.c_str(), X_OK) == 0) return cand;
        start = end + 1;
    }
    return "";
}

Child spawn(const std::vector<std::string>& argv, const SpawnOptions& opts) {
    if (argv.empty()) throw std::invalid_argument("spawn: empty argv");
    std::string exe = which(argv[0]);
    if (exe.empty()) throw UserError(argv[0] + " not found in PATH: install it (scripts/setup.sh installs what hypetrace needs)");

    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);

    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe2", errno));
    int inpipe[2] = {-1, -1};
    if (opts.stdin_path.empty() && pipe2(inpipe, O_CLOEXEC) != 0) {
        int err = errno;
        close(errpipe[0]);
        close(errpipe[1]);
        throw std::runtime_error(errno_text("pipe2", err));
    }
    pid_t parent = getpid();
    const std::string run_pid = std::to_string(parent);
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(errpipe[0]);
        close(errpipe[1]);
        throw std::runtime_error(errno_text("fork", err));
    }
    if (pid == 0) {
        // Child: only async-signal-safe calls from here to exec.
        auto fail = [&](int err) {
            [[maybe_unused]] auto n = write(errpipe[1], &err, sizeof err);
            _exit(127);
        };
        for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) signal(sig, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        if (opts.die_with_parent) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(1);
        }
        if (opts.own_process_group) setpgid(0, 0);
        if (opts.cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(opts.cpu, &set);
            if (sched_setaffinity(0, sizeof set, &set) != 0) fail(errno);
        }
        int in = opts.stdin_path.empty() ? inpipe[0] : open(opts.stdin_path.c_str(), O_RDONLY);
        int out = open(opts.stdout_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        int err = open(opts.stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in < 0 || out < 0 || err < 0) fail(errno);
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) fail(errno);
        // The run that started it, inherited by everything it starts in turn (a runner's fio):
        // how `hypetrace cleanup` finds what a killed run's children left running.
        setenv(kRunPidEnv, run_pid.c_str(), 1);
        for (const auto& [k, v] : opts.env) setenv(k.c_str(), v.c_str(), 1);
        execv(exe.c_str(), cargv.data());
        fail(errno);
    }
    close(errpipe[1]);
    if (inpipe[0] >= 0) close(inpipe[0]);
    int child_err = 0;
    ssize_t n;
    do {
        n = read(errpipe[0], &child_err, sizeof child_err);
    } while (n < 0 && errno == EINTR);
    close(errpipe[0]);
    if (n == sizeof child_err) {
        waitpid(pid, nullptr, 0);
        if (inpipe[1] >= 0) close(inpipe[1]);
        throw UserError(errno_text("cannot run " + exe, child_err));
    }
    return Child{pid, inpipe[1]};
}

bool child_exited(pid_t pid, int* status) {
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
        if (status) *status = st;
        return true;
    }
    return r < 0 && errno == ECHILD;
}

namespace {

// True while a process of group `pgid` other than its leader is alive (not a zombie).
bool group_has_live_members(pid_t pgid) {
    if (kill(-pgid, 0) != 0) return false;
    for (pid_t p : all_pids())
        if (p != pgid && getpgid(p) == pgid && process_alive(p)) return true;
    return false;
}

}  // namespace

int terminate(pid_t pid, std::chrono::milliseconds grace) {
    if (pid <= 0) return -1;
    // A child leading its own process group (own_process_group) is stopped with its group: a
    // runner's children (fio's workers, bash's background jobs) do not outlive it, working on in a
    // directory being removed. The group is signalled while the leader is unreaped (a zombie
    // holds its pid, so -pid is still this group), then the leader is reaped.
    const bool group = getpgid(pid) == pid;
    auto exited = [&] {  // without reaping
        siginfo_t si{};
        return waitid(P_PID, id_t(pid), &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
    };
    auto reap = [&] {
        if (group) {
            kill(-pid, SIGKILL);
            for (int i = 0; i < 400 && group_has_live_members(pid); ++i)  // up to 2 s; zombies are done
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        int st = 0;
        pid_t r;
        while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
        }
        return r == pid ? st : -1;
    };
    if (exited()) return reap();
    {
        siginfo_t si{};
        if (waitid(P_PID, id_t(pid), &si, WEXITED | WNOHANG | WNOWAIT) != 0) return -1;  // not our child
    }
    kill(group ? -pid : pid, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + grace;
    while (std::chrono::steady_clock::now() < deadline) {
        if (exited()) return reap();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill(group ? -pid : pid, SIGKILL);
    return reap();
}

int run_and_wait(const std::vector<std::string>& argv, const SpawnOptions& opts) {
    Child c = spawn(argv, opts);
    for (;;) {
        int status = 0;
        if (child_exited(c.pid, &status))
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (interrupted()) {
            terminate(c.pid);
            throw_if_interrupted();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

bool kill_processes(const std::vector<pid_t>& pids, std::chrono::milliseconds wait) {
    for (pid_t p : pids)
        if (p > 0) kill(p, SIGKILL);
    const auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
        bool any = false;
        for (pid_t p : pids) any = any || (p > 0 && process_alive(p));
        if (!any) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

}  // namespace ht
