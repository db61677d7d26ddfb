// SPDX-License-Identifier: MIT
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#define HT_REQUIRE_ROOT()                                                                          \
    do {                                                                                           \
        if (geteuid() != 0) GTEST_SKIP() << "needs root (BPF, QEMU, LXC): run the suite as root"; \
    } while (0)
