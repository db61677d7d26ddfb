// SPDX-License-Identifier: MIT
#include "../../../temp_dir.h"
#include "core/host/console.h"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <unistd.h>

using namespace ht;

namespace {
constexpr const char* kTempDir = "/tmp/ht-console-XXXXXX";
}  // namespace

TEST(Console, MarkerSplitAcrossReadsIsFoundOnceWithItsTime) {
    const TestTempDir tmp(kTempDir);
    const std::filesystem::path dir = tmp.path;
    ConsoleWatcher w(dir, {{"console", "c.log"}}, {{"console", "HYPETRACE-READY", "ready"}});
    w.feed("console", "boot...\nHYPETRACE-RE", 100);
    EXPECT_FALSE(w.hit("ready"));
    w.feed("console", "ADY full\n", 250);
    ASSERT_TRUE(w.hit("ready"));
    EXPECT_EQ(w.hit("ready")->ts_ns, 250u);
    w.feed("console", "HYPETRACE-READY again\n", 900);
    EXPECT_EQ(w.hits().size(), 1u);  // the first occurrence counts
}

TEST(Console, StreamsAreSeparate) {
    const TestTempDir tmp(kTempDir);
    const std::filesystem::path dir = tmp.path;
    ConsoleWatcher w(dir, {{"console", "c.log"}, {"firmware", "f.log"}},
                     {{"firmware", "Booting from ROM", "firmware_done"}, {"console", "HYPETRACE-READY", "ready"}});
    w.feed("console", "Booting from ROM", 10);  // right text, wrong stream
    EXPECT_FALSE(w.hit("firmware_done"));
    w.feed("firmware", "Booting from ROM...\n", 20);
    EXPECT_EQ(w.hit("firmware_done")->ts_ns, 20u);
}

TEST(Console, ReadsAppendedFileContent) {
    const TestTempDir tmp(kTempDir);
    const std::filesystem::path dir = tmp.path;
    ConsoleWatcher w(dir, {{"console", "c.log"}}, {{"console", "HYPETRACE-READY", "ready"}});
    { std::ofstream(dir / "c.log") << "line one\n"; }
    w.poll();
    EXPECT_FALSE(w.hit("ready"));
    { std::ofstream(dir / "c.log", std::ios::app) << "HYPETRACE-READY app\n"; }
    w.poll();
    EXPECT_TRUE(w.hit("ready"));
    EXPECT_NE(w.tail("console").find("line one"), std::string::npos);
}
