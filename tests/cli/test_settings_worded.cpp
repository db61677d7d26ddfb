// SPDX-License-Identifier: MIT
// Lower layers name the user's settings by what they are (core/base/setting.h); the CLI words
// them as its flags. These tests hold both ends: every setting maps to a flag the real CLI has
// (built here as the binary builds it), and no string literal below the CLI names one of its flags.
#include "cli/commands.h"
#include "cli/options.h"
#include "core/base/setting.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace ht;

namespace {

// Every long flag of every subcommand of the real CLI ("--boot-timeout").
std::set<std::string> all_long_flags() {
    CLI::App app{"hypetrace"};
    const auto commands = add_all_commands(app);
    std::set<std::string> flags;
    for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; }))
        for (const auto* opt : sub->get_options())
            for (const auto& name : opt->get_lnames()) flags.insert("--" + name);
    return flags;
}

}  // namespace

TEST(Settings, EverySettingIsAFlagTheCliHas) {
    const auto flags = all_long_flags();
    ASSERT_GT(flags.size(), 30u) << "the CLI was not built: no subcommand options found";
    for (Setting s : kAllSettings) {
        const std::string flag = flag_of(s);
        EXPECT_TRUE(flags.count(flag)) << "setting " << setting_key(s) << " is worded as '" << flag
                                       << "', which no subcommand has: rename it in cli/options.cpp (flag_of)";
        EXPECT_EQ(setting_from_key(setting_key(s)), s);
    }
}

TEST(Settings, MessagesAreWordedWithTheFlagsAndAnythingElseIsKept) {
    EXPECT_EQ(worded("not ready after 600 s (" + ref(Setting::boot_timeout) + ")"), "not ready after 600 s (--boot-timeout)");
    EXPECT_EQ(worded(ref(Setting::accel) + " kvm: use " + ref(Setting::accel) + " tcg"), "--accel kvm: use --accel tcg");
    // not a mark: kept as it is, braces and all
    EXPECT_EQ(worded("{setting:nonesuch} {x} {setting:"), "{setting:nonesuch} {x} {setting:");
    const nlohmann::json j = worded_json({{"how", ref(Setting::pid) + " and its descendants"}, {"n", 3},
                                          {"list", {ref(Setting::ksm), "plain"}}});
    EXPECT_EQ(j["how"], "--pid and its descendants");
    EXPECT_EQ(j["n"], 3);
    EXPECT_EQ(j["list"][0], "--ksm");
    EXPECT_EQ(j["list"][1], "plain");
}

// A string literal in core/, experiments/ or drivers/ naming one of the CLI's flags is advice that
// a renamed flag would silently break: it must say ref(Setting::...) instead. Command lines of
// other programs (QEMU, bash, cp, fio) are no advice: the literals below are theirs.
TEST(Settings, NoStringBelowTheCliNamesACliFlag) {
    const auto flags = all_long_flags();
    const std::vector<std::pair<std::string, std::string>> theirs = {
        {"userspace/experiments/io.cpp", "fio --output-format=json --output="},  // fio's own
        {"userspace/experiments/density.cpp", "fio --output-format=json --output="},
    };
    static const std::regex literal(R"re("((?:[^"\\\n]|\\.)*)")re");
    std::vector<std::string> wrong;
    int files = 0;
    for (const std::string dir : {"userspace/core", "userspace/experiments", "drivers"}) {
        for (const auto& e : fs::recursive_directory_iterator(fs::path(HT_SOURCE_DIR) / dir)) {
            const auto ext = e.path().extension();
            if (!e.is_regular_file() || (ext != ".h" && ext != ".cpp")) continue;
            ++files;
            const std::string rel = fs::relative(e.path(), HT_SOURCE_DIR).string();
            std::ifstream in(e.path());
            std::string line;
            for (int n = 1; std::getline(in, line); ++n) {
                const auto code = line.substr(0, line.find("//"));  // comments are documentation
                for (std::sregex_iterator it(code.begin(), code.end(), literal), end; it != end; ++it) {
                    const std::string s = (*it)[1].str();
                    bool excused = false;
                    for (const auto& [file, text] : theirs) excused |= rel == file && s.find(text) != std::string::npos;
                    if (excused) continue;
                    for (const auto& f : flags) {
                        for (auto p = s.find(f); p != std::string::npos; p = s.find(f, p + 1)) {
                            const std::size_t after = p + f.size();
                            const bool whole = after >= s.size() || !(std::isalnum(static_cast<unsigned char>(s[after])) ||
                                                                      s[after] == '-' || s[after] == '_');
                            if (whole) wrong.push_back(rel + ":" + std::to_string(n) + ": \"" + s + "\" names " + f);
                        }
                    }
                }
            }
        }
    }
    EXPECT_GT(files, 50) << "the source scan found almost nothing: is HT_SOURCE_DIR right?";
    EXPECT_TRUE(wrong.empty()) << [&] {
        std::string s;
        for (const auto& w : wrong) s += "\n  " + w;
        return s;
    }();
}
