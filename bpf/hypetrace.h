/* SPDX-License-Identifier: MIT */
/*
 * Plain structs and constants shared by the BPF programs (C) and userspace/core (C++).
 * No kernel types here: this header must compile on both sides unchanged.
 */
#ifndef HYPETRACE_BPF_HYPETRACE_H
#define HYPETRACE_BPF_HYPETRACE_H

#define HT_COMM_LEN 16
#define HT_PATH_LEN 128

/* Rare events, streamed through the ring buffer. */
enum ht_event_type {
	HT_EV_EXEC = 1,		/* a tracked process called execve: path, comm */
	HT_EV_FORK = 2,		/* a tracked process (or the spawner) created a process: aux = child tgid */
	HT_EV_EXIT = 3,		/* a tracked process exited (group leader): aux = exit code */
	HT_EV_KVM_RUN_FIRST = 4,/* first KVM_RUN ioctl of a guest: its first vCPU entry */
	HT_EV_RENAME = 5,	/* a tracked thread was named (QEMU names vCPU threads "CPU n/KVM") */
	HT_EV_KSM_SCAN = 6,	/* ksmd finished a full scan: pid = seq, tgid = rmap items,
				 * ppid = pages merged during it (all processes), aux = merge errors */
	HT_EV_PHASE = 7,	/* a guest wrote its phase marker port: aux = the byte written */
};

struct ht_event {
	unsigned long long ts_ns;	/* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	unsigned int type;		/* enum ht_event_type */
	unsigned int guest;		/* guest id given by userspace */
	unsigned int pid;		/* thread id */
	unsigned int tgid;		/* process id */
	unsigned int ppid;		/* parent's tgid */
	unsigned int aux;		/* per type, see above */
	char comm[HT_COMM_LEN];
	char path[HT_PATH_LEN];
};

/* In-kernel aggregation: one u64 per (guest, time bucket, kind, sub). */
enum ht_counter_kind {
	HT_CNT_FAULT_USER = 1,	/* exceptions:page_fault_user */
	HT_CNT_FAULT_KERNEL = 2,/* exceptions:page_fault_kernel */
	HT_CNT_EXEC = 3,
	HT_CNT_FORK = 4,
	HT_CNT_EXIT = 5,
	HT_CNT_KVM_EXIT = 6,	/* kvm:kvm_exit, sub = exit reason | isa << 32 */
	HT_CNT_KVM_EXIT_NS = 7,	/* ns from kvm_exit to the next kvm_entry, sub as above */
	HT_CNT_KVM_USER_EXIT = 8,/* kvm:kvm_userspace_exit, sub = KVM_EXIT_* reason */
	HT_CNT_KVM_PIO = 9,	/* kvm:kvm_pio, sub = port | rw << 16 */
	HT_CNT_KVM_MMIO = 10,	/* kvm:kvm_mmio, sub = gpa | type << 56 */
	HT_CNT_KVM_RUN = 11,	/* KVM_RUN ioctls returned (made by userspace: the sum of the histogram) */
	HT_CNT_KVM_RUN_NS = 12,	/* ns spent inside KVM_RUN */
	HT_CNT_KVM_RUN_LOG2 = 13,/* KVM_RUN duration histogram, sub = floor(log2(ns)) */
	HT_CNT_LOST = 14,	/* counter map full: sub = the kind that was dropped */
	HT_CNT_KSM_MERGE = 15,	/* ksmd merged a page of a tracked process (ksm:ksm_merge_*) */
	HT_CNT_KVM_RUN_ENTRY_NS = 16,/* ns from KVM_RUN's start to KVM loading the guest's FPU state
				      * (kvm:kvm_fpu): the ioctl's entry work, vcpu_load included */
	/* 17, 18: made by userspace (kvm_run_min_ns, kvm_run_max_ns, userspace/core/tracing/trace_data.h).
	 * The scheduler (opt-in sched:* source), per guest over its threads: */
	HT_CNT_SCHED_RUNQ_NS = 19,	/* ns runnable but not running: from a wakeup (or a switch-out
					 * still runnable) to the next switch-in */
	HT_CNT_SCHED_RUNQ_LOG2 = 20,	/* those waits, sub = floor(log2(ns)) */
	HT_CNT_SCHED_ONCPU_NS = 21,	/* ns on a CPU: switch-in to switch-out */
	HT_CNT_SCHED_PREEMPTED = 22,	/* switch-outs still runnable (involuntary), sub = the next
					 * task's guest << 32 | its tgid (guest 0: the host's; tgid 0: idle) */
	HT_CNT_SCHED_SWITCH_VOL = 23,	/* switch-outs blocked (voluntary: sleep, I/O, exit) */
	HT_CNT_SCHED_MIGRATE = 24,	/* sched:sched_migrate_task of a thread */
};

struct ht_counter_key {
	unsigned int guest;
	unsigned int bucket;	/* (ts - origin_ns) / bucket_ns */
	unsigned int kind;	/* enum ht_counter_kind */
	unsigned int phase;	/* the guest's phase (last byte it wrote to phase_port), 0 when off */
	unsigned long long sub;
};

/* The end of a KVM_RUN, one map update for three counts: key as ht_counter_key with
 * sub = exit reason (KVM_EXIT_*) | floor(log2(ns in KVM_RUN)) << 32; kind unused. Userspace turns
 * it into kvm_user_exit (by reason), kvm_run_log2, kvm_run_ns, kvm_run, and the shortest and
 * longest KVM_RUN (kvm_run_min_ns, kvm_run_max_ns). */
struct ht_run_value {
	unsigned long long count;
	unsigned long long ns;
	unsigned long long min_ns;	/* 0: none yet */
	unsigned long long max_ns;
};

/* Per CPU: the hot path's state, one inlined array lookup away (map `cpu_state`, indexed by CPU).
 * Repeated counts of one key add up in `pending` and reach the hash maps only when the key changes
 * (a phase of N exits of one kind costs one hash update, not N); userspace adds what is still
 * pending when it drains the maps, during a run and after it. */
struct ht_pending {
	struct ht_counter_key key;
	unsigned long long count;
	unsigned long long ns;		/* run_exits only: ns inside KVM_RUN */
	unsigned long long min_ns;	/* run_exits only: the shortest and longest of those KVM_RUNs */
	unsigned long long max_ns;
	unsigned long long seq;		/* which run of counts this is: +1 each time the slot takes a new
					 * key (its old count gone to the map, whole). Userspace never
					 * writes a slot mid-run; it reports each run's growth, and what
					 * it reported of a run that left is taken off that key's map
					 * value (core/pending_ledger.h). */
};

/* Slots: run_exits has its own; kvm_exit and kvm_entry, which alternate on VT-x/AMD-V, one each,
 * so that neither pushes the other's pending count out on every event; sched_switch's four counts
 * (two per side of a switch) one each. All but RUN_EXITS hold `counters` keys. */
enum {
	HT_PENDING_COUNTERS = 0,
	HT_PENDING_RUN_EXITS = 1,
	HT_PENDING_KVM_EXIT = 2,
	HT_PENDING_KVM_EXIT_NS = 3,
	HT_PENDING_RUN_ENTRY = 4,
	HT_PENDING_SCHED_ONCPU = 5,	/* sched_oncpu_ns */
	HT_PENDING_SCHED_SWITCH = 6,	/* sched_preempted, sched_switch_vol */
	HT_PENDING_SCHED_RUNQ = 7,	/* sched_runq_ns */
	HT_PENDING_SCHED_RUNQ_LOG2 = 8,	/* sched_runq_log2 */
	HT_PENDING_SLOTS = 9
};

/* The first 64 bytes hold all a page fault reads and writes besides its pending slot, which is the
 * next 64: each a cache line of its own, since every CPU's record starts on a 128-byte boundary
 * (cpu_state's values start on a page, and the record's size is a multiple of 128), so no two CPUs
 * share a line either. A fault, under a hypervisor above all, finds the caches cold: a per-CPU
 * array's value (8-byte aligned, reached through the map's table of per-CPU pointers) cost one line
 * more, +39 to +51 ns beyond the floor against +19 to +34 (ht_bench_faults --programs-only). The
 * records share one allocation, so on a host with several NUMA nodes the CPUs of all but one reach
 * theirs remotely (this machine kind has one node). */
struct ht_cpu_state {
	unsigned int fault_tgid;	/* the process whose fault was looked up last on this CPU, */
	unsigned int fault_guest;	/* its guest | HT_FAULT_TRACKED, or 0 when untracked, */
	unsigned int fault_gen;		/* as `tracked` was at tracked_gen == fault_gen */
	unsigned int bucket;
	unsigned long long origin;	/* the origin_ns the bucket below was computed for */
	unsigned long long bucket_lo;	/* [bucket_lo, bucket_hi): timestamps of `bucket` */
	unsigned long long bucket_hi;
	unsigned long long last_ts;	/* the last bpf_ktime_get_ns() read on this CPU */
	unsigned long long last_jiffies;/* jiffies then */
	unsigned int vcpu_tid;		/* the vCPU thread that last entered KVM_RUN on this CPU */
	unsigned int vcpu_guest;	/* and its guest */
	struct ht_pending pending[HT_PENDING_SLOTS];
	unsigned long long last_switch;	/* the last sched_switch seen on this CPU (sched source) */
} __attribute__((aligned(128)));

#define HT_FAULT_TRACKED 0x80000000u

/* A vCPU thread's KVM_RUN state, in its task storage (trace.bpf.c's kvm_run_start, which
 * profile.bpf.c shares): the KVM_RUN in progress, and between two KVM_RUNs the exit QEMU is
 * handling, so CPU samples of QEMU can be tied to the exit they handle. */
struct ht_run_state {
	unsigned long long ts;		/* start of the KVM_RUN in progress */
	unsigned long long origin;	/* origin_ns of the run that wrote it */
	unsigned int guest;
	unsigned int active;		/* inside KVM_RUN */
	unsigned long long io;		/* this KVM_RUN's last port I/O or MMIO (HT_HANDLING_*) */
	unsigned long long handling;	/* between KVM_RUNs: the exit QEMU handles (HT_HANDLING_*), 0 none */
	unsigned long long mmio_read;	/* an MMIO read QEMU completes: its address | HT_MMIO_READ_PENDING,
					 * from its exit (kvm_mmio type 0) to its completion (type 1, on
					 * the next KVM_RUN), which is not an exit and is not counted */
};
#define HT_MMIO_READ_PENDING (1ULL << 63)
#define HT_HANDLING_PIO (1ULL << 62)	/* | port | direction << 16 (1: out), as kvm_pio counters */
#define HT_HANDLING_MMIO (2ULL << 62)	/* | guest-physical address */
#define HT_HANDLING_ADDR_MASK ((1ULL << 56) - 1)

/* ---- CPU profiling (profile.bpf.c): perf-event samples counted in the kernel ---- */
#define HT_STACK_DEPTH 64

/* One count per (thread, its name, user stack, kernel stack, time bucket). Stacks are named by a
 * hash of their addresses (never 0; 0: no stack); their addresses are in `stacks`. */
struct ht_sample_key {
	unsigned int tgid;
	unsigned int pid;
	unsigned long long ustack;
	unsigned long long kstack;
	unsigned int bucket;	/* (ts - origin_ns) / bucket_ns */
	unsigned int pad;
	unsigned long long handling;	/* a vCPU thread in QEMU: the exit it handles (HT_HANDLING_*) */
	char comm[HT_COMM_LEN];
};

struct ht_stack {
	unsigned int depth;	/* frames used in ip[], leaf first */
	unsigned int pad;
	unsigned long long ip[HT_STACK_DEPTH];
};

#define HT_COUNTERS_MAX (1 << 18)
#define HT_TRACKED_MAX 16384
#define HT_SCHED_THREADS_MAX 65536	/* threads whose scheduling the sched source follows at once */

#endif
