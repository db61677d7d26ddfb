// SPDX-License-Identifier: MIT
#include "cli/paper_steps.h"

#include "core/base/error.h"
#include "core/base/text.h"

#include <cctype>

namespace ht {

std::vector<PaperExperiment> paper_experiments() {
    // Times: seconds on this machine kind (2 CPUs; VMs under TCG, or KVM in the nested lab's
    // proportion), each measured from a run of the step itself, rounded up.
    const std::vector<std::string> startup{"startup", "--kvm", "--kvm-app", "--lxc", "--lxc-app", "--native"};
    auto with = [](std::vector<std::string> a, std::initializer_list<std::string> more) {
        a.insert(a.end(), more);
        return a;
    };
    const std::vector<std::string> density{"density", "--kvm", "--lxc", "--native"};
    const std::vector<std::string> json_only{"--json", "{json}"}, json_plot{"--json", "{json}", "--plot", "{svg}"};
    return {
        {"startup", "Table 3: start-up latency, cold and from a checkpoint", json_only, false,
         {{with(startup, {"--runs", "3", "--restore", "both"}), "3 runs each (after 1 warm-up), restored eagerly and lazily", 150, 90},
          {with(startup, {"--runs", "5", "--restore", "both"}), "5 runs each, restored eagerly and lazily", 230, 130},
          {with(startup, {"--runs", "10", "--restore", "both"}), "10 runs each, restored eagerly and lazily", 420, 250}}},
        {"memory", "Figure 4: memory footprint per guest as guests are added, KSM on and off", json_plot, false,
         {{{"memory", "--kvm", "--lxc", "--lxc-app", "--count", "1,2,4", "--ksm", "on"}, "1, 2, 4 guests, KSM on", 420, 240},
          {{"memory", "--kvm", "--lxc", "--lxc-app", "--count", "1,2,4,8", "--ksm", "on"}, "1, 2, 4, 8 guests, KSM on", 720, 400},
          {{"memory", "--kvm", "--lxc", "--lxc-app", "--count", "1,2,4,8", "--ksm", "both"},
           "1, 2, 4, 8 guests, KSM on and off", 1200, 700}}},
        {"memory-copied", "Section 3: full containers on a copied rootfs instead of a shared one", json_only, false,
         {{{"memory", "--lxc", "--count", "1,2,4", "--ksm", "on", "--rootfs", "copied"}, "1, 2, 4 containers", 90, 90},
          {{"memory", "--lxc", "--count", "1,2,4,8", "--ksm", "on", "--rootfs", "copied"}, "1, 2, 4, 8 containers", 150, 150}}},
        {"dedup", "Table 1: duplicate pages of a VM, within itself, with the host, with a second VM", json_only, false,
         {{{"dedup", "--kvm", "--ksm-check"}, "2 VMs, the first scanned, KSM's merge checked", 240, 150}}},
        {"devices", "Table 2: memory saved by dropping emulated devices from a libvirt-default VM", json_only, false,
         {{{"devices", "--sets", "default,no-video,no-audio,no-usb,no-video+usb,none", "--guests", "2"},
           "the paper's 5 device sets and the default, 2 VMs each", 420, 240},
          {{"devices", "--guests", "3"}, "all 8 device sets, 3 VMs each", 900, 500}}},
        {"density-quantum", "Figure 1: a CPU benchmark (Shor's factoring, for 462.libquantum) while the others busy-loop", json_plot, false,
         {{with(density, {"--cpu", "--bench", "quantum", "--per-core", "1,2", "--runs", "3"}), "1 guest, then 1 and 2 per CPU, 3 runs", 180, 120},
          {with(density, {"--cpu", "--bench", "quantum", "--per-core", "1,2,4", "--runs", "5"}), "1 guest, then 1, 2, 4 per CPU, 5 runs", 480, 300},
          {with(density, {"--cpu", "--bench", "quantum", "--per-core", "1,2,4,6", "--runs", "5"}),
           "1 guest, then 1, 2, 4, 6 per CPU (the paper's), 5 runs", 900, 600}}},
        {"density-chess", "Figure 2: a CPU benchmark (stockfish's search, for 438.sjeng) while the others busy-loop", json_plot, false,
         {{with(density, {"--cpu", "--bench", "chess", "--per-core", "1,2", "--runs", "3"}), "1 guest, then 1 and 2 per CPU, 3 runs", 180, 120},
          {with(density, {"--cpu", "--bench", "chess", "--per-core", "1,2,4", "--runs", "5"}), "1 guest, then 1, 2, 4 per CPU, 5 runs", 480, 300},
          {with(density, {"--cpu", "--bench", "chess", "--per-core", "1,2,4,6", "--runs", "5"}),
           "1 guest, then 1, 2, 4, 6 per CPU (the paper's), 5 runs", 900, 600}}},
        {"density-io", "Figure 3: fio's fileserver ops/s while the others busy-loop", json_plot, false,
         {{with(density, {"--io", "--per-core", "1,2", "--runs", "3"}), "1 guest, then 1 and 2 per CPU, 3 runs", 240, 150},
          {with(density, {"--io", "--per-core", "1,2,4", "--runs", "3"}), "1 guest, then 1, 2, 4 per CPU, 3 runs", 420, 260},
          {with(density, {"--io", "--per-core", "1,2,4,6,8", "--runs", "3"}), "1 guest, then 1, 2, 4, 6, 8 per CPU (the paper's), 3 runs",
           1100, 700}}},
        {"io", "Section 2.2: one fio job in a VM, a container and natively, and what the VM's I/O costs the host", json_only, false,
         {{{"io", "--kvm", "--lxc", "--native", "--runtime", "5"}, "3 runs of 2 x 5 s", 120, 90},
          {{"io", "--kvm", "--lxc", "--native", "--runtime", "10", "--runs", "5"}, "5 runs of 2 x 10 s", 300, 240}}},
        {"exitcost", "What each kind of VM exit costs (a firmware payload under KVM)", json_only, true,
         {{{"exitcost"}, "the default operation counts, 5 runs", 0, 60}}},
    };
}

double parse_budget(const std::string& text) {
    if (text == "full") return 0;
    auto bad = [&] {
        return usage_error("--budget " + visible(text) + ": give a duration such as 30m, 2h, 1h30m or 900s, or full");
    };
    if (text.empty()) throw bad();
    double total = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t j = i;
        while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
        if (j == i || j == text.size() || j - i > 6) throw bad();
        const double n = std::stod(text.substr(i, j - i));
        const char unit = text[j];
        if (unit == 'h') total += n * 3600;
        else if (unit == 'm') total += n * 60;
        else if (unit == 's') total += n;
        else throw bad();
        i = j + 1;
    }
    if (total < 60 || total > 7 * 86400) throw usage_error("--budget " + visible(text) + ": from 1m to 7 days, or full");
    return total;
}

}  // namespace ht
