// SPDX-License-Identifier: MIT
// `hypetrace paper` on the real thing, at its quickest sizes (a 7-minute budget): interrupted by
// SIGINT in its third step, it stops that step (which puts the host back as it was) and keeps the
// two finished; --resume runs only what is missing; the report renders in headless Chromium, a
// screenshot of each table and figure shows it drawn, and every number of ours in it is the one in
// its experiment's JSON.
#include "common.h"
#include "host_snapshot.h"
#include "png.h"
#include "../report_cells.h"

#include "core/host/spawn.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <map>
#include <fstream>
#include <regex>
#include <set>
#include <thread>
#include <sys/wait.h>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json read_json(const fs::path& p) {
    try {
        return json::parse(ht_slurp(p.string()));
    } catch (const std::exception&) {
        return nullptr;
    }
}

std::size_t done_steps(const fs::path& dir) {
    const json j = read_json(dir / "paper.json");
    std::size_t n = 0;
    if (j.is_object())
        for (const auto& r : j.value("runs", json::array())) n += r.value("status", "") == "done";
    return n;
}

int chromium(const std::vector<std::string>& args, const std::string& out, const std::string& profile, const std::string& size) {
    std::vector<std::string> argv{"timeout", "-s", "KILL", "60", "chromium", "--headless", "--no-sandbox", "--disable-gpu",
                                  "--hide-scrollbars", "--user-data-dir=" + profile, "--window-size=" + size};
    argv.insert(argv.end(), args.begin(), args.end());
    ht::SpawnOptions o;
    o.stdout_path = out;
    o.stderr_path = out + ".err";
    return ht::run_and_wait(argv, o);
}

// Pixels of the plot palette's first two colours (ours: blue and red lines and markers), and of the
// tables' grey borders.
struct Drawn {
    std::size_t plot = 0, table = 0;
};
Drawn drawn(const ht_test::Image& img) {
    Drawn d;
    for (std::size_t i = 0; i < std::size_t(img.width) * img.height; ++i) {
        const uint8_t* p = &img.rgba[i * 4];
        auto near = [&](int r, int g, int b) { return std::abs(p[0] - r) < 30 && std::abs(p[1] - g) < 30 && std::abs(p[2] - b) < 30; };
        if (near(0x1f, 0x77, 0xb4) || near(0xd6, 0x27, 0x28)) ++d.plot;
        if (near(0xcc, 0xcc, 0xcc)) ++d.table;
    }
    return d;
}

}  // namespace

TEST(Paper, AQuickRunResumedAfterSigintRendersEveryTableAndFigure) {
    HT_REQUIRE_ROOT();
    ASSERT_FALSE(ht::which("chromium").empty()) << "chromium missing: scripts/setup.sh installs it";
    TestTempDir tmp("/tmp/ht-paper-XXXXXX");
    const fs::path dir = fs::path(tmp.path) / "out";
    const HostSnapshot before = HostSnapshot::take();

    // 1. Start, and interrupt it once two steps are done and the third has begun.
    ht::SpawnOptions o;
    o.stdout_path = (fs::path(tmp.path) / "first.out").string();
    o.stderr_path = (fs::path(tmp.path) / "first.err").string();
    ht::Child c = ht::spawn({HYPETRACE_BIN, "paper", "--budget", "7m", "-o", dir.string()}, o);
    // The third step (memory-copied) has begun adding its containers.
    const fs::path third_log = dir / "memory-copied.log";
    const bool third_started = wait_for(
        [&] {
            if (ht::child_exited(c.pid, nullptr)) return true;
            return ht_slurp(third_log.string()).find("adding ") != std::string::npos;
        },
        600'000);
    ASSERT_TRUE(third_started);
    ASSERT_EQ(done_steps(dir), 2u) << ht_slurp(o.stderr_path);
    kill(c.pid, SIGINT);
    int st = 0;
    const bool ended = wait_for([&] { return ht::child_exited(c.pid, &st); }, 180'000);
    if (!ended) ht::terminate(c.pid, std::chrono::milliseconds(100));
    ASSERT_TRUE(ended) << "paper ends within 3 minutes of SIGINT";
    const std::string first_err = ht_slurp(o.stderr_path);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 130) << st << "\n" << first_err;
    EXPECT_NE(first_err.find("--resume` continues"), std::string::npos) << first_err;
    EXPECT_EQ(HostSnapshot::take().changes_since(before), "") << "the interrupted step left the host as it was";
    EXPECT_TRUE(fs::exists(dir / "startup.json"));
    EXPECT_TRUE(fs::exists(dir / "memory.json"));
    EXPECT_FALSE(fs::exists(dir / "memory-copied.json"));
    EXPECT_FALSE(fs::exists(dir / "memory-copied.txt")) << "no report of a step that did not finish";
    const json interrupted = read_json(dir / "paper.json");
    ASSERT_TRUE(interrupted.is_object());
    ASSERT_FALSE(interrupted["runs"].empty());
    EXPECT_EQ(interrupted["runs"].back().value("name", ""), "memory-copied") << interrupted.dump(1);
    EXPECT_EQ(interrupted["runs"].back().value("status", ""), "interrupted") << interrupted.dump(1);
    const std::string startup_before = ht_slurp((dir / "startup.json").string());

    // 2. Resume: the two done are kept, the rest runs.
    BinaryResult r = run_hypetrace({"paper", "-o", dir.string(), "--resume"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(HostSnapshot::take().changes_since(before), "");
    EXPECT_EQ(ht_slurp((dir / "startup.json").string()), startup_before) << "a finished step is not run again";
    const json paper = read_json(dir / "paper.json");
    ASSERT_TRUE(paper.is_object());
    std::map<std::string, std::string> status;
    for (const auto& s : paper["runs"]) status[s["name"]] = s["status"];
    EXPECT_EQ(status["startup"], "done before");
    EXPECT_EQ(status["memory"], "done before");
    for (const char* n : {"memory-copied", "memory-kernels", "dedup", "devices", "density-quantum", "density-chess",
                          "density-io", "io", "trace"}) {
        EXPECT_EQ(status[n], "done") << n << "\n" << r.err;
        EXPECT_TRUE(fs::exists(dir / (std::string(n) + ".json"))) << n;
    }
    std::cout << "[paper] steps:";
    for (const auto& s : paper["runs"]) std::cout << " " << s["name"].get<std::string>() << " " << s.value("seconds", 0.0) << " s;";
    std::cout << std::endl;

    // 3. Every number of ours in the report is its JSON's.
    const std::string html = ht_slurp((dir / "report.html").string());
    ASSERT_FALSE(html.empty());
    EXPECT_EQ(html.find("No result ("), std::string::npos) << "every section has its result";
    EXPECT_TRUE(fs::exists(dir / "trace" / "flamegraph-cpu.svg"));
    EXPECT_NE(html.find("href=\"trace/flamegraph-cpu.svg\""), std::string::npos);
    std::map<std::string, json> docs;
    std::size_t cells = 0;
    for (const auto& c : ht_test::report_cells(html)) {
        if (!docs.count(c.file)) docs[c.file] = read_json(dir / c.file);
        EXPECT_EQ(ht_test::check_cell(c, docs[c.file]), "");
        ++cells;
    }
    EXPECT_GE(cells, 40u);
    EXPECT_GE(docs.size(), 8u) << "numbers from every experiment's JSON";

    // 4. Chromium: the document renders, and each table and figure is drawn: each section alone (the
    //    others hidden by one added style rule) in a screenshot of its own.
    const std::string url = "file://" + (dir / "report.html").string();
    const fs::path prof = fs::path(tmp.path) / "profile";
    ASSERT_EQ(chromium({"--dump-dom", url}, (fs::path(tmp.path) / "dom.html").string(), prof.string(), "1200,900"), 0);
    const std::string dom = ht_slurp((fs::path(tmp.path) / "dom.html").string());
    EXPECT_NE(dom.find("</table>"), std::string::npos);
    std::set<std::string> shots;
    for (const char* id : {"table3", "figure4", "kernels", "table2", "table1", "density-quantum", "density-chess", "density-io"}) {
        std::string page = html;
        const std::size_t head = page.find("</head>");
        ASSERT_NE(head, std::string::npos);
        page.insert(head, std::string("<style>section,.host,.tcgnote,nav,h1{display:none}#") + id + "{display:block}</style>");
        const fs::path one = dir / (std::string("only-") + id + ".html");
        std::ofstream(one) << page;
        const std::string png = (fs::path(tmp.path) / (std::string(id) + ".png")).string();
        ASSERT_EQ(chromium({"--screenshot=" + png, "file://" + one.string()}, png + ".txt", prof.string(), "1200,1000"), 0) << id;
        fs::remove(one);
        const std::string bytes = ht_slurp(png);
        const ht_test::Image img = ht_test::decode_png(bytes);
        ASSERT_EQ(img.width, 1200u) << id;
        shots.insert(bytes);
        const Drawn d = drawn(img);
        const bool figure = std::string(id) == "figure4" || std::string(id).rfind("density", 0) == 0;
        if (figure) {
            EXPECT_GT(d.plot, 500u) << id << ": the plot's lines and markers are on screen";
        }
        EXPECT_GT(d.table, 1500u) << id << ": its table's borders are on screen";
    }
    EXPECT_EQ(shots.size(), 8u) << "each section's screenshot is its own";
}
