// SPDX-License-Identifier: MIT
#include "experiments/devices.h"
#include "core/base/setting.h"

#include "core/views/report.h"

#include <cmath>
#include <sstream>

namespace ht {
namespace {

double paper_saving(const DeviceSet& d) {
    // Table 2, and the two combinations the text gives.
    if (!d.video && d.sound && d.usb) return 13.5;
    if (d.video && !d.sound && d.usb) return 5.3;
    if (d.video && d.sound && !d.usb) return 5.2;
    if (!d.video && d.sound && !d.usb) return 15.3;
    if (!d.video && !d.sound && !d.usb) return 13.6;
    return NAN;
}

}  // namespace

std::vector<DeviceRow> summarize_devices(const MemoryResult& m, const std::vector<DeviceSet>& sets) {
    std::vector<DeviceRow> rows;
    for (std::size_t i = 0; i < sets.size() && i < m.series.size(); ++i) {
        const auto& s = m.series[i];
        if (s.steps.empty()) continue;
        const auto& st = s.steps.back();
        DeviceRow r;
        r.devices = sets[i];
        r.guests = st.guests;
        r.pss_mb = st.pss_mb;
        std::vector<double> no_tcg, qemu, ram;
        for (const auto& g : st.per_guest)
            if (g.vm_parts && g.vm_parts->guest_ram_found) {
                no_tcg.push_back(double(g.vm_parts->guest_ram_kb + g.vm_parts->qemu_kb) / 1024.0);
                qemu.push_back(double(g.vm_parts->qemu_kb) / 1024.0);
                ram.push_back(double(g.vm_parts->guest_ram_kb) / 1024.0);
            }
        r.no_tcg_mb = summarize(no_tcg);
        r.qemu_mb = summarize(qemu);
        r.guest_ram_mb = summarize(ram);
        r.paper_mb = paper_saving(r.devices);
        rows.push_back(r);
    }
    if (rows.empty()) return rows;
    const DeviceRow base = rows.front();  // the default set
    auto single = [&](bool video, bool sound, bool usb) -> double {
        for (const auto& r : rows)
            if (r.devices.video == video && r.devices.sound == sound && r.devices.usb == usb) return r.saving_mb;
        return NAN;
    };
    for (auto& r : rows) {
        r.saving_mb = base.pss_mb.mean - r.pss_mb.mean;
        // The interval of a difference of two independent means.
        auto ci = [](const Summary& a, const Summary& b) { return std::sqrt(a.ci95 * a.ci95 + b.ci95 * b.ci95); };
        r.saving_ci95 = ci(base.pss_mb, r.pss_mb);
        if (base.no_tcg_mb.n && r.no_tcg_mb.n) {
            r.saving_no_tcg_mb = base.no_tcg_mb.mean - r.no_tcg_mb.mean;
            r.saving_no_tcg_ci95 = ci(base.no_tcg_mb, r.no_tcg_mb);
            r.saving_qemu_mb = base.qemu_mb.mean - r.qemu_mb.mean;
            r.saving_qemu_ci95 = ci(base.qemu_mb, r.qemu_mb);
            r.saving_guest_ram_mb = base.guest_ram_mb.mean - r.guest_ram_mb.mean;
            r.saving_guest_ram_ci95 = ci(base.guest_ram_mb, r.guest_ram_mb);
        }
    }
    for (auto& r : rows) {
        int removed = !r.devices.video + !r.devices.sound + !r.devices.usb;
        if (removed < 2) continue;
        double sum = 0;
        if (!r.devices.video) sum += single(false, true, true);
        if (!r.devices.sound) sum += single(true, false, true);
        if (!r.devices.usb) sum += single(true, true, false);
        r.additive_mb = sum;
    }
    return rows;
}

nlohmann::json to_json(const DevicesResult& r) {
    nlohmann::json j = to_json(r.memory);
    j["schema_version"] = kDevicesSchemaVersion;
    j["experiment"] = "devices";
    nlohmann::json rows = nlohmann::json::array();
    auto num = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
    for (const auto& x : r.rows)
        rows.push_back({{"devices", x.devices.name()},
                        {"video_graphics", x.devices.video},
                        {"audio", x.devices.sound},
                        {"usb", x.devices.usb},
                        {"guests", x.guests},
                        {"per_vm_mb", {{"mean", x.pss_mb.mean}, {"ci95", x.pss_mb.ci95}}},
                        {"per_vm_without_tcg_cache_mb", x.no_tcg_mb.n ? nlohmann::json{{"mean", x.no_tcg_mb.mean},
                                                                                        {"ci95", x.no_tcg_mb.ci95}}
                                                                      : nlohmann::json(nullptr)},
                        {"saving_mb", num(x.saving_mb)},
                        {"saving_ci95_mb", num(x.saving_ci95)},
                        {"saving_without_tcg_cache_mb", num(x.saving_no_tcg_mb)},
                        {"saving_without_tcg_cache_ci95_mb", num(x.saving_no_tcg_ci95)},
                        {"saving_in_qemu_mb", num(x.saving_qemu_mb)},
                        {"saving_in_qemu_ci95_mb", num(x.saving_qemu_ci95)},
                        {"saving_in_guest_ram_mb", num(x.saving_guest_ram_mb)},
                        {"saving_in_guest_ram_ci95_mb", num(x.saving_guest_ram_ci95)},
                        {"qemu_mb", x.qemu_mb.n ? nlohmann::json{{"mean", x.qemu_mb.mean}, {"ci95", x.qemu_mb.ci95}}
                                                : nlohmann::json(nullptr)},
                        {"guest_ram_mb", x.guest_ram_mb.n ? nlohmann::json{{"mean", x.guest_ram_mb.mean},
                                                                           {"ci95", x.guest_ram_mb.ci95}}
                                                          : nlohmann::json(nullptr)},
                        {"sum_of_single_savings_mb", num(x.additive_mb)},
                        {"paper_saving_mb", num(x.paper_mb)}});
    j["devices"] = rows;
    return j;
}

std::string render_text(const DevicesResult& r) {
    std::ostringstream o;
    o << host_line(r.memory.host) << "\n";
    std::string accel = r.memory.series.empty() ? "" : r.memory.series.front().accel;
    if (!accel.empty()) o << "VM accelerator: " << accel << (accel == "tcg" ? " (QEMU TCG: no hardware virtualization)" : "") << "\n";
    unsigned guests = r.rows.empty() ? 0 : r.rows.front().guests;
    o << "\nMemory saved by dropping devices (Table 2): libvirt domains, " << guests
      << " VMs per device set booted together, KSM off, settled; PSS per VM, MB\n\n";
    auto f = [](double v, const char* spec = "%.1f") { return std::isnan(v) ? std::string("-") : fmt(spec, v); };
    std::vector<std::vector<std::string>> rows{{"devices", "per VM", "±95%", "saving", "±95%", "in QEMU", "in guest RAM",
                                                "sum of singles", "paper saving"}};
    for (const auto& x : r.rows) {
        bool base = x.devices.video && x.devices.sound && x.devices.usb;
        rows.push_back({x.devices.name(), f(x.pss_mb.mean), f(x.pss_mb.ci95), base ? "-" : f(x.saving_mb),
                        base ? "-" : f(x.saving_ci95), base ? "-" : f(x.saving_qemu_mb) + " ±" + f(x.saving_qemu_ci95),
                        base ? "-" : f(x.saving_guest_ram_mb) + " ±" + f(x.saving_guest_ram_ci95), f(x.additive_mb), f(x.paper_mb)});
    }
    o << render_table(rows, {false, true, true, true, true, true, true, true, true});
    if (!r.rows.empty() && r.rows.front().qemu_mb.n)
        o << "  per VM in the default domain: QEMU " << f(r.rows.front().qemu_mb.mean) << " ±"
          << f(r.rows.front().qemu_mb.ci95) << " MB, guest RAM " << f(r.rows.front().guest_ram_mb.mean) << " ±"
          << f(r.rows.front().guest_ram_mb.ci95)
          << " MB: device emulation shows in QEMU; guest RAM varies from boot to boot by more than a\n"
             "  driver's footprint, so its share of a saving needs more "
          << ref(Setting::guests) << " to resolve.\n";
    o << "  default: QXL video + SPICE graphics, ICH6 audio, PIIX3 UHCI + EHCI USB controllers with a tablet,\n"
         "  virtio disk and balloon, serial console. \"sum of singles\": what the savings would be if additive\n"
         "  (the paper: video+USB saved 15.3 MB, all three only 13.6 MB).\n";
    for (const auto& x : r.rows)
        if (!std::isnan(x.additive_mb) && !std::isnan(x.saving_mb)) {
            double gap = x.saving_mb - x.additive_mb;
            o << "  " << x.devices.name() << ": saves " << f(x.saving_mb) << " MB, "
              << (std::fabs(gap) <= x.saving_ci95 ? "within the 95% interval of" : gap < 0 ? "less than" : "more than")
              << " the " << f(x.additive_mb) << " MB the single savings add up to\n";
        }
    if (!r.memory.thp.empty()) o << "\ntransparent huge pages during the run: " << r.memory.thp;
    o << "\naccounting: hypetrace peak RSS " << fmt("%.1f", r.memory.self_peak_rss_mb) << " MB\n";
    return o.str();
}

}  // namespace ht
