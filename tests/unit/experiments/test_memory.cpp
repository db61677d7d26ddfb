// SPDX-License-Identifier: MIT
// Pure parts of `hypetrace memory` and `hypetrace devices`: settling, step statistics, device
// savings and the SVG plot.
#include "core/base/error.h"
#include "experiments/devices.h"
#include "experiments/memory.h"
#include "core/views/plot.h"

#include <gtest/gtest.h>

using namespace ht;

namespace {
constexpr uint64_t S = 1'000'000'000;

// One full scan every 100 ms from t0 for `secs` seconds, merging merges(t) pages each.
template <typename F>
std::vector<KsmScan> scans(uint64_t t0, double secs, F merges) {
    std::vector<KsmScan> v;
    uint32_t seq = 1;
    for (uint64_t t = t0; t < t0 + uint64_t(secs * S); t += S / 10)
        v.push_back({t, seq++, 50000, uint32_t(merges(double(t - t0) / S)), 0});
    return v;
}
}  // namespace

TEST(MemorySettle, BurndownStillFallingIsNotSettled) {
    auto v = scans(100 * S, 12, [](double t) { return 5000 / (1 + t * t); });
    EXPECT_FALSE(ksm_settled(v, 100 * S, 5 * S, 0));
}

TEST(MemorySettle, FlatChurnIsSettled) {
    // Burndown to a floor of ~150 merges per scan that idle guests' page churn keeps up.
    auto v = scans(100 * S, 30, [](double t) { return t < 8 ? 4000 - 480 * t : 150 + (int(t * 10) % 3) * 10; });
    double avg = 0;
    EXPECT_TRUE(ksm_settled(v, 100 * S, 5 * S, 0, &avg));
    EXPECT_NEAR(avg, 160, 15);
    // An explicit threshold below the floor is never met.
    EXPECT_FALSE(ksm_settled(v, 100 * S, 5 * S, 50));
    EXPECT_TRUE(ksm_settled(v, 100 * S, 5 * S, 200));
}

TEST(MemorySettle, NeedsTwoWindowsAfterTheGuestsWereReady) {
    auto v = scans(100 * S, 30, [](double) { return 0; });
    EXPECT_TRUE(ksm_settled(v, 100 * S, 5 * S, 0));
    EXPECT_FALSE(ksm_settled(v, 125 * S, 5 * S, 0));  // ready at 125 s: only ~5 s of scans after
    EXPECT_FALSE(ksm_settled({}, 0, 5 * S, 0));
}

TEST(MemorySettle, FootprintWindow) {
    EXPECT_TRUE(footprint_settled({500, 300, 200.0, 200.5, 201.0}, 3, 0.01));
    EXPECT_FALSE(footprint_settled({200.0, 205.0, 210.0}, 3, 0.01));
    EXPECT_FALSE(footprint_settled({200.0, 200.0}, 3, 0.01));
}

TEST(MemoryStep, PerGuestStatisticsAndIncrementalCost) {
    MemoryStep st;
    st.guests = 4;
    for (int i = 0; i < 4; ++i) {
        GuestFootprint g;
        g.mem.pss_kb = 10 * 1024;
        g.helper.pss_kb = 1024;
        g.helper.processes = 1;
        g.mem.ksm_merging_pages = 100;
        if (i < 2) {
            VmMemParts p;
            p.guest_ram_found = true;
            p.guest_ram_kb = 6 * 1024;
            p.tcg_cache_kb = 3 * 1024;
            p.qemu_kb = 1024;
            g.vm_parts = p;
        }
        st.per_guest.push_back(g);
    }
    summarize_step(st, 30.0, 2);  // 2 guests took 30 MB in all before
    EXPECT_DOUBLE_EQ(st.pss_mb.mean, 10.0);
    EXPECT_DOUBLE_EQ(st.total_mb, 40.0);
    EXPECT_DOUBLE_EQ(st.incremental_mb, 5.0);  // 10 MB more for 2 more guests
    EXPECT_DOUBLE_EQ(st.helper_mb, 1.0);
    EXPECT_EQ(st.ksm_merging_pages, 400u);
    EXPECT_DOUBLE_EQ(st.guest_ram_mb, 6.0);
    EXPECT_DOUBLE_EQ(st.tcg_cache_mb, 3.0);
}

namespace {
MemorySeries series_with(double per_vm_mb, unsigned guests) {
    MemorySeries s;
    MemoryStep st;
    st.guests = guests;
    for (unsigned i = 0; i < guests; ++i) {
        GuestFootprint g;
        g.mem.pss_kb = uint64_t(per_vm_mb * 1024) + i;  // a little spread
        st.per_guest.push_back(g);
    }
    summarize_step(st, 0, 0);
    s.steps.push_back(st);
    return s;
}
}  // namespace

TEST(Devices, SavingsAndAdditivity) {
    std::vector<DeviceSet> sets{{true, true, true}, {false, true, true}, {true, true, false}, {false, true, false}};
    MemoryResult m;
    for (double mb : {600.0, 586.5, 594.8, 588.0}) m.series.push_back(series_with(mb, 3));
    auto rows = summarize_devices(m, sets);
    ASSERT_EQ(rows.size(), 4u);
    EXPECT_NEAR(rows[1].saving_mb, 13.5, 0.01);
    EXPECT_NEAR(rows[2].saving_mb, 5.2, 0.01);
    EXPECT_NEAR(rows[3].saving_mb, 12.0, 0.01);
    EXPECT_NEAR(rows[3].additive_mb, 18.7, 0.01);  // not additive: 12 saved, 18.7 expected
    EXPECT_TRUE(std::isnan(rows[1].additive_mb));  // a single device has nothing to add up
    EXPECT_DOUBLE_EQ(rows[1].paper_mb, 13.5);
    EXPECT_DOUBLE_EQ(rows[3].paper_mb, 15.3);
}

TEST(Plot, OneLinePerSeriesWithEscapedLabels) {
    PlotSpec p;
    p.title = "A & B";
    p.log2_x = true;
    PlotLine vm, lxc;
    vm.label = "VM <KSM>";
    vm.points = {{1, 500}, {2, 450}, {4, 400}};
    lxc.label = "LXC";
    lxc.points = {{1, 15}, {2, 10}, {4, 7}};
    lxc.dashed = true;
    p.lines.push_back(vm);
    p.lines.push_back(lxc);
    std::string svg = render_line_plot_svg(p);
    EXPECT_EQ(svg.rfind("<svg", 0), 0u);
    std::size_t lines = 0;
    for (std::size_t i = 0; (i = svg.find("<polyline", i)) != std::string::npos; ++i) ++lines;
    EXPECT_EQ(lines, 2u);
    EXPECT_NE(svg.find("A &amp; B"), std::string::npos);
    EXPECT_NE(svg.find("VM &lt;KSM&gt;"), std::string::npos);
    EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);
    EXPECT_EQ(svg.find("nan"), std::string::npos);
    EXPECT_EQ(svg.find("<path"), std::string::npos) << "no intervals given, none drawn";
}

TEST(Plot, IntervalsAreBarsAroundTheirPointsAndWidenTheAxis) {
    PlotSpec p;
    p.lines.push_back({"LXC", {{0.5, 0.22}, {1, 0.23}, {2, 0.47}}, false, {0.01, 0.02, 0.4}});
    const std::string svg = render_line_plot_svg(p);
    std::size_t bars = 0;
    for (std::size_t i = 0; (i = svg.find("<path d=\"M", i)) != std::string::npos; ++i) ++bars;
    EXPECT_EQ(bars, 3u);
    EXPECT_NE(svg.find("LXC: 2 -> 0.47 +- 0.4"), std::string::npos) << svg;
    // the top bar reaches 0.87: the axis goes at least that high
    EXPECT_NE(svg.find(">0.8</text>"), std::string::npos) << svg;
}
