// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * hypetrace's tracer: process lifecycle, page faults and KVM activity of the guests under test.
 *
 * Filtering: a process is "tracked" when its tgid is in `tracked` (value: guest id). Userspace
 * names a spawner (its own tgid) for the launch of a guest: every process the spawner forks then,
 * and every descendant of a tracked process, becomes tracked with the same guest id. Threads share
 * their process's tgid, so QEMU's vCPU threads are covered.
 *
 * Scheduler (opt-in): run-queue waits, time on a CPU, switches and migrations of tracked threads,
 * counted in the kernel like the rest (see "the scheduler" below).
 *
 * Aggregation: hot-path events (faults, exits, KVM_RUN) only add to `counters`, keyed by guest,
 * time bucket (bucket_ns wide, counted from origin_ns) and kind; rare events (exec, fork, exit,
 * first KVM_RUN, thread rename) also go to the `events` ring buffer with their timestamp.
 *
 * Twins: every raw tracepoint has a tp_btf entry (BTF-typed arguments) and a raw_tp entry (the
 * same body, for kernels whose BTF lacks the btf_trace_* type); userspace keeps one of the two
 * after a probe (see userspace/core/tracing/bpf_tracer.cpp). Bodies read through BPF_CORE_READ so that
 * they are valid for both. kvm_exit/kvm_entry are classic tracepoints: the exit reason exists
 * only in their formatted record (trace_event_raw_kvm_exit), read with CO-RE relocations.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "hypetrace.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Fixed at load time. */
const volatile __u64 bucket_ns = 1000000;
const volatile __u32 ioctl_nr = 16;		/* __NR_ioctl of the target arch */
const volatile __u32 kvm_run_cmd = 0xAE80;	/* _IO(KVMIO, 0x80) */
/* The KVM and page-fault programs return at once: what the tracepoints cost by themselves (the
 * benchmarks' floor: `hypetrace exitcost --attach-only`, `ht_bench_faults`). */
const volatile bool attach_only = false;
/* Each VT-x/AMD-V exit's time in KVM (kvm_exit to kvm_entry: two clock reads and a task storage
 * lookup per exit). Off: kvm_exit only counts, by reason, and kvm_entry is not attached
 * (`hypetrace exitcost` without --detail). */
const volatile bool exit_times = true;

/* Set by userspace between runs (.bss). Those every counted event reads come first, in one cache
 * line: under a hypervisor each line a program touches first costs it tens of ns (see struct
 * ht_cpu_state). */
__u64 origin_ns;
__u32 tracked_gen;	/* +1 after every change to `tracked` (here and by userspace): a CPU's cached
			 * lookup (ht_cpu_state.fault_*) made at another generation is stale */
__u32 phase_port;	/* a guest's OUT to this port sets its phase (0: phases off) */
__u32 note_io;		/* set while the CPU profiler runs: port I/O and MMIO exits note themselves in
			 * the thread's state */
__u32 spawner_tgid;
__u32 spawner_guest;
/* Written by the programs as they run (ksmd's merges among them): a line of their own, so that
 * their writes do not take the line above from the other CPUs. */
__u64 lost_counts __attribute__((aligned(64)));	/* counter updates dropped because `counters` was
			 * full, scheduler waits and runs not timed because `sched_threads` refused an entry,
			 * or (never, as userspace sizes it) events on a CPU beyond `cpu_state` */
__u64 lost_events;	/* ring buffer records dropped because it was full */
__u64 lost_tracked;	/* processes not followed because `tracked` was full */
__u64 ksm_scan_merges;	/* pages merged since the current full KSM scan started */
__u64 ksm_scan_errors;	/* failed merge attempts since then */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HT_TRACKED_MAX);
	__type(key, __u32);
	__type(value, __u32);
} tracked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HT_COUNTERS_MAX);
	__type(key, struct ht_counter_key);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HT_COUNTERS_MAX / 4);
	__type(key, struct ht_counter_key);
	__type(value, struct ht_run_value);
} run_exits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

/* A vCPU thread's KVM_RUN state (struct ht_run_state), in the thread's task storage (freed with
 * the thread, found without hashing). Entries stay (active = 0) between calls; `origin` tells an
 * entry of an earlier run (origin_ns changes per run) from this run's. The profiler shares the map
 * to tie its samples to the exit QEMU is handling. */
#define run_start ht_run_state

#include "run_state.bpf.h"

/* This thread's KVM_RUN record, created if `create`; NULL if none. */
static __always_inline struct run_start *run_of_current(bool create)
{
	return bpf_task_storage_get(&kvm_run_start, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* A KVM_RUN of this run (not one an earlier run saw start) is in progress. */
static __always_inline bool in_run(const struct run_start *rs)
{
	return rs && rs->active && rs->origin == origin_ns;
}

/* Per CPU (struct ht_cpu_state): the vCPU thread that last entered KVM_RUN here and its guest
 * (kvm_pio and kvm_mmio fire inside KVM_RUN, so they find their guest without a hash lookup; a
 * thread's guest never changes, so an entry left by a thread that migrated is still right for that
 * thread), the current time bucket (no division per event), and the pending counts. An array
 * indexed by bpf_get_smp_processor_id() (programs do not migrate while they run), not a per-CPU
 * array: its values are laid out as struct ht_cpu_state's alignment asks (from a page, with
 * BPF_F_MMAPABLE), and its inlined lookup reads no table of per-CPU pointers. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);		/* set to the highest possible CPU id + 1 before load */
	__type(key, __u32);
	__type(value, struct ht_cpu_state);
} cpu_state SEC(".maps");

/* A vCPU thread's exit in progress (VT-x/AMD-V: kvm_exit to the next kvm_entry), in task storage
 * like run_start. */
struct exit_start {
	__u64 ts;
	__u64 sub;
	__u64 origin;
	__u32 guest;
	__u32 active;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct exit_start);
} kvm_exit_start SEC(".maps");


/* Each guest's current phase, indexed by guest id & (HT_GUESTS_MAX - 1): plain memory, no
 * helper call on the hot path. */
#define HT_GUESTS_MAX 1024
__u32 guest_phase[HT_GUESTS_MAX];
__u8 first_run_seen[HT_GUESTS_MAX];	/* a guest's first KVM_RUN was reported */

static __always_inline __u32 *guest_of(__u32 tgid)
{
	return bpf_map_lookup_elem(&tracked, &tgid);
}

static __always_inline __u32 current_tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

static __always_inline struct ht_cpu_state *this_cpu(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct ht_cpu_state *c = bpf_map_lookup_elem(&cpu_state, &cpu);

	if (!c)	/* a CPU id beyond the map: never, as userspace sizes it, but never silently */
		__sync_fetch_and_add(&lost_counts, 1);
	return c;
}

/* The guest of thread `pt` (bpf_get_current_pid_tgid()), found through this CPU's vCPU cache first.
 * 0 if untracked. */
static __always_inline int vcpu_guest(struct ht_cpu_state *c, __u64 pt, __u32 *guest)
{
	__u32 *g;

	if (c->vcpu_tid == (__u32)pt && c->vcpu_tid) {
		*guest = c->vcpu_guest;
		return 1;
	}
	g = bpf_map_lookup_elem(&tracked, &(__u32){pt >> 32});
	if (!g)
		return 0;
	*guest = *g;
	return 1;
}

/* Fills the key of a counter for `guest` at `ts`; false if before the run's origin. The bucket
 * comes from this CPU's cache while `ts` stays inside it. */
static __always_inline bool counter_key(struct ht_cpu_state *c, struct ht_counter_key *key, __u32 guest,
					__u64 ts, __u32 kind, __u64 sub)
{
	__u64 origin = origin_ns;

	if (ts < origin)
		return false;
	if (c->origin != origin || ts < c->bucket_lo || ts >= c->bucket_hi) {
		__u64 width = bucket_ns, b = (ts - origin) / width;

		c->origin = origin;
		c->bucket = b;
		c->bucket_lo = origin + b * width;
		c->bucket_hi = c->bucket_lo + width;
	}
	key->guest = guest;
	key->bucket = c->bucket;
	key->kind = kind;
	key->phase = phase_port ? guest_phase[guest & (HT_GUESTS_MAX - 1)] : 0;
	key->sub = sub;
	return true;
}

/* A clock read, remembered with the jiffies of the moment (see bucket_time). */
static __always_inline __u64 now(struct ht_cpu_state *c)
{
	__u64 ts = bpf_ktime_get_ns();

	c->last_ts = ts;
	c->last_jiffies = bpf_jiffies64();
	return ts;
}

/* A jiffy is at most 10 ms (CONFIG_HZ >= 100). */
#define HT_JIFFY_MAX_NS 10000000ULL

/* A time in the same bucket as now, for counts that need only their bucket. bpf_ktime_get_ns()
 * costs more than everything else a counting program does (about 35 ns here); jiffies cost almost
 * nothing. If this CPU read the clock at last_ts, j jiffies ago, now lies before
 * last_ts + (j + 1) jiffies: when that bound is still inside last_ts's bucket, last_ts is in now's
 * bucket, exactly. So wide buckets (exitcost's one, memory's seconds) rarely read the clock; 1 ms
 * buckets always do. */
static __always_inline __u64 bucket_time(struct ht_cpu_state *c)
{
	if (c->origin == origin_ns && c->last_ts >= c->bucket_lo && c->last_ts < c->bucket_hi) {
		__u64 j = bpf_jiffies64() - c->last_jiffies;

		if (j < 1000 && c->last_ts + (j + 1) * HT_JIFFY_MAX_NS < c->bucket_hi)
			return c->last_ts;
	}
	return now(c);
}

/* The value of `key` in `map`, inserted as zero if absent; NULL (and counted lost) if full. */
static __always_inline void *value_of(void *map, struct ht_counter_key *key, void *zero)
{
	void *val = bpf_map_lookup_elem(map, key);

	if (!val) {
		bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
		val = bpf_map_lookup_elem(map, key);
		if (!val)
			__sync_fetch_and_add(&lost_counts, 1);
	}
	return val;
}

static __always_inline bool same_key(const struct ht_counter_key *a, const struct ht_counter_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2];
}

/* *at = min(*at, v) (0 in *at: nothing yet) or max, against other CPUs flushing the same key: a
 * compare-and-swap, retried while another CPU's write got in between (bounded for the verifier;
 * each retry means the other CPU moved *at toward v). */
static __always_inline void atomic_extreme(__u64 *at, __u64 v, bool want_max)
{
	__u64 old = *at, seen;
	int i;

	for (i = 0; i < 8; i++) {
		if (want_max ? v <= old : (!v || (old && v >= old)))
			return;
		seen = __sync_val_compare_and_swap(at, old, v);
		if (seen == old)
			return;
		old = seen;
	}
}

/* Adds to this CPU's pending count for `key` in map `slot`; a pending count of another key goes
 * to its map first. The tracepoints counted here fire in task context (sched_wakeup and
 * sched_migrate_task can fire in an interrupt: they never come here, see count_direct), and
 * sched_switch and the page faults' run with interrupts off, so a program rarely interrupts
 * another one's update of the same CPU's pending slot. The exception: page_fault_kernel in an
 * interrupt, when the CPU profiler's timer reads a user stack that is not resident, over a program
 * counting in the same slot with interrupts on (exec, fork, exit, KVM's userspace exits, port I/O,
 * MMIO, KSM merges). A run leaving the slot is therefore taken out of it (its count zeroed)
 * before it goes to its map: the nested program finds no run to move a second time, and at worst
 * the single count it adds is lost. */
static __always_inline void add(struct ht_cpu_state *c, int slot, struct ht_counter_key *key, __u64 delta, __u64 ns)
{
	struct ht_pending *p = &c->pending[slot];

	if (p->count && same_key(&p->key, key)) {
		p->count += delta;
		p->ns += ns;
		if (slot == HT_PENDING_RUN_EXITS) {
			if (ns < p->min_ns)
				p->min_ns = ns;
			if (ns > p->max_ns)
				p->max_ns = ns;
		}
		return;
	}
	if (p->count) {
		/* Userspace reading the slot meanwhile sees the run with no count: it skips it, and
		 * takes what it reported of it off the map once seq moves (core/pending_ledger.h). */
		struct ht_counter_key k = p->key;
		__u64 n = p->count, run_ns = p->ns, lo = p->min_ns, hi = p->max_ns;

		p->count = 0;
		asm volatile("" ::: "memory");
		if (slot != HT_PENDING_RUN_EXITS) {
			__u64 zero = 0, *v = value_of(&counters, &k, &zero);

			if (v)
				__sync_fetch_and_add(v, n);
		} else {
			struct ht_run_value zero = {}, *v = value_of(&run_exits, &k, &zero);

			if (v) {
				__sync_fetch_and_add(&v->count, n);
				__sync_fetch_and_add(&v->ns, run_ns);
				atomic_extreme(&v->min_ns, lo, false);
				atomic_extreme(&v->max_ns, hi, true);
			}
		}
	}
	/* A new run of counts: no count while its key changes, the count last, so that userspace,
	 * reading the slot while this CPU writes it, never takes one key's count for another's. */
	p->count = 0;
	asm volatile("" ::: "memory");
	p->key = *key;
	p->ns = ns;
	p->min_ns = ns;
	p->max_ns = ns;
	p->seq++;
	asm volatile("" ::: "memory");
	p->count = delta;
}

static __always_inline void count_in(struct ht_cpu_state *c, int slot, __u32 guest, __u64 ts, __u32 kind,
				     __u64 sub, __u64 delta)
{
	struct ht_counter_key key;

	if (delta && counter_key(c, &key, guest, ts, kind, sub))
		add(c, slot, &key, delta, 0);
}

static __always_inline void count_on(struct ht_cpu_state *c, __u32 guest, __u64 ts, __u32 kind, __u64 sub,
				     __u64 delta)
{
	count_in(c, HT_PENDING_COUNTERS, guest, ts, kind, sub, delta);
}

static __always_inline void count(__u32 guest, __u64 ts, __u32 kind, __u64 sub, __u64 delta)
{
	struct ht_cpu_state *c = this_cpu();

	if (c)
		count_on(c, guest, ts, kind, sub, delta);
}

/* One KVM_RUN ended (see struct ht_run_value). */
static __always_inline void count_run(struct ht_cpu_state *c, __u32 guest, __u64 ts, __u32 reason, __u32 log2, __u64 ns)
{
	struct ht_counter_key key;

	if (counter_key(c, &key, guest, ts, 0, reason | ((__u64)log2 << 32)))
		add(c, HT_PENDING_RUN_EXITS, &key, 1, ns);
}

/* floor(log2(v)) for v > 0, without __builtin_clzll (clang 14's BPF backend cannot lower it). */
static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xffffffffULL) << 5; v >>= shift; r |= shift;
	shift = (v > 0xffff) << 4; v >>= shift; r |= shift;
	shift = (v > 0xff) << 3; v >>= shift; r |= shift;
	shift = (v > 0xf) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	return r | (__u32)(v >> 1);
}

static __always_inline void emit(__u32 type, __u32 guest, __u64 ts, __u32 pid, __u32 tgid,
				 __u32 ppid, __u32 aux, const char *path)
{
	struct ht_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&lost_events, 1);
		return;
	}
	e->ts_ns = ts;
	e->type = type;
	e->guest = guest;
	e->pid = pid;
	e->tgid = tgid;
	e->ppid = ppid;
	e->aux = aux;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->path[0] = 0;
	if (path)
		bpf_probe_read_kernel_str(e->path, sizeof(e->path), path);
	bpf_ringbuf_submit(e, 0);
}

/* ---- process lifecycle ---- */

static __always_inline int on_exec(struct task_struct *p, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	__u32 *g = guest_of(tgid);
	__u64 ts;

	if (!g)
		return 0;
	ts = bpf_ktime_get_ns();
	count(*g, ts, HT_CNT_EXEC, 0, 1);
	emit(HT_EV_EXEC, *g, ts, BPF_CORE_READ(p, pid), tgid, BPF_CORE_READ(p, real_parent, tgid), 0,
	     BPF_CORE_READ(bprm, filename));
	return 0;
}

static __always_inline int on_fork(struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	__u32 guest, *g;
	__u64 ts;

	if (ptgid == ctgid)	/* a new thread of a process: covered by its tgid */
		return 0;
	g = guest_of(ptgid);
	if (g)
		guest = *g;
	else if (spawner_tgid && ptgid == spawner_tgid)
		guest = spawner_guest;
	else
		return 0;
	if (bpf_map_update_elem(&tracked, &ctgid, &guest, BPF_ANY))
		__sync_fetch_and_add(&lost_tracked, 1);
	__sync_fetch_and_add(&tracked_gen, 1);	/* after the change: see cached_guest_of */
	ts = bpf_ktime_get_ns();
	count(guest, ts, HT_CNT_FORK, 0, 1);
	emit(HT_EV_FORK, guest, ts, BPF_CORE_READ(child, pid), ctgid, ptgid, ctgid, 0);
	return 0;
}

static __always_inline int on_exit(struct task_struct *p)
{
	__u32 pid = BPF_CORE_READ(p, pid), tgid = BPF_CORE_READ(p, tgid);
	__u32 *g, guest;
	__u64 ts;

	if (pid != tgid)	/* a thread: the process goes on */
		return 0;
	g = guest_of(tgid);
	if (!g)
		return 0;
	guest = *g;
	ts = bpf_ktime_get_ns();
	count(guest, ts, HT_CNT_EXIT, 0, 1);
	emit(HT_EV_EXIT, guest, ts, pid, tgid, BPF_CORE_READ(p, real_parent, tgid),
	     BPF_CORE_READ(p, exit_code) >> 8, 0);
	bpf_map_delete_elem(&tracked, &tgid);
	__sync_fetch_and_add(&tracked_gen, 1);
	return 0;
}

static __always_inline int on_rename(struct task_struct *task, const char *comm)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	__u32 *g = guest_of(tgid);
	struct ht_event *e;

	if (!g)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost_events, 1);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->type = HT_EV_RENAME;
	e->guest = *g;
	e->pid = BPF_CORE_READ(task, pid);
	e->tgid = tgid;
	e->ppid = 0;
	e->aux = 0;
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), comm);
	e->path[0] = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* ---- page faults ---- */

/* The guest of process `tgid` through this CPU's one-entry cache, tracked or not (most faults on a
 * host are of untracked processes, and come in runs from one process): a hash lookup only when the
 * process differs from the last one looked up here, or `tracked` changed since. The generation is
 * read before the lookup and bumped after every change, so a lookup that missed a change is cached
 * under a generation already gone. 0 if untracked. */
static __always_inline int cached_guest_of(struct ht_cpu_state *c, __u32 tgid, __u32 *guest)
{
	__u32 gen = *(volatile __u32 *)&tracked_gen, *g;

	if (c->fault_tgid != tgid || c->fault_gen != gen) {
		g = guest_of(tgid);
		c->fault_tgid = tgid;
		c->fault_gen = gen;
		c->fault_guest = g ? *g | HT_FAULT_TRACKED : 0;
	}
	*guest = c->fault_guest & ~HT_FAULT_TRACKED;
	return c->fault_guest != 0;
}

static __always_inline int on_fault(__u32 kind)
{
	struct ht_cpu_state *c;
	__u32 guest;

	if (attach_only)
		return 0;
	c = this_cpu();
	if (c && cached_guest_of(c, current_tgid(), &guest))
		count_on(c, guest, bucket_time(c), kind, 0, 1);
	return 0;
}

/* ---- KVM ---- */

/* A KVM_RUN starts: raw_syscalls:sys_enter for ioctl(KVM_RUN). (kvm:kvm_fpu would cost less, but
 * it fires only after the ioctl's entry work, which under PVM is most of an exit's cost: ~9 us of
 * ~11, measured with bpftrace; see on_guest_state_loaded.) */
static __always_inline int on_kvm_run(void)
{
	struct ht_cpu_state *c;
	struct run_start *rs;
	__u32 tid, guest;
	__u64 pt, ts;

	if (attach_only)
		return 0;
	c = this_cpu();
	if (!c)
		return 0;
	pt = bpf_get_current_pid_tgid();
	if (!vcpu_guest(c, pt, &guest))
		return 0;
	ts = now(c);
	tid = (__u32)pt;
	rs = run_of_current(true);
	if (rs) {
		rs->ts = ts;
		rs->origin = origin_ns;
		rs->guest = guest;
		rs->active = 1;
		rs->io = 0;
		rs->handling = 0;
	}
	c->vcpu_tid = tid;
	c->vcpu_guest = guest;
	if (!first_run_seen[guest & (HT_GUESTS_MAX - 1)]) {
		first_run_seen[guest & (HT_GUESTS_MAX - 1)] = 1;
		emit(HT_EV_KVM_RUN_FIRST, guest, ts, tid, pt >> 32, 0, 0, 0);
	}
	return 0;
}

/* kvm:kvm_fpu (load = 1) fires as KVM loads the guest's FPU state, once per KVM_RUN (as many as
 * KVM_RUN ioctls, checked with bpftrace), after the ioctl's entry work (vcpu_load and the checks
 * before running the vCPU). Attached only when asked (TracerOptions::kvm_entry_split): it splits
 * each KVM_RUN into that entry work and the rest. */
static __always_inline int on_guest_state_loaded(void)
{
	struct run_start *rs;
	struct ht_cpu_state *c;
	__u64 ts;

	if (attach_only)
		return 0;
	rs = run_of_current(false);
	if (!in_run(rs) || !(c = this_cpu()))
		return 0;
	ts = now(c);
	count_in(c, HT_PENDING_RUN_ENTRY, rs->guest, ts, HT_CNT_KVM_RUN_ENTRY_NS, 0, ts - rs->ts);
	return 0;
}

/* kvm:kvm_userspace_exit fires as every KVM_RUN ioctl returns (whatever the reason, errors
 * included): the end of the KVM_RUN whose start on_kvm_run noted. No program runs on sys_exit, which
 * every syscall of the host would pay for. */
static __always_inline int on_kvm_userspace_exit(__u32 reason)
{
	struct run_start *rs;
	struct ht_cpu_state *c;
	__u64 ts, dur;
	__u32 guest;

	if (attach_only)
		return 0;
	rs = run_of_current(false);
	c = this_cpu();
	if (!c)
		return 0;
	ts = now(c);
	if (in_run(rs)) {
		rs->active = 0;
		/* KVM_EXIT_IO (2), KVM_EXIT_MMIO (6): QEMU now handles the access this KVM_RUN made */
		rs->handling = reason == 2 || reason == 6 ? rs->io : 0;
		dur = ts - rs->ts;
		count_run(c, rs->guest, ts, reason, log2_u64(dur | 1), dur);
		return 0;
	}
	if (vcpu_guest(c, bpf_get_current_pid_tgid(), &guest))  /* a KVM_RUN that began before tracking did */
		count_on(c, guest, ts, HT_CNT_KVM_USER_EXIT, reason, 1);
	return 0;
}

static __always_inline int on_kvm_pio(unsigned int rw, unsigned int port, const void *data)
{
	struct ht_cpu_state *c = this_cpu();
	__u64 pt, ts;
	__u32 guest;

	if (attach_only)
		return 0;
	if (!c)
		return 0;
	pt = bpf_get_current_pid_tgid();
	if (!vcpu_guest(c, pt, &guest))
		return 0;
	/* A phase marker (rw 1: KVM_PIO_OUT): the exits from here on belong to the new phase. */
	if (phase_port && port == phase_port && rw == 1) {
		__u32 tid = (__u32)pt;
		struct run_start *rs = run_of_current(false);
		__u8 val = 0;

		ts = now(c);
		bpf_probe_read_kernel(&val, 1, data);
		/* The KVM_RUN in progress ran the old phase until now: count that part there, the
		 * rest (from here to its return) goes to the new phase. */
		if (in_run(rs) && ts > rs->ts) {
			count_on(c, guest, ts, HT_CNT_KVM_RUN_NS, 0, ts - rs->ts);
			rs->ts = ts;
		}
		guest_phase[guest & (HT_GUESTS_MAX - 1)] = val;
		emit(HT_EV_PHASE, guest, ts, tid, pt >> 32, 0, val, 0);
	} else {
		ts = bucket_time(c);
	}
	count_on(c, guest, ts, HT_CNT_KVM_PIO, (port & 0xffff) | ((__u64)rw << 16), 1);
	if (note_io) {
		struct run_start *rs = run_of_current(false);

		if (rs)
			rs->io = HT_HANDLING_PIO | (port & 0xffff) | ((__u64)(rw & 1) << 16);
	}
	return 0;
}

/* kvm_mmio fires once per MMIO exit (type 0: a read QEMU will complete, 1: a read KVM handled,
 * 2: a write), and once more for a read QEMU completed: type 1 on the next KVM_RUN, with the value
 * (KVM_TRACE_MMIO_READ_UNSATISFIED, then READ). That second one is no exit: it is not counted and
 * does not note the access QEMU handles. */
static __always_inline int on_kvm_mmio(int type, __u64 gpa)
{
	struct ht_cpu_state *c = this_cpu();
	struct run_start *rs;
	__u32 guest;

	if (attach_only)
		return 0;
	if (!c || !vcpu_guest(c, bpf_get_current_pid_tgid(), &guest))
		return 0;
	rs = run_of_current(false);
	if (rs) {
		if (type == 1 && rs->mmio_read == (gpa | HT_MMIO_READ_PENDING)) {
			rs->mmio_read = 0;
			return 0;
		}
		if (type == 0)
			rs->mmio_read = gpa | HT_MMIO_READ_PENDING;
	}
	count_on(c, guest, bucket_time(c), HT_CNT_KVM_MMIO, (gpa & 0x00ffffffffffffffULL) | ((__u64)(type & 0xff) << 56), 1);
	if (note_io && rs)
		rs->io = HT_HANDLING_MMIO | (gpa & HT_HANDLING_ADDR_MASK);
	return 0;
}

/* A classic tracepoint's BPF programs share the event with perf: a program returning 0 drops the
 * event for every perf user of it (perf_trace_run_bpf_submit), so `perf kvm stat record` would see
 * no kvm_exit while hypetrace runs. These programs return 1: the event goes on to perf. */
#define TP_KEEP 1

SEC("tp/kvm/kvm_exit")
int ht_kvm_exit(struct trace_event_raw_kvm_exit *ctx)
{
	struct ht_cpu_state *c;
	struct exit_start *st;
	__u32 guest, isa, reason;
	__u64 sub;

	if (attach_only)
		return TP_KEEP;
	c = this_cpu();
	if (!c || !vcpu_guest(c, bpf_get_current_pid_tgid(), &guest))
		return TP_KEEP;
	isa = ctx->isa;
	reason = ctx->exit_reason;
	if (isa == 1)	/* KVM_ISA_VMX: the basic reason; bits 16-31 are flags (FAILED_VMENTRY...) */
		reason &= 0xffff;
	sub = (__u64)reason | ((__u64)isa << 32);
	count_in(c, HT_PENDING_KVM_EXIT, guest, bucket_time(c), HT_CNT_KVM_EXIT, sub, 1);
	/* A port I/O exit names its port here (SVM EXITINFO1, VMX exit qualification: port in bits
	 * 16-31, IN in bit 0 / bit 3): an IN that QEMU completes fires kvm_pio only on the next
	 * KVM_RUN, too late to say which access QEMU is handling now. */
	if (note_io && ((isa == 2 && reason == 0x7b) || (isa == 1 && reason == 30))) {
		struct run_start *rs = run_of_current(false);
		__u64 q = ctx->info1;
		__u64 in = isa == 2 ? (q & 1) : ((q >> 3) & 1);

		if (rs)
			rs->io = HT_HANDLING_PIO | ((q >> 16) & 0xffff) | ((in ^ 1) << 16);
	}
	if (!exit_times)
		return TP_KEEP;
	st = bpf_task_storage_get(&kvm_exit_start, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st)
		return TP_KEEP;
	st->sub = sub;
	st->origin = origin_ns;
	st->guest = guest;
	/* The exit's time is read last here (and first in kvm_entry), so that the time in KVM it
	 * starts holds as little of hypetrace's own work as it can. */
	st->ts = now(c);
	st->active = 1;
	return TP_KEEP;
}

SEC("tp/kvm/kvm_entry")
int ht_kvm_entry(void *ctx)
{
	struct exit_start *st;
	struct ht_cpu_state *c;
	__u64 ts;

	if (attach_only)
		return TP_KEEP;
	st = bpf_task_storage_get(&kvm_exit_start, bpf_get_current_task_btf(), 0, 0);
	if (!st || !st->active || st->origin != origin_ns || !(c = this_cpu()))
		return TP_KEEP;
	st->active = 0;
	ts = now(c);
	count_in(c, HT_PENDING_KVM_EXIT_NS, st->guest, ts, HT_CNT_KVM_EXIT_NS, st->sub, ts - st->ts);
	return TP_KEEP;
}

/* ---- KSM ----
 * ksmd runs in its own kthread: the merged page's owner is found through mm->owner (CONFIG_MEMCG).
 * Per full scan the merge count goes to the ring buffer (a few records per second at most); per
 * tracked guest, merges are counted in time buckets like faults.
 */
static __always_inline int on_ksm_merge(void *mmp, int err)
{
	struct mm_struct *mm = mmp;
	__u32 tgid, *g;

	if (err) {
		__sync_fetch_and_add(&ksm_scan_errors, 1);
		return 0;
	}
	__sync_fetch_and_add(&ksm_scan_merges, 1);
	tgid = BPF_CORE_READ(mm, owner, tgid);
	g = guest_of(tgid);
	if (g)
		count(*g, bpf_ktime_get_ns(), HT_CNT_KSM_MERGE, 0, 1);
	return 0;
}

static __always_inline int on_ksm_stop_scan(int seq, __u32 rmap_entries)
{
	__u64 merges = ksm_scan_merges, errors = ksm_scan_errors;
	struct ht_event *e;

	ksm_scan_merges = 0;
	ksm_scan_errors = 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost_events, 1);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->type = HT_EV_KSM_SCAN;
	e->guest = 0;
	e->pid = seq;
	e->tgid = rmap_entries;
	e->ppid = merges > 0xffffffffULL ? 0xffffffffU : (__u32)merges;
	e->aux = errors > 0xffffffffULL ? 0xffffffffU : (__u32)errors;
	e->comm[0] = 0;
	e->path[0] = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* ---- the scheduler (opt-in: TracerOptions::sched) ----
 * Per tracked thread: when it became runnable and when it was switched in, so that each switch
 * counts its side's wait or run (bcc's runqlat, aggregated per guest instead of per thread).
 * Runnable starts at sched_wakeup/sched_wakeup_new, or at a switch-out that leaves the thread on its
 * run queue (involuntary); it ends at the next switch-in (sched_runq_ns, sched_runq_log2). A run is
 * switch-in to switch-out (sched_oncpu_ns). Switch-outs are counted voluntary or involuntary, the
 * latter by who ran next (sched_preempted). Nothing goes through the ring buffer.
 *
 * The state is a hash keyed by tid, not task storage: the wakee and the next task are not
 * `current`, and a raw_tp twin gets them as plain numbers that bpf_task_storage_get() refuses. An
 * LRU hash: a thread whose death was never seen (its entry is removed at its last switch-out) is
 * evicted in time instead of filling the map. `origin` tells this run's entries from an earlier's.
 */
struct sched_thread {
	__u64 runnable;	/* became runnable at; 0: not waiting (running, asleep, or not seen) */
	__u64 oncpu;	/* switched in at; 0: not running (or its switch-in not seen) */
	__u64 left;	/* last switched out at */
	__u64 origin;	/* origin_ns of the run that wrote it */
	__u32 guest;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HT_SCHED_THREADS_MAX);
	__type(key, __u32);
	__type(value, struct sched_thread);
} sched_threads SEC(".maps");

/* Task states (include/linux/sched.h; #defines, so not in BTF; the same in 6.1 and 6.18). */
#define HT_TASK_RUNNING 0x0000
#define HT_TASK_DEAD 0x0080

/* A count straight into `counters`, for programs that may run in interrupt context
 * (sched_migrate_task: load balancing in softirq, ttwu in hardirq), where they could interrupt
 * another program's update of this CPU's pending slot or bucket cache: neither is touched. */
static __always_inline void count_direct(__u32 guest, __u64 ts, __u32 kind, __u64 sub, __u64 delta)
{
	struct ht_counter_key key;
	__u64 origin = origin_ns, zero = 0, *v;

	if (ts < origin)
		return;
	key.guest = guest;
	key.bucket = (ts - origin) / bucket_ns;
	key.kind = kind;
	key.phase = phase_port ? guest_phase[guest & (HT_GUESTS_MAX - 1)] : 0;
	key.sub = sub;
	v = value_of(&counters, &key, &zero);
	if (v)
		__sync_fetch_and_add(v, delta);
}

/* The entry of a thread whose process exit (on_exit) already took out of `tracked`: its exit work
 * (unmapping, closing) can still wait and run, and be preempted. PF_EXITING (set before
 * sched_process_exit fires) keeps this extra lookup off every other untracked thread. */
#define HT_PF_EXITING 0x00000004

static __always_inline struct sched_thread *exiting_thread(struct task_struct *p, __u64 origin)
{
	struct sched_thread *t;
	__u32 tid;

	if (!(BPF_CORE_READ(p, flags) & HT_PF_EXITING))
		return 0;
	tid = BPF_CORE_READ(p, pid);
	t = bpf_map_lookup_elem(&sched_threads, &tid);
	return t && t->origin == origin ? t : 0;
}

/* sched_wakeup (p became runnable) and sched_wakeup_new (p, a new task, is runnable for the first
 * time). May run in interrupt context (a timer or an I/O completion waking p): it writes p's entry
 * only, never this CPU's state. A wakeup while p is still waiting keeps the earlier start (perf
 * sched keeps the first wakeup too); one while p runs (woken before it could block) is replaced at
 * its switch-out. */
static __always_inline int on_sched_wakeup(struct task_struct *p, bool new_task)
{
	__u32 tgid = BPF_CORE_READ(p, tgid), tid, *g;
	__u64 origin = origin_ns, ts;
	struct sched_thread *t;

	g = guest_of(tgid);
	if (!g) {
		t = new_task ? 0 : exiting_thread(p, origin);
		if (t && !t->runnable)
			t->runnable = bpf_ktime_get_ns();
		return 0;
	}
	tid = BPF_CORE_READ(p, pid);
	ts = bpf_ktime_get_ns();
	t = new_task ? 0 : bpf_map_lookup_elem(&sched_threads, &tid);
	if (t && t->origin == origin) {
		if (!t->runnable)
			t->runnable = ts;
		t->guest = *g;
		return 0;
	}
	/* a new task, or one not seen this run: a fresh entry (a dead thread's tid reused is one) */
	struct sched_thread fresh = { .runnable = ts, .origin = origin, .guest = *g };

	if (bpf_map_update_elem(&sched_threads, &tid, &fresh, BPF_ANY))
		__sync_fetch_and_add(&lost_counts, 1);
	return 0;
}

/* sched_switch: prev (current) leaves the CPU, next takes it. Runs with interrupts off, under the
 * run queue's lock. Untracked on both sides (the common case) costs a clock read and two lookups:
 * prev's entry (which exists only for a thread seen tracked this run, so the last run of a process
 * whose exit already took it out of `tracked` still counts) and next's process in `tracked` (which
 * also names the guest of whoever preempts a tracked thread).
 *
 * A switch can go unseen: a kernel may fire no tracepoint at all while some task is current (this
 * host's fires none while a thread of PID 1, the VM's agent, runs: perf records nothing of it
 * either), so a switch from such a task to a tracked thread is missing. The tracked thread's
 * switch-out then comes without its switch-in; like perf sched timehist, the switch-in is dated to
 * the last switch seen on this CPU (`last_switch`, hence the clock read on every switch): its wait
 * ends there and its run starts there (the hidden task's own run, usually a few us, counts as the
 * thread's), so that waits and runs still add up to the time since it became runnable, one wait per
 * run. When that last switch is the thread's own switch-out (the hidden task preempted it and gave
 * the CPU back), the wait is counted as 0 ns, as perf counts it.
 *
 * Involuntary: prev stays on its run queue. The tracepoint's `preempt` (kernel preemption: the task
 * stays queued whatever its state) or its `prev_state` (an argument since 5.18, in the tp_btf
 * signature and at the same place for raw_tp) being TASK_RUNNING says so; so does prev's __state
 * being TASK_RUNNING now: before 6.14, `prev_state` is the state read before __schedule() found a
 * signal pending and set the task running again instead of dequeuing it (6.14 passes the corrected
 * state), and no wakeup follows such a switch to start its wait. */
static __always_inline int on_sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next,
					   unsigned int prev_state)
{
	__u32 prev_tid = BPF_CORE_READ(prev, pid), next_tgid = BPF_CORE_READ(next, tgid), next_tid = 0;
	__u32 next_guest = 0, *g = 0;
	struct sched_thread *pt = 0, *nt = 0;
	struct ht_cpu_state *c = this_cpu();
	__u64 origin = origin_ns, ts, last;
	bool next_tracked = false;

	if (!c)
		return 0;
	ts = bpf_ktime_get_ns();	/* not now(): no jiffies read for the untracked switches */
	last = c->last_switch;
	c->last_switch = ts;
	if (prev_tid)	/* 0: this CPU's idle task */
		pt = bpf_map_lookup_elem(&sched_threads, &prev_tid);
	if (next_tgid) {
		g = guest_of(next_tgid);
		if (g) {
			next_guest = *g;
			next_tracked = true;
		} else if ((nt = exiting_thread(next, origin))) {
			next_guest = nt->guest;
			next_tracked = true;
		}
	}
	if (!pt && !next_tracked)
		return 0;
	if (pt) {
		if (pt->origin == origin) {
			bool runnable = preempt || prev_state == HT_TASK_RUNNING ||
					BPF_CORE_READ(prev, __state) == HT_TASK_RUNNING;
			__u64 in = pt->oncpu;

			if (!in) {	/* its switch-in went unseen: dated to the last switch seen here */
				in = last > pt->left ? last : pt->left;
				if (pt->runnable) {	/* a wait, ended then (0 if that switch was its own) */
					__u64 wait = last > pt->runnable ? last - pt->runnable : 0;

					count_in(c, HT_PENDING_SCHED_RUNQ, pt->guest, pt->runnable + wait,
						 HT_CNT_SCHED_RUNQ_NS, 0, wait);
					count_in(c, HT_PENDING_SCHED_RUNQ_LOG2, pt->guest, pt->runnable + wait,
						 HT_CNT_SCHED_RUNQ_LOG2, log2_u64(wait | 1), 1);
					if (pt->runnable > in)
						in = pt->runnable;
				}
			}
			if (in && ts > in)
				count_in(c, HT_PENDING_SCHED_ONCPU, pt->guest, ts, HT_CNT_SCHED_ONCPU_NS, 0, ts - in);
			pt->oncpu = 0;
			pt->left = ts;
			pt->runnable = runnable ? ts : 0;
			if (runnable)
				count_in(c, HT_PENDING_SCHED_SWITCH, pt->guest, ts, HT_CNT_SCHED_PREEMPTED,
					 ((__u64)next_guest << 32) | next_tgid, 1);
			else
				count_in(c, HT_PENDING_SCHED_SWITCH, pt->guest, ts, HT_CNT_SCHED_SWITCH_VOL, 0, 1);
		}
		if (prev_state & HT_TASK_DEAD)	/* its last switch: it never runs again */
			bpf_map_delete_elem(&sched_threads, &prev_tid);
	}
	if (!next_tracked)
		return 0;
	next_tid = BPF_CORE_READ(next, pid);
	if (!nt) {
		nt = bpf_map_lookup_elem(&sched_threads, &next_tid);
		if (nt && nt->origin != origin)
			nt = 0;
	}
	if (nt) {
		if (nt->runnable && ts > nt->runnable) {
			__u64 wait = ts - nt->runnable;

			count_in(c, HT_PENDING_SCHED_RUNQ, next_guest, ts, HT_CNT_SCHED_RUNQ_NS, 0, wait);
			count_in(c, HT_PENDING_SCHED_RUNQ_LOG2, next_guest, ts, HT_CNT_SCHED_RUNQ_LOG2, log2_u64(wait), 1);
		}
		nt->runnable = 0;
		nt->oncpu = ts;
		nt->guest = next_guest;
	} else {	/* first seen running (tracked since it last became runnable): no wait */
		struct sched_thread fresh = { .oncpu = ts, .origin = origin, .guest = next_guest };

		if (bpf_map_update_elem(&sched_threads, &next_tid, &fresh, BPF_ANY))
			__sync_fetch_and_add(&lost_counts, 1);
	}
	return 0;
}

/* sched_migrate_task: p moves to another CPU (load balancing, a wakeup on another CPU, affinity). */
static __always_inline int on_sched_migrate(struct task_struct *p)
{
	__u32 *g = guest_of(BPF_CORE_READ(p, tgid));

	if (g)
		count_direct(*g, bpf_ktime_get_ns(), HT_CNT_SCHED_MIGRATE, 0, 1);
	return 0;
}

/* ---- entry points: a tp_btf and a raw_tp twin over each body ---- */

#define HT_TWIN(tp, call, ...)							\
	SEC("tp_btf/" #tp) int BPF_PROG(tp##_btf, __VA_ARGS__) { return call; }	\
	SEC("raw_tp/" #tp) int BPF_PROG(tp##_raw, __VA_ARGS__) { return call; }

HT_TWIN(sched_process_exec, on_exec(p, bprm),
	struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
HT_TWIN(sched_process_fork, on_fork(parent, child),
	struct task_struct *parent, struct task_struct *child)
HT_TWIN(sched_process_exit, on_exit(p), struct task_struct *p)
HT_TWIN(task_rename, on_rename(task, comm), struct task_struct *task, const char *comm)
HT_TWIN(page_fault_user, on_fault(HT_CNT_FAULT_USER),
	unsigned long address, struct pt_regs *regs, unsigned long error_code)
HT_TWIN(page_fault_kernel, on_fault(HT_CNT_FAULT_KERNEL),
	unsigned long address, struct pt_regs *regs, unsigned long error_code)
HT_TWIN(kvm_fpu, load ? on_guest_state_loaded() : 0, __u32 load)
/* The start of KVM_RUN (see on_kvm_run). It runs on every system call of the host: the syscall
 * number first; the BTF twin reads the ioctl command straight from pt_regs (a plain load) where the
 * raw one needs a helper. */
SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter_btf, struct pt_regs *regs, long id)
{
	return id == ioctl_nr && (__u32)PT_REGS_PARM2(regs) == kvm_run_cmd ? on_kvm_run() : 0;
}

SEC("raw_tp/sys_enter")
int BPF_PROG(sys_enter_raw, struct pt_regs *regs, long id)
{
	return id == ioctl_nr && (__u32)PT_REGS_PARM2_CORE(regs) == kvm_run_cmd ? on_kvm_run() : 0;
}

HT_TWIN(kvm_userspace_exit, on_kvm_userspace_exit(reason), __u32 reason, int err)
HT_TWIN(kvm_pio, on_kvm_pio(rw, port, data),
	unsigned int rw, unsigned int port, unsigned int size, unsigned int cnt, const void *data)
HT_TWIN(kvm_mmio, on_kvm_mmio(type, gpa), int type, int len, __u64 gpa, void *val)
HT_TWIN(ksm_merge_one_page, on_ksm_merge(mm, err),
	unsigned long pfn, void *rmap_item, void *mm, int err)
HT_TWIN(ksm_merge_with_ksm_page, on_ksm_merge(mm, err),
	void *ksm_page, unsigned long pfn, void *rmap_item, void *mm, int err)
HT_TWIN(ksm_stop_scan, on_ksm_stop_scan(seq, rmap_entries), int seq, __u32 rmap_entries)
HT_TWIN(sched_switch, on_sched_switch(preempt, prev, next, prev_state),
	bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state)
HT_TWIN(sched_wakeup, on_sched_wakeup(p, false), struct task_struct *p)
HT_TWIN(sched_wakeup_new, on_sched_wakeup(p, true), struct task_struct *p)
HT_TWIN(sched_migrate_task, on_sched_migrate(p), struct task_struct *p, int dest_cpu)
