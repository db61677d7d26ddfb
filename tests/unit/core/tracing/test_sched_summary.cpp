// SPDX-License-Identifier: MIT
// The scheduler's counters summed over a window (core/tracing/sched_summary.h): exact sums from
// constructed samples, the window's edges, the preemptor table; and the sched_* kinds through a
// trace directory (written by the Recorder, read back). No root, nothing loaded.
#include "../../../temp_dir.h"
#include "core/tracing/sched_summary.h"
#include "core/tracing/trace_dir.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

using namespace ht;

namespace {

CounterSample sample(uint32_t guest, uint32_t bucket, CounterKind kind, uint64_t sub, uint64_t value,
                     uint32_t phase = 0) {
    return {guest, bucket, kind, sub, value, phase};
}

// Guest 7 over buckets 10..12 (phases 0 and 3), with guest 8 and other kinds around it.
std::vector<CounterSample> samples() {
    return {
        sample(7, 10, CounterKind::sched_runq_ns, 0, 1'000),
        sample(7, 10, CounterKind::sched_runq_log2, 9, 1),    // a wait of 512..1023 ns
        sample(7, 11, CounterKind::sched_runq_ns, 0, 70'000, 3),
        sample(7, 11, CounterKind::sched_runq_log2, 15, 2, 3),  // two of 32..64 us
        sample(7, 12, CounterKind::sched_runq_log2, 9, 4),
        sample(7, 12, CounterKind::sched_runq_ns, 0, 2'600),
        sample(7, 10, CounterKind::sched_oncpu_ns, 0, 5'000'000),
        sample(7, 12, CounterKind::sched_oncpu_ns, 0, 3'000'000, 3),
        sample(7, 11, CounterKind::sched_preempted, preemptor_sub(8, 4242), 5),
        sample(7, 12, CounterKind::sched_preempted, preemptor_sub(0, 99), 2),
        sample(7, 12, CounterKind::sched_preempted, preemptor_sub(8, 4242), 1, 3),
        sample(7, 10, CounterKind::sched_switch_vol, 0, 6),
        sample(7, 11, CounterKind::sched_migrate, 0, 2),
        sample(7, 11, CounterKind::fault_user, 0, 1'000'000),      // not the scheduler's
        sample(7, 11, CounterKind::kvm_run_ns, 0, 1'000'000),      // nor this
        sample(8, 11, CounterKind::sched_runq_ns, 0, 123'456'789),  // another guest
        sample(8, 11, CounterKind::sched_preempted, preemptor_sub(7, 1), 9),
    };
}

}  // namespace

TEST(SchedSummary, SumsOneGuestsSchedCountersExactlyOverEveryPhase) {
    const SchedSummary s = summarize_sched(samples(), 7, 10, 12);
    EXPECT_EQ(s.runq_ns, 1'000u + 70'000u + 2'600u);
    EXPECT_EQ(s.waits, 1u + 2u + 4u);
    EXPECT_EQ(s.runq_log2, (std::map<uint32_t, uint64_t>{{9, 5}, {15, 2}}));
    EXPECT_EQ(s.oncpu_ns, 8'000'000u);
    EXPECT_EQ(s.involuntary, 8u);
    EXPECT_EQ(s.voluntary, 6u);
    EXPECT_EQ(s.switches(), 14u);
    EXPECT_EQ(s.migrations, 2u);
    EXPECT_DOUBLE_EQ(s.mean_runq_ns(), 73'600.0 / 7.0);

    const SchedSummary other = summarize_sched(samples(), 8, 0, ~0ull);
    EXPECT_EQ(other.runq_ns, 123'456'789u);
    EXPECT_EQ(other.waits, 0u) << "no histogram samples for guest 8";
    EXPECT_EQ(other.mean_runq_ns(), 0.0);
    EXPECT_EQ(other.involuntary, 9u);
    ASSERT_EQ(other.preemptors.size(), 1u);
    EXPECT_EQ(other.preemptors[0].guest, 7u);
    EXPECT_EQ(other.preemptors[0].tgid, 1u);

    const SchedSummary none = summarize_sched(samples(), 9, 0, ~0ull);
    EXPECT_EQ(none.runq_ns + none.oncpu_ns + none.switches() + none.migrations + none.waits, 0u);
    EXPECT_TRUE(none.preemptors.empty());
    EXPECT_TRUE(none.runq_log2.empty());
}

// Both edges belong to the window; a bucket either side does not.
TEST(SchedSummary, TheWindowHoldsBothEdgeBucketsAndNothingBeyond) {
    std::vector<CounterSample> v;
    for (uint32_t b = 0; b < 8; ++b) {
        v.push_back(sample(1, b, CounterKind::sched_oncpu_ns, 0, uint64_t(1) << b));  // bit b: bucket b
        v.push_back(sample(1, b, CounterKind::sched_switch_vol, 0, 1));
    }
    EXPECT_EQ(summarize_sched(v, 1, 2, 5).oncpu_ns, 0b0011'1100u);
    EXPECT_EQ(summarize_sched(v, 1, 2, 5).voluntary, 4u);
    EXPECT_EQ(summarize_sched(v, 1, 3, 3).oncpu_ns, 0b0000'1000u) << "one bucket";
    EXPECT_EQ(summarize_sched(v, 1, 0, 0).oncpu_ns, 1u);
    EXPECT_EQ(summarize_sched(v, 1, 7, 7).oncpu_ns, 0b1000'0000u);
    EXPECT_EQ(summarize_sched(v, 1, 0, 7).oncpu_ns, 0xffu);
    EXPECT_EQ(summarize_sched(v, 1, 6, 100).oncpu_ns, 0b1100'0000u) << "past the last sample";
    EXPECT_EQ(summarize_sched(v, 1, 5, 4).oncpu_ns, 0u) << "from after to: empty";
    EXPECT_EQ(summarize_sched(v, 1, 8, ~0ull).voluntary, 0u);
    // windows wider than a bucket number (uint64 edges against uint32 buckets)
    EXPECT_EQ(summarize_sched(v, 1, 0, uint64_t(1) << 40).voluntary, 8u);
    EXPECT_EQ(summarize_sched(v, 1, uint64_t(1) << 33, ~0ull).voluntary, 0u);
    // the earlier samples' window, the same function
    EXPECT_EQ(summarize_sched(samples(), 7, 11, 11).runq_ns, 70'000u);
    EXPECT_EQ(summarize_sched(samples(), 7, 11, 11).involuntary, 5u);
    EXPECT_EQ(summarize_sched(samples(), 7, 12, 12).waits, 4u);
}

// Involuntary switches by who ran next: one row per (guest, tgid), summed over buckets and phases,
// most first; equal counts by guest, then tgid; the idle task and host processes are guest 0.
TEST(SchedSummary, PreemptorTableMergesBucketsAndPhasesMostFirst) {
    std::vector<CounterSample> v{
        sample(3, 0, CounterKind::sched_preempted, preemptor_sub(0, 0), 2),       // idle
        sample(3, 1, CounterKind::sched_preempted, preemptor_sub(5, 800), 4),     // guest 5's QEMU
        sample(3, 2, CounterKind::sched_preempted, preemptor_sub(5, 800), 3, 1),  // the same, phase 1
        sample(3, 2, CounterKind::sched_preempted, preemptor_sub(0, 31), 7),      // a kworker
        sample(3, 3, CounterKind::sched_preempted, preemptor_sub(5, 801), 2),     // guest 5, another process
        sample(3, 3, CounterKind::sched_preempted, preemptor_sub(4, 900), 2),
        sample(3, 9, CounterKind::sched_preempted, preemptor_sub(6, 1), 50),      // outside the window
        sample(2, 1, CounterKind::sched_preempted, preemptor_sub(0, 31), 50),     // another guest's
    };
    const SchedSummary s = summarize_sched(v, 3, 0, 3);
    ASSERT_EQ(s.preemptors.size(), 5u);
    auto row = [&](std::size_t i) {
        return std::tuple(s.preemptors[i].guest, s.preemptors[i].tgid, s.preemptors[i].count);
    };
    EXPECT_EQ(row(0), std::tuple(0u, 31u, uint64_t(7)));   // 7, the host's kworker: guest 0 first
    EXPECT_EQ(row(1), std::tuple(5u, 800u, uint64_t(7)));  // 4 + 3 over two buckets and phases
    EXPECT_EQ(row(2), std::tuple(0u, 0u, uint64_t(2)));
    EXPECT_EQ(row(3), std::tuple(4u, 900u, uint64_t(2)));
    EXPECT_EQ(row(4), std::tuple(5u, 801u, uint64_t(2)));
    EXPECT_EQ(s.involuntary, 2u + 4u + 3u + 7u + 2u + 2u);
    uint64_t rows = 0;
    for (const auto& p : s.preemptors) rows += p.count;
    EXPECT_EQ(rows, s.involuntary);
}

TEST(SchedSummary, PreemptorSubRoundTrips) {
    for (auto [g, t] : {std::pair<uint32_t, uint32_t>{0, 0}, {0, 4194304}, {1000, 77}, {0xffffffffu, 0xffffffffu}}) {
        const SchedPreemptor p = preemptor_of(preemptor_sub(g, t));
        EXPECT_EQ(p.guest, g);
        EXPECT_EQ(p.tgid, t);
        EXPECT_EQ(p.count, 0u);
    }
    EXPECT_EQ(preemptor_sub(2, 5), (uint64_t(2) << 32) + 5);
}

// The sched kinds have names in counters.tsv and come back as themselves, sub and value intact
// (a kind the reader does not know would come back as kind 0).
TEST(SchedKinds, SurviveATraceDirectory) {
    const CounterKind kinds[] = {CounterKind::sched_runq_ns,   CounterKind::sched_runq_log2,
                                 CounterKind::sched_oncpu_ns,  CounterKind::sched_preempted,
                                 CounterKind::sched_switch_vol, CounterKind::sched_migrate};
    for (CounterKind k : kinds) EXPECT_STRNE(counter_kind_name(k), "unknown") << int(k);
    EXPECT_STREQ(counter_kind_name(CounterKind::sched_preempted), "sched_preempted");

    RunTrace run;
    run.origin_ns = 5'000'000'000;
    run.bucket_ns = 10'000'000;
    uint32_t bucket = 0;
    for (CounterKind k : kinds)
        run.counters.push_back({4, bucket++, k, k == CounterKind::sched_preempted ? preemptor_sub(1001, 4194300) : 13,
                                uint64_t(1) << 40 | bucket, 0});
    Recorder rec;
    rec.run_ended(run, {});
    const TestTempDir tmp("/tmp/ht-sched-XXXXXX");
    const std::string dir = tmp.path + "/t";
    write_trace_dir(dir, rec.data());
    const TraceData back = read_trace_dir(dir);

    ASSERT_EQ(back.counters.size(), run.counters.size());
    std::vector<CounterSample> again;
    for (std::size_t i = 0; i < back.counters.size(); ++i) {
        const TraceCounter& c = back.counters[i];
        EXPECT_EQ(c.kind, run.counters[i].kind) << i;
        EXPECT_EQ(c.sub, run.counters[i].sub) << i;
        EXPECT_EQ(c.value, run.counters[i].value) << i;
        EXPECT_EQ(c.start_ns, run.origin_ns + i * run.bucket_ns) << i;
        again.push_back({c.guest, uint32_t((c.start_ns - run.origin_ns) / c.width_ns), c.kind, c.sub, c.value, c.phase});
    }
    // and summarised from what was read back as from what was recorded
    const SchedSummary a = summarize_sched(run.counters, 4, 0, 10), b = summarize_sched(again, 4, 0, 10);
    EXPECT_EQ(a.runq_ns, b.runq_ns);
    EXPECT_EQ(a.runq_log2, b.runq_log2);
    EXPECT_EQ(a.oncpu_ns, b.oncpu_ns);
    EXPECT_EQ(a.involuntary, b.involuntary);
    ASSERT_EQ(b.preemptors.size(), 1u);
    EXPECT_EQ(b.preemptors[0].guest, 1001u);
    EXPECT_EQ(b.preemptors[0].tgid, 4194300u);
    EXPECT_EQ(a.voluntary, b.voluntary);
    EXPECT_EQ(a.migrations, b.migrations);
    EXPECT_GT(b.runq_ns, 0u);
}
