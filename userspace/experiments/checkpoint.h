// SPDX-License-Identifier: MIT
// Checkpoints of booted guests for start-up from a checkpoint (`startup --restore`, Table 3's
// restore rows), kept in a cache: one directory per guest configuration, keyed by what the guest
// is made of (the images' recipe, the command that starts it, the program that runs it), reused
// while whole, rebuilt when the key differs or the saved state does not check out, never loaded
// half-written (the state is renamed into place once complete, its size and hash recorded).
#pragma once
#include "core/base/stats.h"
#include "drivers/guest.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace ht {

inline constexpr const char* kDefaultCheckpointCache = "/var/cache/hypetrace/checkpoints";

struct CheckpointInfo {
    std::filesystem::path dir;
    std::string key;
    bool reused = false;   // found in the cache, whole and made from the same guest
    std::string made_why;  // made now: why the cache could not serve it
    double boot_s = 0;     // made now: boot to ready
    double save_s = 0;     // made now: saving the state
    uint64_t state_bytes = 0;
    uint64_t ram_file_bytes = 0;  // lazy: the RAM file's allocated bytes (what the guest had touched)
    // The responsiveness proof's round trip on the guest before it was saved (ping -> answer on
    // the host), in ms: what the proof adds to a measured start at most, beside the ping interval.
    std::vector<double> ping_rtt_ms;
};

// What a guest's checkpoint depends on: the images' recipe, the command line its restore runs
// (the spec with placeholder directories) and the identity of the program (init_path: its size
// and time stamp). A hex digest.
std::string checkpoint_key(Driver& driver, const GuestSpec& spec);

// A file of a checkpoint as found: its size and XXH3 hash.
struct FileSig {
    uint64_t bytes = 0, xxh3 = 0;
};
// Pure: "" when the cache entry's record `meta` (as ensure_checkpoint writes it) matches `key` and
// the files found in it (by name: the saved state, the disk overlay, a lazy checkpoint's RAM file),
// each as big and with the same hash as when it was saved; else why it cannot be used.
std::string checkpoint_problem(const nlohmann::json& meta, const std::string& key, const std::map<std::string, FileSig>& found);

// The checkpoint of `spec`'s guest under `cache`: reused when whole and made from the same guest,
// else made: the guest booted to ready (within timeout_s), proven to answer pings, saved. The
// run's files go under scratch_parent. Throws UserError (nothing half-made is left in the cache).
CheckpointInfo ensure_checkpoint(Driver& driver, GuestSpec spec, const std::filesystem::path& cache,
                                 const std::filesystem::path& scratch_parent, double timeout_s,
                                 const std::function<void(const std::string&)>& progress);

// The cache's entries removed: with `all`, every checkpoint (`hypetrace cleanup --checkpoints`);
// else only those a killed run left half-made (its "making-PID" file, the PID dead). A checkpoint
// a live run is making is kept. One line per entry removed or kept. Never throws.
struct CheckpointCleanup {
    std::vector<std::string> removed, kept;
};
CheckpointCleanup clean_checkpoints(const std::filesystem::path& cache, bool all);

}  // namespace ht
