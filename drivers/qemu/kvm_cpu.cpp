// SPDX-License-Identifier: MIT
#include "drivers/qemu/kvm_cpu.h"
#include "core/base/setting.h"

#include "core/base/error.h"
#include "core/host/files.h"
#include "core/host/proc.h"
#include "core/host/spawn.h"
#include "core/base/text.h"

#include <chrono>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace ht {

std::string KvmCpuModel::qemu_arg() const {
    std::string s = model;
    for (const auto& f : disabled) s += "," + f + "=off";
    return s;
}

std::vector<KvmCpuModel> kvm_cpu_candidates() {
    return {{"host", {}, ""}, {"host", {"arch-capabilities"}, ""}, {"max", {}, ""}, {"qemu64", {}, ""}};
}

bool qemu_kvm_cpu_starts(const KvmCpuModel& m, std::string* error) {
    ScratchDir dir("/run/hypetrace", "cpu-probe-" + std::to_string(getpid()));
    const auto log = (dir.path() / "qemu.log").string();
    SpawnOptions o;
    o.stdin_path = "";  // QMP on stdin: answered only once the machine is created and reset
    o.stdout_path = log;
    o.stderr_path = log;
    Child c = spawn({"qemu-system-x86_64", "-machine", "pc", "-accel", "kvm", "-cpu", m.qemu_arg(), "-m", "16",
                     "-nodefaults", "-no-user-config", "-display", "none", "-S", "-qmp", "stdio"},
                    o);
    const std::string cmds = "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-status\"}\n"
                             "{\"execute\":\"quit\"}\n";
    bool wrote = write(c.stdin_fd, cmds.data(), cmds.size()) == ssize_t(cmds.size());
    close(c.stdin_fd);
    int st = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!child_exited(c.pid, &st)) {
        if (std::chrono::steady_clock::now() > deadline) {
            terminate(c.pid, std::chrono::milliseconds(500));
            if (error) *error = "QEMU did not answer within 10 s";
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const std::string out = read_text(log).value_or("");
    const bool ok = wrote && WIFEXITED(st) && WEXITSTATUS(st) == 0 && out.find("\"running\"") != std::string::npos;
    if (!ok && error) {
        *error = last_line(out);
        if (error->empty()) error->assign(WIFSIGNALED(st) ? "killed by signal " + std::to_string(WTERMSIG(st))
                                                          : "exit " + std::to_string(WEXITSTATUS(st)));
    }
    return ok;
}

KvmCpuModel choose_kvm_cpu(const std::function<bool(const KvmCpuModel&, std::string*)>& starts) {
    std::string refused;
    for (auto m : kvm_cpu_candidates()) {
        std::string err;
        if (starts(m, &err)) {
            m.why = "-cpu " + m.qemu_arg() + (refused.empty() ? " (the host's own model)" : " (" + refused + ")");
            return m;
        }
        refused += (refused.empty() ? "" : "; ") + ("-cpu " + m.qemu_arg() + " refused: " + err);
    }
    throw UserError("QEMU cannot start a machine under KVM with any CPU model (" + refused +
                    "); run VMs under TCG instead (" + ref(Setting::accel) + " tcg)");
}

const KvmCpuModel& kvm_cpu_model() {
    static std::once_flag once;
    static KvmCpuModel chosen;
    static std::string failure;
    std::call_once(once, [] {
        try {
            chosen = choose_kvm_cpu(qemu_kvm_cpu_starts);
        } catch (const UserError& e) {
            failure = e.what();
        }
    });
    if (chosen.model.empty()) throw UserError(failure);
    return chosen;
}

}  // namespace ht
