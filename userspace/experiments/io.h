// SPDX-License-Identifier: MIT
// `hypetrace io`: the same I/O workload (fio) in a VM, a container and natively (paper section 2.2,
// Figure 3), and where a VM's extra cost per operation goes. The workload is handed to full
// guests at start through the job channel (drivers/guest.h job_dir: a tar disk for a VM, a bind
// mount for a container), never baked into the image. Each run's fio JSON comes back on the
// guest's marks stream. Around the job hypetrace reads the host side of each guest: CPU time by
// thread and I/O syscalls of QEMU (/proc), page faults and, under KVM, exits (BPF counters).
#pragma once
#include "core/tracing/trace_backend.h"
#include "core/host/host.h"
#include "core/base/stats.h"
#include "drivers/guest.h"
#include "experiments/exit_counts.h"
#include "experiments/fio_result.h"

#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ht {

struct IoTechnique {
    std::string id;     // "kvm", "lxc", "native"
    std::string label;  // "KVM (TCG)", "LXC", "native"
    Driver* driver = nullptr;  // null: native (fio run by hypetrace itself)
};

// The job io hands over (job.fio and run.sh, in a job directory): run.sh runs job.fio `runs` times
// and prints each run's fio JSON between a line "kIoResultBegin<run> <fio's exit code>" and a line
// kIoResultEnd (fio's stderr after the JSON when it failed). With runs auto it loops up to
// AutoRuns::max_runs and hypetrace ends it once settled (a VM's job channel is a read-only disk:
// nothing can tell the guest to stop), keeping the runs complete by then.
inline constexpr const char* kIoResultBegin = "HYPETRACE-IO-RESULT ";
inline constexpr const char* kIoResultEnd = "HYPETRACE-IO-RESULT-END";

// The native technique's runner: run.sh of `job_dir` as a child of hypetrace (spawn.h), in
// `job_dir`, with HT_IO_DIR=`work_dir`, its stdout and stderr appended to `output`. Returns its
// exit code; throws Interrupted if hypetrace is interrupted meanwhile (the child ended). While the
// job runs, `go_on` (if set) is asked every 20 ms; once it says false the job is ended (its
// process group terminated) and the runner returns (an exit code of no interest then). If it
// throws, the job is ended too.
int run_native_io_job(const std::filesystem::path& job_dir, const std::filesystem::path& output,
                      const std::filesystem::path& work_dir, const std::function<bool()>& go_on = {});

struct IoConfig {
    std::vector<IoTechnique> techniques;
    std::string job_text;     // the fio job file
    std::string job_name = "fileserver+randread";
    unsigned runs = 3;        // fio runs per technique (in one boot)
    // on: `runs` is not used; each technique's runs go on until every section's ops/s settles or
    // a cap (core/base/stats.h), its time counted from the job's start
    AutoRuns auto_runs{false, 900, kAutoMaxRuns};
    unsigned runtime_s = 10;  // per fio job section (time_based)
    Accel accel = Accel::tcg;
    ImageSet images;
    std::filesystem::path scratch_parent = "/var/tmp/hypetrace";
    double boot_timeout_s = 0;  // until a guest starts its job; 0: default_ready_timeout_s of its kind
    std::function<void(const std::string&)> progress;
    // Runs the native technique's job (while the tracer's spawner is armed for it); tests put a
    // fake fio in its place.
    std::function<int(const std::filesystem::path& job_dir, const std::filesystem::path& output,
                      const std::filesystem::path& work_dir, const std::function<bool()>& go_on)>
        native_runner = run_native_io_job;
};

// The tracer's counter buckets: one, an hour wide: a run's faults and exits are summed over its job,
// not split in time.
inline constexpr uint64_t kIoBucketNs = 3600'000'000'000ULL;

// CPU time of one QEMU thread over the job.
struct ThreadCpu {
    std::string comm;
    double user_s = 0, sys_s = 0;
};

struct IoTechniqueResult {
    IoTechnique technique;
    std::string accel;  // VMs
    std::vector<std::vector<FioJobResult>> runs;      // per run, per job section
    std::map<std::string, Summary> ops_per_s;         // per job section, over runs
    std::map<std::string, Summary> p99_us;            // read p99 (write if no reads)
    RunsEnd runs_end = RunsEnd::count;                // why its runs ended (auto: settled on ops/s)
    double job_s = 0;                                 // from job begin to end (all runs)
    // Host side over the job (VM: QEMU; container: its processes at the end; native: none).
    std::vector<ThreadCpu> threads;
    double host_cpu_s = 0;
    uint64_t syscr = 0, syscw = 0, read_bytes = 0, write_bytes = 0;  // /proc/PID/io deltas
    uint64_t faults = 0;  // traced
    ExitCounts exits;     // traced, during the job (under KVM)
    DeviceMap mtree;      // VMs under KVM: which device owns which port and address (the guest's device map)
    Losses lost;          // what the tracer lost over the runs (the report's headline says so)
};

struct IoResult {
    HostInfo host;
    std::string started_at;
    std::string job_name, job_text;
    unsigned runs = 0, runtime_s = 0;
    AutoRuns auto_runs;  // on: runs until settled, `runs` not used
    std::vector<IoTechniqueResult> techniques;
    std::vector<SourceStatus> sources;
};

// The spec every io guest is created from (a full guest; a container on an overlay of the image).
GuestSpec io_guest_spec(const IoConfig& cfg);
// Checks, before anything runs, that every technique's driver can start its guest here. Throws
// UserError.
void preflight_io(const IoConfig& cfg);
IoResult run_io(TraceBackend& tracer, const HostInfo& host, const IoConfig& cfg);

// The default workload: a fileserver-like section (many small files created, written, read,
// deleted by a few threads) and a small random-read section, `runtime_s` each.
std::string default_fio_job();
// Its fileserver section alone, after `comment` (fio comment lines): the workload of Figure 3.
std::string fileserver_fio_job(const std::string& comment);

nlohmann::json to_json(const IoResult& r);
std::string render_text(const IoResult& r);

inline constexpr int kIoSchemaVersion = 1;

}  // namespace ht
