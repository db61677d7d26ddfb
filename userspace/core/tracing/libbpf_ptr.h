// SPDX-License-Identifier: MIT
// Owning handles for libbpf's objects: each freed by its own libbpf call when the handle goes, so
// that no destructor or error path frees one by hand. A skeleton's handle lives beside the code
// that includes the skeleton (bpf_tracer.cpp, profiler.cpp), with the same pattern. Included only
// by core/tracing's .cpp files (libbpf stays inside core/tracing).
#pragma once
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <memory>

namespace ht {

struct BpfLinkDeleter {
    void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
struct RingBufferDeleter {
    void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
};
// A split BTF (a module's) must go before its base (vmlinux's): hold the base's handle longer.
struct BtfDeleter {
    void operator()(btf* b) const { btf__free(b); }
};

using BpfLinkPtr = std::unique_ptr<bpf_link, BpfLinkDeleter>;
using RingBufferPtr = std::unique_ptr<ring_buffer, RingBufferDeleter>;
using BtfPtr = std::unique_ptr<btf, BtfDeleter>;

}  // namespace ht
