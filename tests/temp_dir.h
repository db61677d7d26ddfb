// SPDX-License-Identifier: MIT
// A directory under /tmp made for one test (template like "/tmp/ht-x-XXXXXX"), removed however
// the test ends: a failed assertion leaves nothing behind (checkpoints are hundreds of MiB).
#pragma once
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

struct TestTempDir {
    std::string path;
    explicit TestTempDir(std::string tmpl) {
        const char* made = mkdtemp(tmpl.data());
        if (!made) throw std::runtime_error("mkdtemp " + tmpl + " failed");
        path = made;
    }
    ~TestTempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TestTempDir(const TestTempDir&) = delete;
    TestTempDir& operator=(const TestTempDir&) = delete;
};
