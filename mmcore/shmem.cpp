// Shared anonymous memory (mm/shmem.c, Linux 6.18): mmap(MAP_SHARED | MAP_ANONYMOUS) gives the
// VMA an unlinked "dev/zero" file of the internal tmpfs (shmem_zero_setup ->
// shmem_kernel_file_setup: a shmem inode, a dentry, a struct file), and its pages live in that
// inode's page cache, shared by every VMA that maps the file — in the process and in the
// children it forks (dup_mmap copies no PTEs for such a VMA: vma_needs_copy() is false without
// an anon_vma, and the child faults the pages in from the cache). Facts, with the kernel
// functions they come from: docs/dev/shmem-facts.md.
//
// What mmemu leaves out: swap (no shmem page is ever swapped), fault-around (filemap_map_pages
// maps up to 16 neighbouring cached pages on a read fault; mmemu maps the faulting page alone),
// the page cache's xarray nodes (radix_tree_node objects), MADV_REMOVE, shmem THP (off by
// default), memory-policy hooks, and the commit charge (Committed_AS) of the mapping.
#include <algorithm>

#include "mmcore/address_spaces.h"
#include "mmcore/bug.h"
#include "mmcore/gfp.h"

namespace mmemu {

// shmem_zero_setup(): a new shmem object the size of the VMA, held by it; the VMA's pgoff is 0
// (the mapping starts at the file's first page). 0 or -ENOMEM.
int AddressSpaces::shmem_zero_setup(vm_area_struct* vma, unsigned cpu) {
    const SlabObj inode = slab_.kmem_cache_alloc(shmem_inode_cachep_, GFP_KERNEL, cpu);
    if (inode.null()) return -ENOMEM;
    const SlabObj dentry = slab_.kmem_cache_alloc(dentry_cachep_, GFP_KERNEL, cpu);
    if (dentry.null()) {
        slab_.kmem_cache_free(shmem_inode_cachep_, inode, cpu);
        return -ENOMEM;
    }
    const SlabObj file = slab_.kmem_cache_alloc(filp_cachep_, GFP_KERNEL, cpu);
    if (file.null()) {
        slab_.kmem_cache_free(dentry_cachep_, dentry, cpu);
        slab_.kmem_cache_free(shmem_inode_cachep_, inode, cpu);
        return -ENOMEM;
    }
    auto* f = new shmem_file;
    f->ino = ++last_ino_;
    f->size_pages = vma->pages();
    f->f_count = 1;
    f->inode_obj = inode;
    f->dentry_obj = dentry;
    f->file_obj = file;
    shmem_files_.push_back(f);
    vma->vm_file = f;
    vma->vm_pgoff = 0;
    return 0;
}

// fput(): the last reference frees the file, the dentry and the inode (shmem_evict_inode ->
// shmem_truncate_range): every cached page leaves the page cache and is freed (no mapping can
// hold one any more: each VMA that maps the file holds a reference).
void AddressSpaces::fput(shmem_file* f, unsigned cpu) {
    if (--f->f_count > 0) return;
    if (tearing_down_) return; // host memory only (the destructor deletes the object)
    for (const auto& [index, pfn] : f->pages) {
        page* p = pa_.mem_map().pfn_to_page(pfn);
        if (p->_mapcount != 0 || p->_refcount != 1)
            throw KernelBug("shmem_evict_inode: a page of a file nothing maps is still mapped");
        vmstat_.nr_shmem--;
        vmstat_.nr_file_pages--;
        p->mapping = 0;
        p->index = 0;
        p->clear(PG_swapbacked);
        pa_.free_pages(p, 0, cpu);
    }
    slab_.kmem_cache_free(filp_cachep_, f->file_obj, cpu);
    slab_.kmem_cache_free(dentry_cachep_, f->dentry_obj, cpu);
    slab_.kmem_cache_free(shmem_inode_cachep_, f->inode_obj, cpu);
    shmem_files_.erase(std::find(shmem_files_.begin(), shmem_files_.end(), f));
    delete f;
}

// shmem_fault() + finish_fault(): the page at the VMA's file index for addr, from the page cache
// or, on a hole, a new zeroed page (GFP_HIGHUSER_MOVABLE, shmem_alloc_and_add_folio: NR_SHMEM
// and NR_FILE_PAGES) — for a read as for a write: shmem has no zero-page path. Mapped with the
// VMA's protection, which for a writable shared mapping is writable already (shmem wants no
// write notification), dirty on a write; one more mapping (NR_FILE_MAPPED on the first) and
// reference, and MM_SHMEMPAGES. A minor fault. An index at or beyond the file's size is SIGBUS.
AddressSpaces::vm_fault AddressSpaces::shmem_fault(mm_struct* mm, vm_area_struct* vma,
                                                   uint64_t addr, PhysAddr ptep, bool write,
                                                   unsigned cpu) {
    shmem_file* f = vma->vm_file;
    const uint64_t index = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
    if (index >= f->size_pages) return vm_fault::sigbus;
    page* p = nullptr;
    if (auto it = f->pages.find(index); it != f->pages.end()) {
        p = pa_.mem_map().pfn_to_page(it->second);
    } else {
        // shmem_alloc_folio() -> shmem_get_pgoff_policy(): the file has no shared policy (no
        // mbind), so the task's, its interleave index biased by the inode number
        // (i_ino + index).
        const task_struct* t = mm_percall::task ? mm_percall::task : current_[cpu];
        p = t && t->mempolicy.set ? alloc_pages_mpol(GFP_HIGHUSER_MOVABLE | __GFP_ZERO, 0,
                                                     t->mempolicy, index + f->ino, cpu)
                                  : pa_.alloc_pages(GFP_HIGHUSER_MOVABLE | __GFP_ZERO, 0, -1, cpu);
        if (!p) return vm_fault::oom;
        charge(cpu, &CostModel::clear_page);
        p->mapping = reinterpret_cast<uint64_t>(f);
        p->index = index;
        p->set(PG_swapbacked);
        f->pages.emplace(index, pa_.mem_map().page_to_pfn(p)); // the cache's reference
        vmstat_.nr_shmem++;
        vmstat_.nr_file_pages++;
    }
    // finish_fault(): the PTE table's lock, and a PTE another CPU filled meanwhile leaves the
    // fault done (the page stays in the cache).
    const PtlHolder ptl(pt_page(ptep));
    if (!pte_none(get_entry(ptep))) return vm_fault::ok;
    p->_refcount++;
    if (p->_mapcount++ == 0) vmstat_.nr_mapped++;
    mm->rss_stat[MM_SHMEMPAGES]++;
    pteval_t e = pfn_pte(pa_.mem_map().page_to_pfn(p), vma->vm_page_prot);
    if (write) e |= _PAGE_DIRTY;
    set_entry(ptep, e);
    return vm_fault::ok;
}

// do_wp_page() on a shared mapping: wp_page_shared() -> wp_page_reuse() (shmem has no
// page_mkwrite): the PTE made writable and dirty in place.
AddressSpaces::vm_fault AddressSpaces::wp_page_shared(vm_area_struct* vma, PhysAddr ptep,
                                                      pteval_t orig) {
    if (!(vma->vm_flags & VM_WRITE)) return vm_fault::sigbus;
    set_entry(ptep, orig | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_RW);
    return vm_fault::ok;
}

// zap_present_ptes() for a page-cache page: one mapping fewer (MM_SHMEMPAGES, NR_FILE_MAPPED at
// the last); the mapping's reference goes with the gathered batch, the cache keeps its own.
void AddressSpaces::zap_file_page(mm_struct* mm, page* p) {
    mm->rss_stat[MM_SHMEMPAGES]--;
    if (--p->_mapcount == 0) vmstat_.nr_mapped--;
}

// The shmem objects in the audit: each cached page is owned once, by its file; its refcount is
// the cache's reference plus one per PTE that maps it, and the file's reverse map (the VMAs of
// every mm that map the file, at vm_start + (index - vm_pgoff) pages) finds exactly those PTEs.
// Each file's f_count equals the VMAs that hold it.
std::string AddressSpaces::audit_shmem(const std::map<uint64_t, int>& maps,
                                       std::vector<OwnedFrames>& owned) const {
    // The file's i_mmap: every VMA of every mm that maps it.
    std::map<const shmem_file*, std::vector<std::pair<const mm_struct*, const vm_area_struct*>>>
        i_mmap;
    for (const mm_struct* mm : mms_)
        mm->mm_mt.for_each([&](const MapleRange& r) {
            const auto* v = reinterpret_cast<const vm_area_struct*>(r.entry);
            if (v->vm_file) i_mmap[v->vm_file].push_back({mm, v});
        });
    for (const shmem_file* f : shmem_files_) {
        const auto& vmas = i_mmap[f];
        if (f->f_count != vmas.size())
            return "a shmem file's f_count (" + std::to_string(f->f_count) + ") differs from the " +
                   "VMAs that hold it (" + std::to_string(vmas.size()) + ")";
        for (const auto& [index, pfn] : f->pages) {
            const page& p = pa_.mem_map()[pfn];
            const auto it = maps.find(pfn.value);
            const int n = it == maps.end() ? 0 : it->second;
            if (p._refcount != n + 1 || p._mapcount != n)
                return "shmem pfn " + std::to_string(pfn.value) + " has refcount " +
                       std::to_string(p._refcount) + " and mapcount " +
                       std::to_string(p._mapcount) + " but " + std::to_string(n) + " PTEs map it";
            if (p.mapping != reinterpret_cast<uint64_t>(f) || p.index != index)
                return "shmem pfn " + std::to_string(pfn.value) + " is not its file's page";
            // rmap_walk_file(): the VMAs of the file that cover the index.
            int found = 0;
            for (const auto& [mm, v] : vmas) {
                if (index < v->vm_pgoff || index >= v->vm_pgoff + v->pages()) continue;
                const uint64_t a = v->vm_start + ((index - v->vm_pgoff) << PAGE_SHIFT);
                const pteval_t e = lookup_pte(mm, a);
                if (pte_present(e) && pte_pfn(e) == pfn) found++;
            }
            if (found != n)
                return "shmem pfn " + std::to_string(pfn.value) + ": the file's rmap finds " +
                       std::to_string(found) + " mappings, the page tables " + std::to_string(n);
            owned.push_back({pfn, pfn + 1, "shmem page", 0});
        }
    }
    return {};
}

} // namespace mmemu
