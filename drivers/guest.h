// SPDX-License-Identifier: MIT
// The one interface every guest backend implements (qemu, lxc, native; libvirt later).
// A driver reports what a guest is (pids, cgroup, console files, milestones to look for); it never
// touches BPF: userspace/core attaches filters to what the driver reports.
// Depends on: userspace/core (errors, spawn, host). Never on experiments or cli.
#pragma once
#include "core/host/console.h"
#include "core/base/error.h"
#include "core/host/host.h"

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ht {

enum class GuestKind { vm, container, process };
enum class Variant {
    full,      // systemd to multi-user, an idle system waiting for a login
    app,       // a single /bin/bash (the paper's "LXC-bash"); the VM boots kernel + initramfs into it
    firmware,  // VM only: QEMU firmware (SeaBIOS) up to its boot prompt, no OS
};
std::string to_string(Variant v);

// Where the guest images live (scripts/build-images.sh makes them).
struct ImageSet {
    std::filesystem::path dir;
    std::filesystem::path rootfs() const { return dir / "rootfs"; }
    std::filesystem::path disk() const { return dir / "full.img"; }
    // A guest kernel and its initrd: `release` "" is the default one (kernel.release names it),
    // else one of kernel_releases() (kernels/RELEASE/).
    std::filesystem::path kernel(const std::string& release = "") const {
        return release.empty() ? dir / "vmlinuz" : dir / "kernels" / release / "vmlinuz";
    }
    std::filesystem::path initrd(const std::string& release = "") const {
        return release.empty() ? dir / "initrd.img" : dir / "kernels" / release / "initrd.img";
    }
    // The guest kernels the images hold, sorted; the default's release ("" if the images predate
    // kernel.release); a kernel's package version ("6.1.170-3"; "" if unknown).
    std::vector<std::string> kernel_releases() const;
    std::string default_kernel() const;
    std::string kernel_version(const std::string& release) const;
    // A guest kernel as a user names it: "default", a release ("6.1.0-47-cloud-amd64") or the
    // start of exactly one ("6.1.0-47", "6.12"). Throws UserError naming the kernels there are.
    std::string resolve_kernel(const std::string& name) const;
    std::filesystem::path app_initramfs() const { return dir / "app-initramfs.cpio"; }
    // Throws UserError naming the missing file and the command that builds it.
    void require(const std::vector<std::filesystem::path>& files) const;
};

// Containers only: what the container uses as its root filesystem.
enum class RootfsMode {
    direct,  // the image's rootfs directory itself (start-up runs: one guest at a time)
    shared,  // an overlayfs over the image's rootfs, one private upper dir per container: files
             // and their page cache are shared copy-on-write (the paper's "shared chroot")
    copied,  // a private full copy per container (the paper's "copied chroot"): nothing shared
};
std::string to_string(RootfsMode m);

struct GuestSpec {
    std::string name;                 // unique per guest, safe as a file/container name
    Variant variant = Variant::full;
    ImageSet images;
    std::filesystem::path run_dir;    // scratch directory for this guest's files (console logs, ...)
    Accel accel = Accel::tcg;         // VMs only
    unsigned memory_mb = 1024;        // as the paper: 1 GiB per VM
    unsigned vcpus = 1;
    RootfsMode rootfs = RootfsMode::direct;  // containers only
    // VMs booting a kernel (full variant): which one of images.kernel_releases(); "" the default.
    std::string kernel;
    // Full guests: a host directory holding run.sh, run once by the guest when it is ready
    // (scripts/guest/hypetrace-job); its output arrives on the "marks" stream between
    // HYPETRACE-JOB-BEGIN and HYPETRACE-JOB-END <rc>. VM: a read-only tar disk (/dev/vdb);
    // container: bound read-only at /hypetrace-job. Empty: no job.
    std::filesystem::path job_dir;
    // >= 0: the guest runs on this host CPU only, as the paper's density runs (a VM's QEMU, every
    // thread of it, by affinity; a container by its cgroup's cpuset). -1: anywhere.
    int host_cpu = -1;
    // Start-up from a checkpoint (VMs; `startup --restore`). Non-empty: the directory the
    // checkpoint lives in: its disk overlay and, once written, the saved state (kCheckpointState).
    // restore false: the guest boots on the overlay (writes kept) and can be checkpointed there;
    // true: it starts from the saved state, disk writes discarded. Either way it answers pings
    // (Guest::ping), the proof that it runs.
    std::filesystem::path checkpoint_dir;
    bool restore = false;
    // With checkpoint_dir: the guest's RAM is a file in it (kCheckpointRam), which the
    // checkpointed guest maps shared (so its memory is the file) and restored guests map private:
    // pages come in on demand as the guest touches them, its writes stay its own, and the saved
    // state holds no RAM. Off: the RAM travels in the saved state and is loaded whole.
    bool lazy = false;
};

// The files of a checkpoint directory: the guest's saved state and its disk as it was then.
inline constexpr const char* kCheckpointState = "state";
inline constexpr const char* kCheckpointDisk = "disk.qcow2";
inline constexpr const char* kCheckpointRam = "ram";  // lazy checkpoints

// The one place a guest's spec is made: an experiment's preflight and its create take the same
// spec from here (name and run_dir are added per guest).
GuestSpec make_guest_spec(Variant variant, const ImageSet& images, Accel accel, RootfsMode rootfs = RootfsMode::direct);

// How long a guest may take to be ready by default, one figure per kind and accelerator, for
// every experiment: a stock guest on a 2-core host, with margin for several booting at once.
// Containers and processes: 120 s; VMs: 600 s under TCG, 180 s under KVM.
double default_ready_timeout_s(GuestKind kind, Accel accel);

inline constexpr const char* kJobBeginMarker = "HYPETRACE-JOB-BEGIN";
inline constexpr const char* kJobEndMarker = "HYPETRACE-JOB-END";

// Which emulated device owns which I/O port and guest-physical address range (a VM's; QEMU's flat
// memory tree): exits are named after the device that handles them.
struct DeviceRange {
    uint64_t start = 0, end = 0;  // inclusive
    std::string owner;            // "ide", "vga-lowmem"; "" if unassigned
};
struct DeviceMap {
    std::vector<DeviceRange> io, memory;
    // The owner of a port / guest-physical address ("unassigned" when none).
    std::string io_owner(uint64_t port) const;
    std::string memory_owner(uint64_t gpa) const;
};

// The optional devices of a default VM (a libvirt-default domain: the libvirt driver gives them as
// below), each removable: `hypetrace devices` measures what dropping them saves (Table 2).
struct DeviceSet {
    bool video = true;  // QXL video + SPICE graphics (on 127.0.0.1)
    bool sound = true;  // ICH6 HD audio
    bool usb = true;    // PIIX3 UHCI + EHCI controllers and a USB tablet
    std::string name() const;  // "default", "no-video", "no-video+usb", ..., "none"
};
// All 8 combinations, the default first, "none" last.
std::vector<DeviceSet> all_device_sets();

class Guest {
public:
    virtual ~Guest() = default;
    virtual GuestKind kind() const = 0;
    // Prepares what the guest needs on disk (a private rootfs copy, a disk overlay) before the
    // timed launch: the paper times starting a guest, not provisioning it. Throws UserError.
    virtual void prepare() {}
    // Launches the guest and returns once it is launched (not ready). Throws UserError on failure;
    // whatever was started is stopped again by stop()/the destructor.
    virtual void start() = 0;
    // Stops the guest and waits until every process of it is gone. Idempotent; never throws.
    virtual void stop() noexcept = 0;
    // False once the guest died by itself (e.g. QEMU exited on an error).
    virtual bool alive() const = 0;
    virtual pid_t main_pid() const = 0;       // QEMU, the container's init, the process
    virtual std::vector<pid_t> pids() const = 0;
    virtual std::string cgroup() const { return {}; }
    // Processes the backend runs for the guest outside of it (LXC's monitor), reported apart.
    virtual std::vector<pid_t> helper_pids() const { return {}; }
    // Files the guest writes its consoles to, by stream name, inside run_dir.
    virtual std::map<std::string, std::string> console_files() const = 0;
    // What to look for in them: the "ready" milestone always, others where the backend has them.
    virtual std::vector<MarkerSpec> milestones() const = 0;
    // Path of the program the guest's init (or only process) runs, to find its exec in traces.
    virtual std::string init_path() const = 0;
    // One line describing how it was started (command line or config), for reports.
    virtual std::string describe() const = 0;
    // Last lines of its console, for "did not become ready" errors.
    virtual std::string failure_hint() const { return {}; }
    // A VM whose kernel panicked: what its console said (then it is not alive()); "" otherwise,
    // and for guests that have no kernel of their own.
    virtual std::string kernel_panic() const { return {}; }
    // Its device map, where the backend can tell (a QEMU VM, asked over its monitor; read it once
    // the guest has placed its PCI devices); nullopt where there is none. Throws UserError when
    // the backend cannot answer.
    virtual std::optional<DeviceMap> device_map() const { return std::nullopt; }

    // Start-up from a checkpoint (spec.checkpoint_dir set). Whether this guest can do it at all.
    virtual bool can_checkpoint() const { return false; }
    // What a checkpoint of this guest depends on beyond the images, for the cache's key: how the
    // guest that made it was started. describe() unless the backend holds more (libvirt: its XML).
    virtual std::string checkpoint_identity() const { return describe(); }
    // The console stream ping answers appear on.
    virtual std::string ping_stream() const { return {}; }
    // Sends `token` through the guest: a process in it answers with a line holding kPongMarker,
    // the "ready" milestone of a restored guest (it is running, proven, not assumed). False when
    // the channel is not open yet (call again). Never throws.
    virtual bool ping(uint64_t token) noexcept {
        (void)token;
        return false;
    }
    // Saves the running guest's state into spec.checkpoint_dir (kCheckpointState) and stops it.
    // Throws UserError (the guest is stopped either way).
    virtual void checkpoint() { throw UserError("this guest cannot be checkpointed"); }
    // A restored guest, once ready: when the backend began loading the state ("state_load"), had
    // loaded it ("state_loaded") and ran the guest again ("resumed"), on CLOCK_MONOTONIC; those
    // the backend cannot tell are missing.
    virtual std::vector<MarkerHit> restore_marks() { return {}; }
    // Bytes of the guest's RAM resident in the host's memory now (its mapping's RSS: for a lazy
    // restore, what was faulted in so far); nullopt where the backend cannot tell. Never throws.
    virtual std::optional<uint64_t> ram_resident_bytes() const { return std::nullopt; }
};

class Driver {
public:
    virtual ~Driver() = default;
    virtual std::string name() const = 0;
    // What its guests are: experiments ask this, never the name.
    virtual GuestKind kind() const = 0;
    // Cheap checks before any run (binaries, images, devices); throws UserError with one line.
    virtual void preflight(const GuestSpec& spec) const = 0;
    virtual std::unique_ptr<Guest> create(const GuestSpec& spec) = 0;
    // Why this backend cannot start its guests from a checkpoint on this host ("" when it can):
    // probed here (a missing tool, a kernel it cannot work with), said in one line.
    virtual std::string restore_problem() const { return "this backend cannot checkpoint and restore its guests"; }
    // Why it cannot restore lazily (GuestSpec::lazy: guest RAM mapped from the checkpoint), "" when
    // it can (or cannot restore at all: restore_problem says so).
    virtual std::string lazy_restore_problem() const { return ""; }
    // Stops whatever a dead hypetrace run of this backend left running from `run_dir` (a guest's
    // scratch directory): one line per thing stopped, and one per thing it could not stop (the
    // directory, which names it, is then kept for a later cleanup). Most backends leave nothing:
    // QEMU dies with hypetrace (PDEATHSIG), libvirt domains with its connection. Never throws.
    struct Reaped {
        std::vector<std::string> stopped, still_running;
    };
    virtual Reaped reap(const std::filesystem::path& run_dir) noexcept {
        (void)run_dir;
        return {};
    }
    // What dead runs of this backend left on the host outside their scratch directories; one line
    // per kind of thing removed. Never throws.
    virtual std::vector<std::string> reap_host() noexcept { return {}; }
};

// What the VM backends share for checkpointed guests (QEMU directly and through libvirt):
// Sends one ping line down a serial port that is a listening Unix socket (`sock`), connecting on
// first use (`fd` starts at -1; closed by the caller). What the guest wrote back there is read and
// dropped: QEMU also logs it to the file the console watcher reads. False when the socket is not
// there yet or the line did not go whole. Never throws.
bool send_serial_ping(int& fd, const std::filesystem::path& sock, const std::string& line) noexcept;
// Creates `disk`, a qcow2 overlay on `backing` (whose format is `format`: "raw", "qcow2"), with
// qemu-img, replacing any file there; its output goes to `log`. Throws UserError naming `what`.
void create_qcow2_overlay(const std::filesystem::path& disk, const std::filesystem::path& backing, const char* format,
                          const std::filesystem::path& log, const std::string& what);
// The RSS of a VM's guest RAM in QEMU (pid): the mapping of `ram_file` when it is given (a lazy
// restore's), else the anonymous rw-p mapping of exactly memory_mb. nullopt when none is found.
std::optional<uint64_t> vm_ram_resident_bytes(pid_t qemu, unsigned memory_mb, const std::filesystem::path& ram_file) noexcept;

// The markers every hypetrace guest image writes to its console (scripts/guest/).
inline constexpr const char* kReadyMarker = "HYPETRACE-READY";
inline constexpr const char* kInitMarker = "HYPETRACE-INIT";
// What a guest answers to a ping: "HYPETRACE-PONG <token>" (scripts/guest/hypetrace-echo in a full
// guest; bash itself in an app guest).
inline constexpr const char* kPongMarker = "HYPETRACE-PONG";

// A full guest also writes its ready marker on a channel no getty shares (a second serial port
// in a VM, a file bound to /dev/hypetrace-marks in a container): agetty vhangup()s the console
// when it starts, and a marker written to the console during that hangup is lost.
inline constexpr const char* kMarksFile = "marks.log";

// The milestones a hypetrace guest writes: init on the "console" stream (full guests), ready on
// the "marks" stream (full guests) or the console (app guests).
std::vector<MarkerSpec> console_milestones(Variant v);

}  // namespace ht
