// SPDX-License-Identifier: MIT
#include "core/memscan/sigbus_guard.h"

#include <csetjmp>
#include <csignal>
#include <mutex>

namespace ht {
namespace {

thread_local sigjmp_buf* t_jump = nullptr;

void on_sigbus(int sig, siginfo_t*, void*) {
    if (sigjmp_buf* jb = t_jump) {
        t_jump = nullptr;
        siglongjmp(*jb, 1);
    }
    signal(sig, SIG_DFL);  // not in a guarded read: die of it, as without the handler
    raise(sig);
}

}  // namespace

bool run_sigbus_guarded(void (*fn)(void*), void* arg) {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGBUS, &sa, nullptr);
    });
    sigjmp_buf jb;
    if (sigsetjmp(jb, 1) != 0) return false;  // t_jump already reset by the handler
    t_jump = &jb;
    fn(arg);
    t_jump = nullptr;
    return true;
}

}  // namespace ht
