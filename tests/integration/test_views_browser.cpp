// SPDX-License-Identifier: MIT
// What people open: hypetrace's flame graph SVG in headless Chromium (its script runs without an
// error, draws every visible frame, and a screenshot shows them), and its folded stacks in
// speedscope (the npm package, served on the loopback) which imports them; a file that is not
// folded stacks is the negative control.
#include "common.h"
#include "core/views/flamegraph.h"
#include "core/host/proc.h"
#include "core/host/spawn.h"
#include "core/tracing/trace_dir.h"
#include "png.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

using namespace ht;

namespace {

std::string slurp(const std::string& p) { return read_text(p).value_or(""); }

constexpr const char* kTempDir = "/tmp/ht-browser-XXXXXX";

// A trace with 60 stacks over 3 guests, 3 to 8 frames deep.
TraceData synthetic_trace() {
    TraceData t;
    t.meta["experiment"] = "startup";
    t.guests = {{1, "KVM run 1"}, {2, "LXC run 1"}};
    for (uint32_t g = 1; g <= 2; ++g) {
        ProcEvent e;
        e.type = EventType::fork;
        e.guest = g;
        e.aux = 100 * g;
        t.events.push_back(e);
    }
    t.sampled = true;
    t.profile.freq_hz = 999;
    t.profile.bucket_ns = 100'000'000;
    CommIndex comms;
    for (int i = 0; i < 60; ++i) {
        std::vector<std::string> u{"main"};
        for (int d = 0; d < 2 + i % 6; ++d) u.push_back("fn_" + std::to_string(i % (3 + d)) + "_" + std::to_string(d));
        t.profile.stacks.push_back(u);
        StackSample s;
        s.tgid = uint32_t(100 * (i % 3));
        s.pid = s.tgid;
        s.comm = comms.id(t.profile, i % 3 == 1 ? "qemu-system-x86" : i % 3 == 2 ? "systemd" : "sshd");
        s.ustack = uint32_t(t.profile.stacks.size() - 1);
        s.count = uint64_t(10 + i * 7 % 50);
        t.profile.samples.push_back(s);
    }
    return t;
}

int chromium(const std::vector<std::string>& args, const std::string& out, const std::string& profile_dir,
             int timeout_s = 60) {
    // A page that opens a dialog (speedscope's import error) waits forever in headless mode.
    std::vector<std::string> argv{"timeout", "-s", "KILL", std::to_string(timeout_s), "chromium", "--headless", "--no-sandbox",
                                  "--disable-gpu",     "--hide-scrollbars",  "--user-data-dir=" + profile_dir,
                                  "--window-size=1200,800", "--virtual-time-budget=5000"};
    argv.insert(argv.end(), args.begin(), args.end());
    SpawnOptions o;
    o.stdout_path = out;
    o.stderr_path = out + ".err";
    return run_and_wait(argv, o);
}

int free_port() {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    int port = ntohs(a.sin_port);
    close(s);
    return port;
}

}  // namespace

TEST(Browser, FlamegraphSvgRendersInHeadlessChromium) {
    HT_REQUIRE_ROOT();
    ASSERT_FALSE(which("chromium").empty()) << "chromium missing: scripts/setup.sh installs it";
    const TestTempDir tmp(kTempDir);
    const std::string dir = tmp.path;
    write_trace_dir(dir + "/t", synthetic_trace());
    auto r = run_hypetrace({"flamegraph", dir + "/t", "-o", dir + "/fg.svg", "-q"});
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string svg = slurp(dir + "/fg.svg");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(svg, m, std::regex("data-frames=\"([0-9]+)\"")));
    const int frames = std::stoi(m[1]);

    ASSERT_EQ(chromium({"--dump-dom", "file://" + dir + "/fg.svg"}, dir + "/dom.txt", dir + "/profile"), 0)
        << slurp(dir + "/dom.txt.err");
    const std::string dom = slurp(dir + "/dom.txt");
    // render() sets data-rendered last: a script error anywhere before leaves it out.
    ASSERT_TRUE(std::regex_search(dom, m, std::regex("data-rendered=\"([0-9]+)\""))) << dom.substr(0, 600);
    const int drawn = std::stoi(m[1]);
    EXPECT_GT(drawn, frames / 2) << "most frames are wide enough to draw at 1200 px";
    EXPECT_LE(drawn, frames);
    EXPECT_NE(dom.find("fn_0_0"), std::string::npos) << "frame labels are in the document";

    ASSERT_EQ(chromium({"--screenshot=" + dir + "/fg.png", "file://" + dir + "/fg.svg"}, dir + "/shot.txt",
                       dir + "/profile"),
              0)
        << slurp(dir + "/shot.txt.err");
    ht_test::Image img = ht_test::decode_png(slurp(dir + "/fg.png"));
    ASSERT_EQ(img.width, 1200u);
    ASSERT_GT(img.height, 100u);
    // Frames are drawn in warm colours (red to yellow), the background is near white.
    std::size_t warm = 0;
    for (std::size_t i = 0; i < std::size_t(img.width) * img.height; ++i) {
        const uint8_t* p = &img.rgba[i * 4];
        if (p[0] >= 200 && p[2] < 90 && p[1] < 200) ++warm;
    }
    EXPECT_GT(warm, std::size_t(img.width) * img.height / 50) << "the screenshot shows frames";
}

TEST(Browser, SpeedscopeImportsTheFoldedStacks) {
    HT_REQUIRE_ROOT();
    ASSERT_FALSE(which("chromium").empty()) << "chromium missing: scripts/setup.sh installs it";
    const std::string release = "/var/cache/hypetrace/speedscope-1.25.0/package/dist/release";
    ASSERT_TRUE(std::filesystem::exists(release + "/index.html")) << "speedscope missing: scripts/setup.sh fetches it";
    const TestTempDir tmp(kTempDir);
    const std::string dir = tmp.path;
    write_trace_dir(dir + "/t", synthetic_trace());
    std::filesystem::create_directories(dir + "/www");
    std::filesystem::create_directory_symlink(release, dir + "/www/ss");
    auto r = run_hypetrace({"flamegraph", dir + "/t", "--format", "folded", "-o", dir + "/www/good.folded", "-q"});
    ASSERT_EQ(r.code, 0) << r.err;
    std::ofstream(dir + "/www/bad.folded") << "<html>this is not a profile</html>\n";

    const int port = free_port();
    SpawnOptions o;
    o.stdout_path = dir + "/http.log";
    o.stderr_path = dir + "/http.log";
    Child http = spawn({"python3", "-m", "http.server", std::to_string(port), "--bind", "127.0.0.1", "--directory",
                        dir + "/www"},
                       o);
    ASSERT_TRUE(wait_for([&] { return slurp(dir + "/http.log").find("Serving HTTP") != std::string::npos; }, 10000))
        << slurp(dir + "/http.log");
    auto open = [&](const std::string& file, int timeout_s) {
        const std::string base = "http://127.0.0.1:" + std::to_string(port);
        const std::string url = base + "/ss/index.html#profileURL=" + base + "/" + file + "&title=ht-" + file;
        chromium({"--dump-dom", url}, dir + "/" + file + ".dom", dir + "/profile", timeout_s);
        return slurp(dir + "/" + file + ".dom");
    };
    // The good file is imported in about two seconds; the bad one ends in an error dialog, which
    // never returns in headless mode: it gets 15 s.
    const std::string good = open("good.folded", 60), bad = open("bad.folded", 15);
    kill(http.pid, SIGTERM);
    waitpid(http.pid, nullptr, 0);
    // Imported: the flame chart's view switcher and the profile's title are on the page.
    EXPECT_NE(good.find("Time Order"), std::string::npos) << good.substr(0, 800);
    EXPECT_NE(good.find("ht-good.folded"), std::string::npos);
    EXPECT_EQ(bad.find("Time Order"), std::string::npos) << "the negative control was imported";
    EXPECT_EQ(bad.find("ht-bad.folded"), std::string::npos);
}
