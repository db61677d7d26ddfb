// SPDX-License-Identifier: MIT
#include "core/tracing/pending_ledger.h"

#include <algorithm>

namespace ht {

std::vector<PendingSlot> PendingLedger::advance(const std::vector<PendingSlot>& a, const std::vector<PendingSlot>& b,
                                                int (*map_of)(std::size_t)) {
    const std::size_t n = std::min(a.size(), b.size());
    if (seen_.size() < n) seen_.resize(n);
    std::vector<PendingSlot> growth(n);
    for (std::size_t i = 0; i < n; ++i) {
        Seen& s = seen_[i];
        // seq only grows, and a read of it is one aligned word: either read past s.seq means the
        // run s reported from has left the slot for the map, whole.
        if (s.valid && (a[i].seq != s.seq || b[i].seq != s.seq)) {
            auto& o = owed_[{map_of(i), s.key}];
            o.first += s.count;
            o.second += s.ns;
            s = Seen{};
        }
        if (!(a[i] == b[i]) || b[i].count == 0) continue;  // being written, or no run
        const PendingSlot& now = b[i];
        PendingSlot& g = growth[i];
        g.key = now.key;
        g.seq = now.seq;
        g.min_ns = now.min_ns;
        g.max_ns = now.max_ns;
        const uint64_t had = s.valid ? s.count : 0, had_ns = s.valid ? s.ns : 0;
        g.count = now.count > had ? now.count - had : 0;
        g.ns = now.ns > had_ns ? now.ns - had_ns : 0;
        s.valid = true;
        s.seq = now.seq;
        s.key = now.key;
        s.count = std::max(now.count, had);
        s.ns = std::max(now.ns, had_ns);
    }
    return growth;
}

uint64_t PendingLedger::settle(int map, const std::array<uint64_t, 3>& key, uint64_t value, uint64_t* ns) {
    auto it = owed_.find({map, key});
    if (it == owed_.end()) return value;
    const uint64_t take = std::min(it->second.first, value);
    it->second.first -= take;
    if (ns) {
        const uint64_t take_ns = std::min(it->second.second, *ns);
        it->second.second -= take_ns;
        *ns -= take_ns;
    }
    if (it->second.first == 0 && it->second.second == 0) owed_.erase(it);
    return value - take;
}

uint64_t PendingLedger::owed() const {
    uint64_t n = 0;
    for (const auto& [k, v] : owed_) n += v.first;
    return n;
}

}  // namespace ht
