// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * hypetrace's CPU profiler: a perf-event program (one software cpu-clock event per CPU, opened by
 * userspace at the sampling frequency) that takes the kernel and user stack of whatever runs and
 * counts it in the kernel. Nothing is streamed: userspace drains `samples` and reads the stacks
 * it has not seen from `stacks` (and deletes them there, so the map never fills).
 *
 * A stack is named by a hash of its addresses; a user stack's addresses mean something only
 * together with its process, which the key holds. Idle (pid 0) is counted apart, not sampled.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "hypetrace.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile __u64 bucket_ns = 1000000000;
const volatile bool track_handling = false;	/* kvm_run_start is the tracer's (map reuse) */

__u64 origin_ns;	/* set by userspace per recording */
__u64 idle_samples;	/* samples of the idle task */
__u64 lost_samples;	/* `samples` full */
__u64 lost_stacks;	/* `stacks` full: the sample is counted without that stack */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ht_sample_key);
	__type(value, __u64);
} samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct ht_stack);
} stacks SEC(".maps");

/* The tracer's map (userspace reuses its fd): which exit a vCPU thread in QEMU is handling. */
#include "run_state.bpf.h"

struct scratch {
	struct ht_stack k, u;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* Hash of the stack's `depth` frames (FNV-1a over the addresses), stored if new; 0 if no stack. */
static __always_inline __u64 keep_stack(struct ht_stack *st, long bytes)
{
	__u64 h = 0xcbf29ce484222325ULL;
	__u32 n, i;

	if (bytes <= 0)
		return 0;
	n = bytes / sizeof(__u64);
	if (n > HT_STACK_DEPTH)
		n = HT_STACK_DEPTH;
	st->depth = n;
	for (i = 0; i < HT_STACK_DEPTH; i++) {
		if (i >= n)
			break;
		h ^= st->ip[i];
		h *= 0x100000001b3ULL;
	}
	h |= 1;
	if (!bpf_map_lookup_elem(&stacks, &h) && bpf_map_update_elem(&stacks, &h, st, BPF_NOEXIST) != 0 &&
	    !bpf_map_lookup_elem(&stacks, &h)) {
		__sync_fetch_and_add(&lost_stacks, 1);
		return 0;
	}
	return h;
}

SEC("perf_event")
int ht_sample(struct bpf_perf_event_data *ctx)
{
	__u64 pt = bpf_get_current_pid_tgid(), ts, one = 1, *val;
	struct ht_sample_key key = {};
	struct scratch *s;
	__u32 zero = 0;

	if ((__u32)pt == 0) {
		__sync_fetch_and_add(&idle_samples, 1);
		return 0;
	}
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	key.tgid = pt >> 32;
	key.pid = (__u32)pt;
	key.kstack = keep_stack(&s->k, bpf_get_stack(ctx, s->k.ip, sizeof(s->k.ip), 0));
	key.ustack = keep_stack(&s->u, bpf_get_stack(ctx, s->u.ip, sizeof(s->u.ip), BPF_F_USER_STACK));
	ts = bpf_ktime_get_ns();
	key.bucket = ts > origin_ns ? (ts - origin_ns) / bucket_ns : 0;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	if (track_handling) {
		struct ht_run_state *rs = bpf_task_storage_get(&kvm_run_start, bpf_get_current_task_btf(), 0, 0);

		if (rs && !rs->active)
			key.handling = rs->handling;
	}
	val = bpf_map_lookup_elem(&samples, &key);
	if (val) {
		__sync_fetch_and_add(val, 1);
		return 0;
	}
	if (bpf_map_update_elem(&samples, &key, &one, BPF_NOEXIST) != 0) {
		val = bpf_map_lookup_elem(&samples, &key);
		if (val)
			__sync_fetch_and_add(val, 1);
		else
			__sync_fetch_and_add(&lost_samples, 1);
	}
	return 0;
}
