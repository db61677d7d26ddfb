// SPDX-License-Identifier: MIT
// Ctrl-C, SIGTERM and SIGHUP become a readable fd (self-pipe) that every wait loop polls, so that
// a signal unwinds the stack normally and every RAII owner (guests, BPF links, KSM settings) cleans
// up. Signals are not blocked, so children (QEMU, liblxc's monitor) inherit a normal signal mask.
#pragma once

namespace ht {

void install_interrupt_handlers();
int interrupt_fd();          // readable once a signal arrived; -1 before install
bool interrupted();
int interrupt_signal();      // the signal number that arrived, 0 if none

// Thrown by wait loops when interrupted() is true.
struct Interrupted {
    int signal;
};
void throw_if_interrupted();

}  // namespace ht
