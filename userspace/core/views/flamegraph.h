// SPDX-License-Identifier: MIT
// Flame graphs of a trace directory: folded stacks ("a;b;c count", read by flamegraph.pl, inferno
// and speedscope), a self-contained interactive SVG written here (zoom, search, details of the
// frame under the pointer), and differential ones (two traces, e.g. VM vs container).
#pragma once
#include "core/tracing/trace_dir.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ht {

enum class FlameOf { cpu, exits, faults };

struct FoldOptions {
    FlameOf of = FlameOf::cpu;
    std::string guest;         // only this guest: its name, or a prefix of names ("LXC" for "LXC run 1", ...)
    bool guest_root = true;    // the first frame names the guest ("host" for the rest); off for diffs
};

struct FoldedStack {
    std::string stack;  // frames root first, ';' between
    uint64_t count = 0;
};
using Folded = std::vector<FoldedStack>;  // sorted by stack, one entry per stack

// cpu: every sample as guest;thread name;user frames;kernel frames (suffixed _[k]).
// exits: guest;exit kind;port or address;device (where the trace knows it), from the counters.
// faults: the CPU samples taken while handling a page fault (a fault-entry frame on the stack).
// Throws UserError when --guest names no guest of the trace.
Folded fold(const TraceData& t, const FoldOptions& o);
std::string folded_text(const Folded& f);
// Parses folded text back (the last space-separated field is the count); sums repeated stacks.
Folded parse_folded(std::string_view text);

struct DiffStack {
    std::string stack;
    uint64_t a = 0, b = 0;
};
// Every stack of either side with its count in each (flamegraph.pl --diff's "stack a b" lines).
std::vector<DiffStack> diff_folded(const Folded& a, const Folded& b);
std::string diff_text(const std::vector<DiffStack>& d);

struct SvgOptions {
    std::string title = "hypetrace flame graph";
    std::string subtitle;
    std::string unit = "samples";
    int width = 1200;
};
// One self-contained SVG document (inline script and style, no external reference).
std::string flamegraph_svg(const Folded& f, const SvgOptions& o);
// Widths from B; colour by change from A to B (red: more in B, blue: less), normalised by totals.
std::string diff_flamegraph_svg(const std::vector<DiffStack>& d, const SvgOptions& o);

}  // namespace ht
