// SPDX-License-Identifier: MIT
// Draining the BPF programs' per-CPU pending counts (bpf/hypetrace.h, struct ht_pending) while
// the programs run, without losing or doubling a count. Each CPU adds repeated counts of one key
// in a slot and moves them to the hash map, whole, when the key changes; each such run of counts
// has its own `seq`. Userspace never writes a slot mid-run (a read followed by a zeroing write
// lost the increments made between the two, and counted twice a count the CPU moved to the map in
// between). Instead the ledger reports how much each run grew since the last drain, and once a run
// has left its slot, what was already reported of it is owed to the map: taken off that key's
// next map values. Over the drains of a run, the sums are exact.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace ht {

struct PendingSlot {
    std::array<uint64_t, 3> key{};  // struct ht_counter_key's three words
    uint64_t count = 0, ns = 0, min_ns = 0, max_ns = 0, seq = 0;
    bool operator==(const PendingSlot& o) const {
        return key == o.key && count == o.count && ns == o.ns && min_ns == o.min_ns && max_ns == o.max_ns &&
               seq == o.seq;
    }
};

class PendingLedger {
public:
    // One drain, after the hash maps were drained: `a` and `b`, two reads of every slot (index:
    // cpu * slots + slot) taken one after the other (a slot its CPU was writing reads differently
    // twice and waits for the next drain). `map_of(i)` says which map slot i's counts go to.
    // Returns each slot's growth since the last drain (count and ns; min/max as read), and notes
    // what is owed for runs that left their slot.
    std::vector<PendingSlot> advance(const std::vector<PendingSlot>& a, const std::vector<PendingSlot>& b,
                                     int (*map_of)(std::size_t slot_index));
    // A map value for `key` of map `map`, less what the ledger already reported of it; `ns` too
    // (run_exits). Call for every value of this drain after advance().
    uint64_t settle(int map, const std::array<uint64_t, 3>& key, uint64_t value, uint64_t* ns = nullptr);
    // Counts still owed (a test's check: 0 once every run that left was seen in a map).
    uint64_t owed() const;
    void clear() {
        seen_.clear();
        owed_.clear();
    }

private:
    struct Seen {
        bool valid = false;
        uint64_t seq = 0, count = 0, ns = 0;
        std::array<uint64_t, 3> key{};
    };
    std::vector<Seen> seen_;
    std::map<std::pair<int, std::array<uint64_t, 3>>, std::pair<uint64_t, uint64_t>> owed_;  // count, ns
};

}  // namespace ht
