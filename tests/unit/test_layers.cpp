// SPDX-License-Identifier: MIT
// The layers, read from the sources: every #include "..." of the project's own code points one way
// (docs/architecture.md, userspace/core/README.md). A new include that points the wrong way, or an
// experiment that reaches for a concrete driver, fails here with the file and the line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path kSrc = HT_SOURCE_DIR;

struct Include {
    std::string file;  // relative to the source tree
    int line;
    std::string target;  // as written: "core/host/proc.h"
};

std::vector<Include> includes_under(const std::string& dir) {
    std::vector<Include> out;
    static const std::regex inc(R"re(^\s*#\s*include\s+"([^"]+)")re");
    for (const auto& e : fs::recursive_directory_iterator(kSrc / dir)) {
        if (!e.is_regular_file()) continue;
        const auto ext = e.path().extension();
        if (ext != ".h" && ext != ".cpp") continue;
        std::ifstream in(e.path());
        std::string text;
        int n = 0;
        while (std::getline(in, text)) {
            ++n;
            std::smatch m;
            if (std::regex_search(text, m, inc))
                out.push_back({fs::relative(e.path(), kSrc).string(), n, m[1].str()});
        }
    }
    return out;
}

// "userspace/core/host/proc.cpp" -> "core/host"; "drivers/qemu/qmp.h" -> "drivers/qemu";
// "userspace/experiments/io.cpp" -> "experiments".
std::string unit_of_file(const std::string& rel) {
    std::string p = rel.rfind("userspace/", 0) == 0 ? rel.substr(10) : rel;
    auto a = p.find('/');
    if (a == std::string::npos) return p;
    std::string top = p.substr(0, a);
    if (top == "core" || top == "drivers") {
        auto b = p.find('/', a + 1);
        return b == std::string::npos ? top : p.substr(0, b);
    }
    return top;
}

// The rooms each unit may include from (its own always allowed). Anything not in the project
// (generated skeletons, hypetrace.h from bpf/, gtest) is outside these rules.
const std::map<std::string, std::set<std::string>> kAllowed = {
    {"core/base", {}},
    {"core/host", {"core/base"}},
    {"core/memscan", {"core/base", "core/host"}},
    {"core/tracing", {"core/base", "core/host"}},
    {"core/views", {"core/base", "core/host", "core/tracing"}},
    {"drivers", {"core/base", "core/host"}},  // drivers never touch BPF
};

bool is_project_unit(const std::string& u) {
    return u.rfind("core/", 0) == 0 || u.rfind("drivers", 0) == 0 || u == "experiments" || u == "cli";
}

}  // namespace

TEST(Layers, CoreRoomsAndDriversIncludeOnlyDownward) {
    std::vector<std::string> wrong;
    int seen = 0;
    for (const std::string dir : {"userspace/core", "drivers"}) {
        for (const auto& inc : includes_under(dir)) {
            const std::string from = unit_of_file(inc.file);
            const std::string to = unit_of_file(inc.target);
            if (!is_project_unit(to) || to == from) continue;
            ++seen;
            // one driver's header in another driver's folder is as wrong as an upward include;
            // drivers/*.h (guest.h, payload.h) are the interfaces every driver may implement
            const std::string key = from.rfind("drivers", 0) == 0 ? "drivers" : from;
            if (from.rfind("drivers", 0) == 0 && to == "drivers") continue;
            if (from == "drivers/libvirt" && to == "drivers/qemu") continue;  // libvirt's domains are QEMU's
            auto it = kAllowed.find(key);
            ASSERT_NE(it, kAllowed.end()) << "no rule for " << inc.file << " (a new room? add it here and to its README)";
            if (!it->second.count(to))
                wrong.push_back(inc.file + ":" + std::to_string(inc.line) + " includes " + inc.target);
        }
    }
    EXPECT_GT(seen, 20) << "the include scan found almost nothing: is HT_SOURCE_DIR right?";
    EXPECT_TRUE(wrong.empty()) << [&] {
        std::string s;
        for (const auto& w : wrong) s += "\n  " + w;
        return s;
    }();
}

TEST(Layers, ExperimentsUseTheDriverInterfaceOnlyAndNeverTheCli) {
    std::vector<std::string> wrong;
    int driver_includes = 0;
    for (const auto& inc : includes_under("userspace/experiments")) {
        const std::string to = unit_of_file(inc.target);
        if (to == "cli") wrong.push_back(inc.file + ":" + std::to_string(inc.line) + " includes " + inc.target);
        if (to.rfind("drivers", 0) == 0) {
            ++driver_includes;
            if (to != "drivers")  // drivers/*.h are the interfaces; drivers/<impl>/ the drivers
                wrong.push_back(inc.file + ":" + std::to_string(inc.line) + " includes the concrete " + inc.target);
        }
    }
    EXPECT_GT(driver_includes, 3) << "the include scan found no experiment using the driver interface";
    EXPECT_TRUE(wrong.empty()) << [&] {
        std::string s;
        for (const auto& w : wrong) s += "\n  " + w;
        return s;
    }();
}

TEST(Layers, TheRuleCatchesAnUpwardInclude) {
    // the classifier the two tests above rely on
    EXPECT_EQ(unit_of_file("userspace/core/host/proc.cpp"), "core/host");
    EXPECT_EQ(unit_of_file("core/views/report.h"), "core/views");
    EXPECT_EQ(unit_of_file("drivers/qemu/qmp.h"), "drivers/qemu");
    EXPECT_EQ(unit_of_file("drivers/guest.h"), "drivers");
    EXPECT_EQ(unit_of_file("userspace/experiments/io.cpp"), "experiments");
    EXPECT_FALSE(kAllowed.at("core/host").count("core/tracing"));
    EXPECT_FALSE(kAllowed.at("core/tracing").count("core/memscan"));
    EXPECT_FALSE(is_project_unit("trace.skel.h"));
}
