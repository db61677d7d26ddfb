// SPDX-License-Identifier: MIT
#include "core/host/interrupt.h"

#include <atomic>
#include <csignal>
#include <fcntl.h>
#include <unistd.h>

namespace ht {
namespace {
int pipe_fds[2] = {-1, -1};
volatile std::sig_atomic_t got_signal = 0;

void on_signal(int sig) {
    if (!got_signal) got_signal = sig;
    if (pipe_fds[1] >= 0) {
        char c = 1;
        [[maybe_unused]] auto n = write(pipe_fds[1], &c, 1);
    }
}
}  // namespace

void install_interrupt_handlers() {
    if (pipe_fds[0] >= 0) return;
    if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) return;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: blocking calls return EINTR
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
}

int interrupt_fd() { return pipe_fds[0]; }
bool interrupted() { return got_signal != 0; }
int interrupt_signal() { return got_signal; }

void throw_if_interrupted() {
    if (got_signal) throw Interrupted{got_signal};
}

}  // namespace ht
