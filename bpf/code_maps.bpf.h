/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A sampled process's executable file mappings, sent from the kernel to ring "samples"
 * (struct code_mapping): userspace used to read /proc/PID/maps when a process's first sample
 * woke it, and a process of 15 ms was often gone by then (exit tears its mappings down long
 * before it is reaped). Sent in the process's own context, where its mm can be walked (the
 * task_vma iterator's trylock always fails in the sample's interrupt): at exec
 * (sched_process_exec), and when a sample finds its executable mappings changed since
 * (mm->exec_vm moved: the loader mapping libraries, dlopen; or a new mm) by a task work the
 * sample schedules, run as the thread returns to user mode. Such a sample is flagged
 * STACK_SAMPLE_MAPPINGS_PENDING: userspace unwinds it once the set has come. No probe on mmap
 * (no kprobes here, and a syscall tracepoint would slow every syscall of the machine).
 * Needs ring "samples", maps "losses" and "comms" and wanted() declared before it.
 */
#ifndef PERFBPF_CODE_MAPS_BPF_H
#define PERFBPF_CODE_MAPS_BPF_H

#include "global_func.bpf.h"
#include "kernel_calls.h"

#define CODE_VM_EXEC 0x4ULL		 /* VM_EXEC, include/linux/mm.h */
#define CODE_FREE_SETS 32	 /* sets sent for one mm as soon as needed (the loader maps a library at a time) */
#define CODE_RESEND_NS 5000000ULL /* past them, a process whose code keeps changing (a JIT): 200 sets/s at most */
#define CODE_MAX_VMAS 4096		 /* mappings looked at per set: a bound on the sample's time */

/* Open-coded task_vma iterator (kernel 6.7+): walks the mm under mmap_read_trylock. Kernel
 * functions are called through kernel_calls.h's stand-ins, from its sections only. */
PERFBPF_KERNEL_CALL(int, bpf_iter_task_vma_new, (struct bpf_iter_task_vma *it, struct task_struct *task, __u64 addr));
PERFBPF_KERNEL_CALL(struct vm_area_struct *, bpf_iter_task_vma_next, (struct bpf_iter_task_vma *it));
PERFBPF_KERNEL_CALL(void, bpf_iter_task_vma_destroy, (struct bpf_iter_task_vma *it));

struct code_state {
	__u64 mm;	    /* the address space last sent (its address: a new one after exec), 0 none */
	__u64 exec_vm;	    /* its mm->exec_vm (pages of executable mappings) then */
	__u64 sent_ns;	    /* when */
	__u32 scheduled;    /* a task work to send them is queued */
	__u32 sets;	    /* sets sent for this mm */
	struct bpf_task_work work;
};

/* LRU: processes come and go system-wide; one evicted only has its set sent again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PROFILE_MAX_TGIDS);
	__type(key, __u32); /* tgid */
	__type(value, struct code_state);
} code_sent SEC(".maps");

PERFBPF_KERNEL_CALL(int, bpf_task_work_schedule_resume_impl,
		    (struct task_struct *task, struct bpf_task_work *tw, void *map__map,
		     int (*callback)(struct bpf_map *map, void *key, void *value), void *aux__prog));

/*
 * One record assembled per CPU (too big for the BPF stack), and the walk's counts: kept in a
 * map, not in registers, so the verifier sees one iteration of the mappings' loop like the next
 * (counting in a register, each count is a new state: too many to verify).
 */
struct mapping_scratch {
	struct code_mapping rec;
	__u32 seen;  /* mappings looked at in this walk */
	__u32 flags; /* for the next record: CODE_MAPPING_FIRST and _NEW_MM until one is sent */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mapping_scratch);
} mapping_scratch SEC(".maps");

struct path_walk {
	struct dentry *d;  /* the component to name next */
	struct mount *mnt; /* the mount it is in */
	__u32 n;	   /* components named */
	bool done;	   /* reached the namespace's root */
};

/* One step up: a component named, or a mount crossed to where it is mounted. */
static long path_step(__u64 i, void *ctx)
{
	struct path_walk *w = ctx;
	/* Locals: CO-RE relocates kernel types, and struct path_walk is none. */
	struct dentry *d = w->d;
	struct mount *mnt = w->mnt;
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	struct mapping_scratch *sc;
	__u32 zero = 0, n = w->n;

	if (d == BPF_CORE_READ(mnt, mnt.mnt_root) || d == parent) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

		if (up == mnt) {
			w->done = true;
			return 1;
		}
		w->d = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = up;
		return 0;
	}
	sc = bpf_map_lookup_elem(&mapping_scratch, &zero);
	if (!sc || n >= PROFILE_PATH_DEPTH)
		return 1;
	bpf_probe_read_kernel_str(sc->rec.names[n], PROFILE_NAME_LEN, BPF_CORE_READ(d, d_name.name));
	w->n = n + 1;
	w->d = parent;
	return 0;
}

/*
 * FILE's path as its process sees it into REC, a component at a time up to its mount
 * namespace's root, crossing mounts (bpf_d_path is not allowed in these programs). A loop of
 * its own (bpf_loop): unrolled inside the mappings' loop it is more than the verifier takes.
 */
static __always_inline void code_mapping_path(struct code_mapping *rec, struct file *file)
{
	struct vfsmount *vfs = BPF_CORE_READ(file, f_path.mnt);
	struct path_walk w = {
		.d = BPF_CORE_READ(file, f_path.dentry),
		.mnt = (void *)vfs - bpf_core_field_offset(struct mount, mnt),
	};

	bpf_loop(2 * PROFILE_PATH_DEPTH, path_step, &w, 0);
	rec->depth = w.n;
	if (!w.done)
		rec->flags |= CODE_MAPPING_PATH_CUT;
}

/*
 * One mapping of a walk: sent when it is executable code of a file or the vDSO (at
 * VDSO_START). 1 to go on with the walk, 0 to end it (CODE_MAX_VMAS looked at, or the ring
 * full). A global function, so the verifier checks it once, on its own: inlined into the
 * walk's loop, each of its paths (vDSO or file, the path loop, ring full or not) left the
 * loop's head in another state, and the loop was verified again from each, in every program
 * that walks (handle_exec and handle_fork took ten times as long to verify as handle_switch).
 */
__noinline int send_code_mapping(struct vm_area_struct *vma __arg_trusted, __u32 tgid, __u64 vdso_start)
{
	struct mapping_scratch *sc;
	struct code_mapping *rec;
	struct file *file;
	__u32 zero = 0;
	bool vdso;

	sc = bpf_map_lookup_elem(&mapping_scratch, &zero);
	if (!sc || ++sc->seen > CODE_MAX_VMAS)
		return 0;
	if (!(BPF_CORE_READ(vma, vm_flags) & CODE_VM_EXEC))
		return 1;
	file = BPF_CORE_READ(vma, vm_file);
	/* The vDSO has no file, but code a sample lands in (clock_gettime's syscall). */
	vdso = !file && BPF_CORE_READ(vma, vm_start) == vdso_start;
	if (!file && !vdso)
		return 1;
	rec = &sc->rec;
	rec->kind = PROFILE_RECORD_MAPPING;
	rec->tgid = tgid;
	rec->start = BPF_CORE_READ(vma, vm_start);
	rec->end = BPF_CORE_READ(vma, vm_end);
	rec->offset = BPF_CORE_READ(vma, vm_pgoff) << 12;
	rec->flags = sc->flags;
	if (vdso) {
		rec->dev = rec->ino = 0;
		rec->depth = 0;
		rec->flags |= CODE_MAPPING_VDSO;
	} else {
		rec->dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
		rec->ino = BPF_CORE_READ(file, f_inode, i_ino);
		code_mapping_path(rec, file);
	}
	/*
	 * Default wakeup: the reader is woken if it waits (the sample after it forces it).
	 * A set's first record forces it when records are queued already: fork records
	 * wake nobody, and behind one the default would not wake the reader either, who
	 * must open the files while the process lives.
	 */
	if (bpf_ringbuf_output(&samples, rec, sizeof(*rec),
			       (rec->flags & CODE_MAPPING_FIRST) && bpf_ringbuf_query(&samples, BPF_RB_AVAIL_DATA)
				       ? BPF_RB_FORCE_WAKEUP
				       : 0)) {
		count_loss(PROFILE_LOSS_CODE_MAPPING);
		return 0;
	}
	sc->flags = 0;
	return 1;
}

/* Sends TASK's executable file mappings; false when its mm could not be walked now (busy). */
static __always_inline bool send_code_mappings(struct task_struct *task, __u32 tgid, bool new_mm)
{
	struct bpf_iter_task_vma it;
	struct vm_area_struct *vma;
	struct mapping_scratch *sc;
	__u64 vdso_start;
	__u32 zero = 0;

	sc = bpf_map_lookup_elem(&mapping_scratch, &zero);
	if (!sc)
		return false;
	sc->seen = 0;
	sc->flags = CODE_MAPPING_FIRST | (new_mm ? CODE_MAPPING_NEW_MM : 0);
	if (bpf_iter_task_vma_new(&it, task, 0)) {
		bpf_iter_task_vma_destroy(&it);
		return false;
	}
	/* Read once, under the mm's lock the walk holds: the vDSO cannot move (mremap) meanwhile. */
	vdso_start = (__u64)BPF_CORE_READ(task, mm, context.vdso);
	while ((vma = bpf_iter_task_vma_next(&it)))
		if (!send_code_mapping(vma, tgid, vdso_start))
			break;
	bpf_iter_task_vma_destroy(&it);
	return true;
}

/* Sends the current task's code mappings now (its own context) and notes them in ST. */
static __always_inline void send_code_mappings_now(__u32 tgid, struct code_state *st)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct mm_struct *mm = BPF_CORE_READ(task, mm);

	st->scheduled = 0;
	if (!mm)
		return;
	if (!send_code_mappings(task, tgid, st->mm != (__u64)mm))
		return;
	st->sets = st->mm == (__u64)mm ? st->sets + 1 : 1;
	st->mm = (__u64)mm;
	st->exec_vm = BPF_CORE_READ(mm, exec_vm);
	st->sent_ns = bpf_ktime_get_ns();
}

static int send_code_mappings_work(struct bpf_map *map, void *key, void *value)
{
	__u32 tgid = *(__u32 *)key;

	if ((bpf_get_current_pid_tgid() >> 32) == tgid)
		send_code_mappings_now(tgid, value);
	return 0;
}

static __always_inline struct code_state *code_state_of(__u32 tgid)
{
	struct code_state fresh = {};

	return map_lookup_or_init(&code_sent, &tgid, &fresh);
}

/*
 * At a sample: true when the process's code mappings changed since they were last sent, a
 * task work is queued to send them, and the sample must wait for them in userspace.
 */
static __always_inline bool code_mappings_pending(struct task_struct *task, __u32 tgid)
{
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	struct code_state *st;

	if (!mm)
		return false;
	st = code_state_of(tgid);
	if (!st || (st->mm == (__u64)mm && st->exec_vm == BPF_CORE_READ(mm, exec_vm)))
		return false;
	if (st->scheduled)
		return true;
	/* A JIT's code changing all the time: its sets at most every CODE_RESEND_NS. */
	if (st->mm == (__u64)mm && st->sets >= CODE_FREE_SETS && bpf_ktime_get_ns() - st->sent_ns < CODE_RESEND_NS)
		return false;
	if (bpf_task_work_schedule_resume_impl(task, &st->work, &code_sent, send_code_mappings_work, NULL))
		return false;
	st->scheduled = 1;
	return true;
}

/* A new program image: its code mappings (the binary, the loader) before its first sample. */
SEC("perfbpf.tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct code_state *st;
	__u32 tgid = id >> 32;
	char comm[PROFILE_COMM_LEN];

	if (!wanted(tgid, (__u32)id))
		return 0;
	/* Its name as exec made it (a sample before, of the forked copy, named it after the parent). */
	BPF_CORE_READ_STR_INTO(&comm, p, group_leader, comm);
	bpf_map_update_elem(&comms, &tgid, &comm, BPF_EXIST); /* none yet: its first sample names it */
	st = code_state_of(tgid);
	if (st)
		send_code_mappings_now(id >> 32, st);
	return 0;
}

/* A sampled process forks: its child's code mappings are its own until it execs. */
SEC("perfbpf.tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	struct code_fork rec = {.kind = PROFILE_RECORD_FORK};
	struct code_state st = {}, *pst;
	struct mm_struct *mm;

	rec.parent_tgid = BPF_CORE_READ(parent, tgid);
	rec.tgid = BPF_CORE_READ(child, tgid);
	if (rec.tgid == rec.parent_tgid || !wanted(rec.parent_tgid, BPF_CORE_READ(parent, pid)))
		return 0;
	/*
	 * The child's copy is only as good as what userspace has of the parent: a shell that
	 * loaded its libraries after its last set and was not sampled since sends them now (this
	 * runs in the parent's context, its mm unlocked).
	 */
	pst = code_state_of(rec.parent_tgid);
	mm = BPF_CORE_READ(parent, mm);
	if (pst && mm && (pst->mm != (__u64)mm || pst->exec_vm != BPF_CORE_READ(mm, exec_vm)))
		send_code_mappings_now(rec.parent_tgid, pst);
	/*
	 * No wakeup: userspace only copies the parent's mappings for the child, in ring order,
	 * whenever it next drains (its 100 ms tick). Woken per fork, a fork-heavy machine woke an
	 * --off-cpu --system session about 60 times a second for nothing urgent.
	 */
	if (bpf_ringbuf_output(&samples, &rec, sizeof(rec), BPF_RB_NO_WAKEUP)) {
		count_loss(PROFILE_LOSS_CODE_MAPPING);
		return 0;
	}
	/* The child's samples need no new set until its code changes (exec, dlopen). */
	mm = BPF_CORE_READ(child, mm);
	if (mm) {
		st.mm = (__u64)mm;
		st.exec_vm = BPF_CORE_READ(mm, exec_vm);
		st.sets = 1;
		st.sent_ns = bpf_ktime_get_ns();
		bpf_map_update_elem(&code_sent, &rec.tgid, &st, BPF_ANY);
	}
	return 0;
}

#endif /* PERFBPF_CODE_MAPS_BPF_H */
