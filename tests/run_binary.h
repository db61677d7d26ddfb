// SPDX-License-Identifier: MIT
// Runs build/hypetrace with an argv vector and captures exit code, stdout and stderr.
#pragma once
#include "core/host/spawn.h"
#include "temp_dir.h"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

struct BinaryResult {
    int code = -1;
    std::string out, err;
    int lines(const std::string& s) const {
        int n = 0;
        for (char c : s) n += c == '\n';
        return n;
    }
};

inline std::string ht_slurp(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline BinaryResult run_hypetrace(std::vector<std::string> args) {
    const TestTempDir tmp("/tmp/ht-cli-XXXXXX");
    const std::string dir = tmp.path;
    ht::SpawnOptions o;
    o.stdout_path = dir + "/out";
    o.stderr_path = dir + "/err";
    args.insert(args.begin(), HYPETRACE_BIN);
    ht::Child c = ht::spawn(args, o);
    int st = 0;
    waitpid(c.pid, &st, 0);
    BinaryResult r;
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = ht_slurp(dir + "/out");
    r.err = ht_slurp(dir + "/err");
    return r;
}

// hypetrace running in the background (for signals mid-run); wait() collects it like run_hypetrace.
struct AsyncHypetrace {
    const TestTempDir tmp{"/tmp/ht-async-XXXXXX"};  // removed once the destructor has ended the run
    const std::string dir = tmp.path;
    pid_t pid = -1;
    explicit AsyncHypetrace(std::vector<std::string> args) {
        ht::SpawnOptions o;
        o.stdout_path = dir + "/out";
        o.stderr_path = dir + "/err";
        o.own_process_group = false;
        args.insert(args.begin(), HYPETRACE_BIN);
        pid = ht::spawn(args, o).pid;
    }
    BinaryResult wait() {
        int st = 0;
        waitpid(pid, &st, 0);
        BinaryResult r;
        r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        r.out = ht_slurp(dir + "/out");
        r.err = ht_slurp(dir + "/err");
        return r;
    }
    std::string err() const { return ht_slurp(dir + "/err"); }
    ~AsyncHypetrace() {
        if (pid > 0 && waitpid(pid, nullptr, WNOHANG) == 0) {
            kill(pid, SIGTERM);
            waitpid(pid, nullptr, 0);
        }
    }
};

