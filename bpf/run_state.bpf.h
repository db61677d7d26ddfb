/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * The vCPU threads' KVM_RUN state (struct ht_run_state), in their task storage: written by
 * trace.bpf.c, read by profile.bpf.c, one map (userspace hands the profiler the tracer's fd).
 */
#ifndef HYPETRACE_BPF_RUN_STATE_H
#define HYPETRACE_BPF_RUN_STATE_H

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ht_run_state);
} kvm_run_start SEC(".maps");

#endif
