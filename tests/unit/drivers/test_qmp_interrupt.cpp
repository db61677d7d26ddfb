// SPDX-License-Identifier: MIT
// A signal while hypetrace waits on QEMU's monitor is an interruption, not a QEMU that "did not
// answer": the CI's nested lab saw `exitcost` exit 1 instead of 143 after a SIGTERM (issue 13).
// Run in a child process: the interrupt flag is process-wide and cannot be cleared.
#include "../../temp_dir.h"
#include "core/base/error.h"
#include "core/host/interrupt.h"
#include "drivers/qemu/qmp.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

TEST(Qmp, ASignalWhileWaitingForQemuIsAnInterruptionNotASilentQemu) {
    const TestTempDir tmp("/tmp/ht-qmp-XXXXXX");  // the child leaves by _exit: only this process removes it
    const std::string dir = tmp.path;
    const std::string path = dir + "/qmp.sock";
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // a monitor that accepts the connection (the backlog does) and never says a word
        int srv = socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
        if (srv < 0 || bind(srv, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(srv, 4) != 0) _exit(3);
        ht::install_interrupt_handlers();
        const pthread_t main_thread = pthread_self();
        std::thread([main_thread] {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            pthread_kill(main_thread, SIGTERM);
        }).detach();
        try {
            ht::QmpClient qmp(path, 1000);
            _exit(4);  // it cannot have answered
        } catch (const ht::Interrupted&) {
            _exit(0);
        } catch (const ht::UserError&) {
            _exit(1);
        } catch (...) {
            _exit(2);
        }
    }
    int st = 0;
    waitpid(child, &st, 0);
    ASSERT_TRUE(WIFEXITED(st)) << "the child died of a signal " << WTERMSIG(st);
    EXPECT_EQ(WEXITSTATUS(st), 0) << "1: a UserError (QEMU 'did not answer') instead of Interrupted";
}
