// SPDX-License-Identifier: MIT
#include "experiments/checkpoint.h"

#include "core/base/clock.h"
#include "core/base/error.h"
#include "core/base/setting.h"
#include "core/base/text.h"
#include "core/host/console.h"
#include "core/host/files.h"
#include "core/host/interrupt.h"
#include "core/views/report.h"
#include "experiments/launch.h"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

namespace ht {
namespace fs = std::filesystem;
namespace {

constexpr const char* kMeta = "checkpoint.json";
constexpr const char* kMakingPrefix = "making-";  // making-PID: a run is making this checkpoint
constexpr int kMetaVersion = 2;  // 2: saved running, not paused

std::string hex64(uint64_t v) {
    char b[17];
    snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
    return b;
}

// XXH3 of a whole file; nullopt when it cannot be read.
std::optional<uint64_t> file_hash(const fs::path& p) {
    int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    XXH3_state_t* st = XXH3_createState();
    XXH3_64bits_reset(st);
    std::vector<char> buf(1 << 20);
    bool ok = true;
    for (;;) {
        ssize_t n = read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) ok = false;
        if (n <= 0) break;
        XXH3_64bits_update(st, buf.data(), std::size_t(n));
    }
    const uint64_t h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    close(fd);
    if (!ok) return std::nullopt;
    return h;
}

// A saved state that is a directory of files (a container's CRIU images): its files' sizes
// summed, and a hash over their names and hashes in name order; nullopt when one cannot be read.
std::optional<FileSig> directory_sig(const fs::path& dir) {
    std::map<std::string, fs::path> files;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.is_regular_file(ec)) files[e.path().filename().string()] = e.path();
    if (ec) return std::nullopt;
    FileSig sig;
    std::string all;
    for (const auto& [name, path] : files) {
        auto h = file_hash(path);
        if (!h) return std::nullopt;
        sig.bytes += fs::file_size(path, ec);
        all += name + " " + hex64(*h) + "\n";
    }
    sig.xxh3 = XXH3_64bits(all.data(), all.size());
    return sig;
}

// Every file of a checkpoint directory but its record, with its size and hash (those that cannot
// be read are left out, so they count as missing); a saved state that is a directory counts as
// one file (directory_sig).
std::map<std::string, FileSig> signatures(const fs::path& dir) {
    std::map<std::string, FileSig> m;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (name == kCheckpointState && e.is_directory(ec) && !e.is_symlink(ec)) {
            if (auto sig = directory_sig(e.path())) m[name] = *sig;
            continue;
        }
        if (name == kMeta || !e.is_regular_file(ec) || name.find(".part") != std::string::npos ||
            name.rfind(kMakingPrefix, 0) == 0)
            continue;
        if (auto h = file_hash(e.path())) m[name] = {fs::file_size(e.path(), ec), *h};
    }
    return m;
}

// The bytes a (sparse) file holds on disk, a directory's files summed; 0 when it is missing.
uint64_t allocated_bytes(const fs::path& p) {
    struct stat st{};
    if (stat(p.c_str(), &st) != 0) return 0;
    uint64_t bytes = uint64_t(st.st_blocks) * 512;
    std::error_code ec;
    if (S_ISDIR(st.st_mode))
        for (const auto& e : fs::recursive_directory_iterator(p, ec))
            if (!e.is_directory(ec) && stat(e.path().c_str(), &st) == 0) bytes += uint64_t(st.st_blocks) * 512;
    return bytes;
}

std::string slurp(const fs::path& p) {
    std::ifstream f(p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

}  // namespace

std::string checkpoint_key(Driver& driver, const GuestSpec& spec) {
    GuestSpec s = spec;
    s.name = "ht-checkpoint";
    s.run_dir = "/RUN";
    s.checkpoint_dir = "/CHECKPOINT";
    s.restore = true;
    s.host_cpu = -1;
    auto g = driver.create(s);
    std::string what = "hypetrace checkpoint v" + std::to_string(kMetaVersion) + "\n" + driver.name() + "\n" +
                       to_string(s.variant) + "\n" + g->checkpoint_identity() + "\n" + slurp(s.images.dir / "recipe.sha256");
    struct stat st{};
    const std::string prog = g->init_path();
    if (!prog.empty() && stat(prog.c_str(), &st) == 0)
        what += prog + " " + std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) + "\n";
    const XXH128_hash_t h = XXH3_128bits(what.data(), what.size());
    return hex64(h.high64) + hex64(h.low64);
}

std::string checkpoint_problem(const nlohmann::json& meta, const std::string& key, const std::map<std::string, FileSig>& found) {
    if (!meta.is_object() || meta.value("version", 0) != kMetaVersion || !meta.contains("files") ||
        !meta["files"].is_object() || !meta["files"].contains(kCheckpointState))
        return "its record is unreadable";
    if (meta.value("key", "") != key) return "made from other images or another guest configuration";
    for (const auto& [name, rec] : meta["files"].items()) {
        const std::string what = name == kCheckpointState ? "its saved state"
                                 : name == kCheckpointRam ? "its RAM file"
                                 : name == kCheckpointDisk ? "its disk overlay" : "its file " + name;
        auto f = found.find(name);
        if (f == found.end()) return what + " is missing";
        const uint64_t bytes = rec.is_object() ? rec.value("bytes", uint64_t(0)) : 0;
        if (f->second.bytes != bytes)
            return what + " has " + std::to_string(f->second.bytes) + " bytes, not the " + std::to_string(bytes) +
                   " it was saved with";
        if (!rec.is_object() || rec.value("xxh3", "") != hex64(f->second.xxh3))
            return what + "'s content changed since it was saved";
    }
    return "";
}

CheckpointInfo ensure_checkpoint(Driver& driver, GuestSpec spec, const fs::path& cache, const fs::path& scratch_parent,
                                 double timeout_s, const std::function<void(const std::string&)>& progress) {
    CheckpointInfo info;
    info.key = checkpoint_key(driver, spec);
    info.dir = cache / info.key.substr(0, 16);
    const fs::path state = info.dir / kCheckpointState;

    std::error_code ec;
    if (fs::exists(info.dir / kMeta, ec)) {
        nlohmann::json meta = nlohmann::json::parse(slurp(info.dir / kMeta), nullptr, false);
        const auto found = signatures(info.dir);
        info.made_why = checkpoint_problem(meta, info.key, found);
        if (info.made_why.empty()) {
            info.reused = true;
            info.state_bytes = found.at(kCheckpointState).bytes;  // checked: present
            info.ram_file_bytes = allocated_bytes(info.dir / kCheckpointRam);
            if (meta.contains("ping_rtt_ms") && meta["ping_rtt_ms"].is_array())
                for (const auto& v : meta["ping_rtt_ms"])
                    if (v.is_number()) info.ping_rtt_ms.push_back(v.get<double>());
            return info;
        }
        info.made_why = "the one in the cache cannot be used: " + info.made_why;
    } else {
        info.made_why = "none in the cache";
    }

    // Make it: a fresh directory, removed again unless the state is saved and recorded.
    fs::remove_all(info.dir, ec);
    ensure_private_dir(info.dir);
    struct Undo {
        fs::path dir;
        bool keep = false;
        ~Undo() {
            std::error_code e;
            if (!keep) fs::remove_all(dir, e);
        }
    } undo{info.dir};
    const fs::path making = info.dir / (std::string(kMakingPrefix) + std::to_string(getpid()));
    std::ofstream(making).flush();
    ScratchDir run(scratch_parent, "checkpoint-" + std::to_string(getpid()));
    spec.name = "ht-checkpoint-" + std::to_string(getpid());
    spec.run_dir = run.path();
    spec.checkpoint_dir = info.dir;
    spec.restore = false;
    spec.host_cpu = -1;
    std::unique_ptr<Guest> guest = driver.create(spec);
    if (!guest->can_checkpoint()) throw UserError("this guest cannot be checkpointed: " + guest->describe());
    std::vector<MarkerSpec> marks = guest->milestones();
    constexpr unsigned kPings = 10;
    constexpr uint64_t kFirstToken = 90001;  // five digits each: no token is a prefix of another
    for (unsigned i = 0; i < kPings; ++i)
        marks.push_back({guest->ping_stream(), std::string(kPongMarker) + " " + std::to_string(kFirstToken + i),
                         "pong" + std::to_string(i)});
    ConsoleWatcher watcher(run.path(), guest->console_files(), marks);
    if (progress) progress("checkpoint: " + info.made_why + "; booting the guest to save it once ready");
    guest->prepare();
    LaunchOptions wait;
    wait.watcher = &watcher;
    wait.timeout_s = timeout_s;
    wait.pause = [&](uint64_t left_ns) {
        pollfd p{watcher.fd(), POLLIN, 0};
        ::poll(&p, 1, int(std::min<uint64_t>(left_ns / 1'000'000 + 1, 50)));
    };
    const Launched l = launch_guest(nullptr, 0, *guest, wait);
    if (!l.ready()) {
        guest->stop();
        throw UserError("the guest to checkpoint " +
                        std::string(l.outcome == Launched::Outcome::died ? "stopped before it was ready"
                                                                         : "was not ready after " + fmt("%.0f", timeout_s) + " s") +
                        (l.last_output.empty() ? "" : ": " + l.last_output));
    }
    info.boot_s = ns_to_s(int64_t(l.ready_ns - l.launch_ns));
    // The proof, on the running guest: each ping's round trip, one at a time.
    for (unsigned i = 0; i < kPings; ++i) {
        const std::string name = "pong" + std::to_string(i);
        const uint64_t deadline = mono_ns() + 20'000'000'000ull;
        uint64_t sent = 0;
        while (!watcher.hit(name)) {
            throw_if_interrupted();
            if (mono_ns() > deadline) {
                guest->stop();
                throw UserError("the guest to checkpoint did not answer a ping within 20 s (the image's "
                                "hypetrace-echo service; rebuild the images with scripts/build-images.sh)");
            }
            if (!sent || mono_ns() - sent > 100'000'000ull) {  // resent every 100 ms until it is through
                if (guest->ping(kFirstToken + i)) sent = mono_ns();
            }
            pollfd p{watcher.fd(), POLLIN, 0};
            ::poll(&p, 1, 1);
            watcher.poll();
        }
        if (i > 0) info.ping_rtt_ms.push_back(double(watcher.hit(name)->ts_ns - sent) / 1e6);  // the first waits for the channel
    }
    const uint64_t t0 = mono_ns();
    guest->checkpoint();
    info.save_s = ns_to_s(int64_t(mono_ns() - t0));
    info.ram_file_bytes = allocated_bytes(info.dir / kCheckpointRam);
    const auto saved = signatures(info.dir);
    nlohmann::json files = nlohmann::json::object();
    for (const auto& [name, sig] : saved) files[name] = {{"bytes", sig.bytes}, {"xxh3", hex64(sig.xxh3)}};
    if (!saved.count(kCheckpointState)) throw UserError("cannot read back the saved state " + state.string());
    info.state_bytes = saved.at(kCheckpointState).bytes;
    nlohmann::json meta{{"version", kMetaVersion},
                        {"key", info.key},
                        {"files", files},
                        {"state_bytes", info.state_bytes},
                        {"made_at", utc_now()},
                        {"boot_s", info.boot_s},
                        {"save_s", info.save_s},
                        {"ping_rtt_ms", info.ping_rtt_ms},
                        {"guest", guest->describe()}};
    write_file_atomic(info.dir / kMeta, meta.dump(2) + "\n");
    fs::remove(making, ec);
    undo.keep = true;
    if (progress)
        progress("checkpoint: booted in " + fmt("%.1f", info.boot_s) + " s, saved " +
                 fmt_size(info.state_bytes) + " in " + fmt("%.2f", info.save_s) + " s to " +
                 info.dir.string());
    return info;
}

CheckpointCleanup clean_checkpoints(const fs::path& cache, bool all) {
    CheckpointCleanup r;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(cache, ec)) {
        if (!e.is_directory(ec) || e.is_symlink(ec)) continue;
        std::optional<pid_t> maker;
        uint64_t bytes = 0;
        for (const auto& f : fs::directory_iterator(e.path(), ec)) {
            const std::string name = f.path().filename().string();
            if (name.rfind(kMakingPrefix, 0) == 0) maker = pid_t(std::atoi(name.c_str() + std::strlen(kMakingPrefix)));
            bytes += allocated_bytes(f.path());
        }
        const bool live = maker && *maker > 0 && kill(*maker, 0) == 0;
        if (live) {
            r.kept.push_back("checkpoint " + e.path().string() + ": run " + std::to_string(*maker) + " is making it");
            continue;
        }
        if (!all && !maker) continue;
        fs::remove_all(e.path(), ec);
        if (ec) r.kept.push_back("cannot remove " + e.path().string() + ": " + ec.message());
        else if (maker) r.removed.push_back("removed the half-made checkpoint " + e.path().string() + ", left by a run that was killed");
        else r.removed.push_back("removed the checkpoint " + e.path().string() + " (" + fmt("%.0f", double(bytes) / (1 << 20)) + " MiB)");
    }
    return r;
}

}  // namespace ht
