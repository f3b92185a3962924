// The OOM killer (mm/oom_kill.c, Linux 6.18): out_of_memory(), select_bad_process() with
// oom_evaluate_task(), oom_badness(), oom_kill_process() / __oom_kill_process(), and the
// oom_reaper's __oom_reap_task_mm().
//
// What mmemu does differently, and why:
// - Linux sends SIGKILL and lets the victim exit on its CPU (the oom_reaper steps in after
//   OOM_REAPER_DELAY if it does not) while the allocating task waits and retries. mmemu runs one
//   event at a time, so the victim's anonymous pages are freed at once, as the reaper frees them
//   (unmap_page_range over every private VMA), and the victim itself exits at the end of the
//   event, when its page tables, VMAs and kernel objects go. The one exception is a victim that
//   is the allocating task (or shares its mm): its pages are in use by the fault in progress, so
//   it only gets access to the reserves (ALLOC_OOM) and dies on its way back to user mode.
// - With no process to kill Linux panics ("Out of memory and no killable processes..." then
//   "System is deadlocked on memory"); mmemu counts it and fails the allocation.
// - A GFP_NOFS allocation makes out_of_memory() return true without a kill (the allocator keeps
//   retrying, waiting for another context's OOM); mmemu fails it.
// - Processes run as uid 1000 (the log line's UID).
// - mmemu has no init task (pid 1 of a scenario is an ordinary process), no kernel threads, no
//   memcg or cpuset constraint, and no swap (totalpages = totalram_pages()).
#include <climits>

#include "mmcore/address_spaces.h"

namespace mmemu {

namespace {
// OOM_SCORE_ADJ_MIN (include/uapi/linux/oom.h): never chosen.
constexpr int OOM_SCORE_ADJ_MIN = -1000;
} // namespace

std::string OomKill::message() const {
    auto kb = [](uint64_t pages) { return std::to_string(pages * (PAGE_SIZE / 1024)) + "kB"; };
    return "Out of memory: Killed process " + std::to_string(pid) + " (" + comm +
           ") total-vm:" + kb(total_vm) + ", anon-rss:" + kb(anon_rss) +
           ", file-rss:" + kb(file_rss) + ", shmem-rss:" + kb(shmem_rss) +
           ", UID:1000 pgtables:" + std::to_string(pgtables_bytes >> 10) +
           "kB oom_score_adj:" + std::to_string(oom_score_adj);
}

// oom_badness(): points = get_mm_rss_sum + MM_SWAPENTS + mm_pgtables_bytes / PAGE_SIZE, then
// oom_score_adj * (totalpages / 1000) added; LONG_MIN (here nullopt) for OOM_SCORE_ADJ_MIN, an
// mm with MMF_OOM_SKIP, or a task without an mm.
std::optional<int64_t> AddressSpaces::oom_badness(const task_struct* t, uint64_t totalpages) const {
    if (t->exited || !t->mm) return std::nullopt;
    if (t->oom_score_adj == OOM_SCORE_ADJ_MIN || t->mm->mmf_oom_skip) return std::nullopt;
    const mm_struct* mm = t->mm;
    int64_t points = int64_t(mm->get_mm_rss() + mm->get_mm_counter(MM_SWAPENTS) +
                             mm->pgtables_bytes / PAGE_SIZE);
    points += int64_t(t->oom_score_adj) * int64_t(totalpages / 1000);
    return points;
}

uint64_t AddressSpaces::oom_score(const task_struct& t) const {
    const uint64_t totalpages = pa_.totalram_pages();
    const auto badness = oom_badness(&t, totalpages);
    if (!badness || totalpages == 0) return 0;
    return uint64_t((1000 + *badness * 1000 / int64_t(totalpages)) * 2 / 3);
}

// out_of_memory() for an allocation that reclaim could not satisfy.
OomResult AddressSpaces::out_of_memory(gfp_t gfp, unsigned order, unsigned cpu, uint64_t nodemask) {
    // "The OOM killer does not compensate for IO-less reclaim."
    if (!(gfp & __GFP_FS)) return OomResult::not_invoked;
    task_struct* cur = current_[cpu];
    // task_will_free_mem(current): a task already dying (SIGKILL sent) is let into the reserves
    // and nothing else is killed.
    // (__task_will_free_mem(): also a process whose group exit is claimed, SIGNAL_GROUP_EXIT.)
    if (cur && (cur->sigkill_pending || group_exiting(cur))) {
        cur->oom_victim = true;
        return OomResult::victim_pending;
    }
    // constrained_alloc(): no memcg or cpuset; a nodemask (an MPOL_BIND policy's)
    // that leaves out a node with memory is a CONSTRAINT_MEMORY_POLICY, whose total is the
    // present pages of its nodes (no swap); else totalram + swap.
    uint64_t totalpages = pa_.totalram_pages();
    const uint64_t memory_nodes = nodes_with_memory();
    const bool policy_constraint = (memory_nodes & ~nodemask) != 0;
    if (policy_constraint) {
        totalpages = 0;
        for (const pglist_data& n : pa_.nodes)
            if (nodemask >> n.node_id & 1) totalpages += n.node_present_pages;
    }
    // oom_cpuset_eligible() -> mempolicy_in_oom_domain() for a constrained OOM: a process is a
    // candidate unless every one of its tasks has a BIND policy none of whose nodes is in the
    // mask (it could not be freeing memory there).
    auto eligible = [&](const task_struct* leader) {
        if (!policy_constraint) return true;
        auto in_domain = [&](const task_struct* t) {
            return !(t->mempolicy.set && t->mempolicy.mode == MpolMode::BIND) ||
                   (t->mempolicy.nodes & nodemask) != 0;
        };
        if (in_domain(leader)) return true;
        for (const task_struct* th : leader->threads)
            if (!th->exited && in_domain(th)) return true;
        return false;
    };
    // select_bad_process() -> oom_evaluate_task() over for_each_process() (creation order): the
    // highest score wins, a later task on a tie (only a lower score is passed over); a victim
    // not yet reaped makes the OOM killer wait for it instead.
    task_struct* chosen = nullptr;
    int64_t chosen_points = LLONG_MIN;
    for (const auto& tp : tasks_) {
        task_struct* t = tp.get();
        if (t->exited || !t->is_leader()) continue; // for_each_process(): leaders
        if (!eligible(t)) continue;
        if (t->oom_victim) {
            if (t->mm && t->mm->mmf_oom_skip) continue;
            return OomResult::victim_pending;
        }
        const auto points = oom_badness(t, totalpages);
        if (!points || *points < chosen_points) continue;
        chosen = t;
        chosen_points = *points;
    }
    if (!chosen) {
        counts_.oom_no_victim++;
        return OomResult::no_victim;
    }
    oom_kill_process(chosen, chosen_points, totalpages, gfp, order, cpu,
                     policy_constraint ? nodemask : NODEMASK_ALL);
    return OomResult::killed;
}

// oom_kill_process() -> __oom_kill_process(): SIGKILL to the victim (and to every other process
// sharing its mm), mark_oom_victim(), OOM_KILL counted, the kernel's log line kept, then the
// reaper (queue_oom_reaper()).
void AddressSpaces::oom_kill_process(task_struct* victim, int64_t points, uint64_t totalpages,
                                     gfp_t gfp, unsigned order, unsigned cpu, uint64_t nodemask) {
    mm_struct* mm = victim->mm;
    OomKill k;
    if (nodemask != NODEMASK_ALL) {
        k.constraint = "CONSTRAINT_MEMORY_POLICY";
        k.nodemask = nodelist_str(nodemask);
    }
    k.pid = victim->pid;
    k.comm = victim->comm;
    k.invoked_by = current_[cpu] ? current_[cpu]->comm : "";
    k.gfp_mask = gfp;
    k.order = order;
    k.points = points;
    k.totalpages = totalpages;
    k.total_vm = mm->total_vm;
    k.anon_rss = mm->get_mm_counter(MM_ANONPAGES);
    k.file_rss = mm->get_mm_counter(MM_FILEPAGES);
    k.shmem_rss = mm->get_mm_counter(MM_SHMEMPAGES);
    k.pgtables_bytes = mm->pgtables_bytes;
    k.oom_score_adj = victim->oom_score_adj;
    vmstat_.oom_kill++;
    const std::string reason = k.message();
    for (const auto& tp : tasks_) {
        task_struct* t = tp.get();
        if (t->exited || t->mm != mm || t->sigkill_pending) continue;
        t->kill_reason = reason; // before the flag: the task's CPU reads it once it sees the flag
        t->sigkill_pending = true;
        kills_pending_ = true;
    }
    victim->oom_victim = true;
    oom_kills_.push_back(std::move(k));
    // The reaper cannot take the pages of the mm the allocation in progress runs in.
    const task_struct* cur = current_[cpu];
    if (!cur || cur->mm != mm) oom_reap_task_mm(mm, cpu);
}

// __oom_reap_task_mm(): every VMA but VM_HUGETLB / VM_PFNMAP that is anonymous or private is
// unmapped (unmap_page_range under its own mmu_gather: the PTEs cleared, the TLB flushed, the
// pages freed); the page tables and VMAs stay for exit_mmap(). Then MMF_OOM_SKIP hides the mm
// from the next OOM kill.
void AddressSpaces::oom_reap_task_mm(mm_struct* mm, unsigned cpu) {
    // oom_reap_task(): mmap_read_trylock(), never waiting; a holder makes the reaper retry
    // later (MAX_OOM_REAP_RETRIES) and then give up with MMF_OOM_SKIP. mmemu does not retry:
    // the victim's exit frees its memory.
    if (!mm->mmap_lock.down_read_trylock()) {
        mm->mmf_oom_skip = true;
        return;
    }
    struct Unlock {
        rw_semaphore& l;
        ~Unlock() { l.up_read(); }
    } unlock{mm->mmap_lock};
    std::vector<vm_area_struct*> all;
    mm->mm_mt.for_each(
        [&](const MapleRange& r) { all.push_back(reinterpret_cast<vm_area_struct*>(r.entry)); });
    for (vm_area_struct* v : all) {
        if (v->vm_flags & VM_PFNMAP) continue;
        if (v->vm_flags & VM_SHARED) continue; // only anonymous or private memory
        zap_range(mm, v->vm_start, v->vm_end, cpu);
    }
    mm->mmf_oom_skip = true;
}

} // namespace mmemu
