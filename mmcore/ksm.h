// What the memory manager tells KSM and asks of it (include/linux/ksm.h, Linux 6.18). mmcore
// defines the interface and ksm/ implements it: System wires one in (CONFIG_KSM). Without one,
// MADV_MERGEABLE and MADV_UNMERGEABLE are EINVAL, as in a kernel built without KSM.
#pragma once

#include <cstdint>
#include <functional>

#include "mmcore/mm_types.h"

namespace mmemu {

struct page;

// ksm_compatible(): memory KSM may merge: private, not VM_IO / VM_DONTEXPAND / VM_PFNMAP /
// VM_MIXEDMAP (VM_SPECIAL) or hugetlb (no DAX files here).
inline bool ksm_compatible(vm_flags_t vm_flags) {
    return !(vm_flags & (VM_SHARED | VM_MAYSHARE | VM_IO | VM_DONTEXPAND | VM_PFNMAP));
}
// ksm_vma_flags(): a new VMA of an mm under prctl(PR_SET_MEMORY_MERGE, 1) is mergeable.
inline vm_flags_t ksm_vma_flags(const mm_struct* mm, vm_flags_t vm_flags) {
    if (mm->mmf_vm_merge_any && !(vm_flags & VM_MERGEABLE) && ksm_compatible(vm_flags))
        vm_flags |= VM_MERGEABLE;
    return vm_flags;
}

class KsmHooks {
public:
    virtual ~KsmHooks() = default;
    // ksm_madvise(): MADV_MERGEABLE or MADV_UNMERGEABLE of [start, end) of vma (one VMA's
    // part). May change vm_flags (the caller splits the VMA for them); 0 or -errno.
    virtual int ksm_madvise(mm_struct* mm, vm_area_struct* vma, uint64_t start, uint64_t end,
                            int advice, vm_flags_t& vm_flags, unsigned cpu) = 0;
    // ksm_fork(): dup_mmap() of a child of `oldmm`, before its VMAs are copied.
    virtual void ksm_fork(mm_struct* mm, mm_struct* oldmm) = 0;
    // ksm_execve(): the new mm of an exec inherited MMF_VM_MERGE_ANY: it registers. 0 or -errno.
    virtual int ksm_execve(mm_struct* mm) = 0;
    // ksm_exit(): __mmput() of mm, before exit_mmap().
    virtual void ksm_exit(mm_struct* mm) = 0;
    // ksm_might_unmap_zero_page(): a PTE of a zero page KSM placed is unmapped or replaced
    // (mm->ksm_zero_pages has been lowered; this lowers the global ksm_zero_pages).
    virtual void ksm_zero_page_unmapped() = 0;
    // The rmap_items of a KSM page's stable node (its hlist): f(mm, anon_vma, address) for
    // each. mmcore's rmap_walk_ksm() walks the VMAs chained to each anon_vma from there, which
    // also finds the mappings a fork copied before ksmd visited the child.
    virtual void ksm_rmap_items(
        const page& p,
        const std::function<void(const mm_struct*, const anon_vma*, uint64_t)>& f) const = 0;
};

} // namespace mmemu
