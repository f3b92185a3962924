// /proc/PID/smaps_rollup (fs/proc/task_mmu.c: show_smaps_rollup -> smaps_pte_entry ->
// smaps_account), Linux 6.18: every present PTE of every VMA with a struct page (the zero page
// has none: vm_normal_page() skips it) counts in Rss; a page with refcount 1 is private with its
// whole size in Pss; otherwise its mapcount decides: shared (Pss = size / mapcount) from two
// mappings up. Dirty means the PTE's dirty bit (mmemu keeps no folio dirty flag for anonymous
// memory; the kernel ORs it in).
#include <cstdio>

#include "mmcore/address_spaces.h"

namespace mmemu {

SmapsRollup AddressSpaces::smaps_rollup(const mm_struct* mm) const {
    const ReadGuard locked(mm->mmap_lock);
    SmapsRollup r;
    mm->mm_mt.for_each([&](const MapleRange& range) {
        const auto* v = reinterpret_cast<const vm_area_struct*>(range.entry);
        for_each_pte(mm, v->vm_start, v->vm_end, [&](PhysAddr e, uint64_t) {
            const pteval_t pte = get_entry(e);
            if (!pte_present(pte) || pte_special(pte)) return;
            const page& p = pa_.mem_map()[pte_pfn(pte)];
            const bool anon = p.test(PG_anon);
            const bool pte_dirty = pte & _PAGE_DIRTY;
            // smaps_page_accumulate(): dirty is the PTE's bit or the page's (a KSM page's PTE is
            // clean and the page dirty: Shared_Dirty).
            const bool dirty = pte_dirty || p.test(PG_dirty);
            r.resident += PAGE_SIZE;
            if (anon) r.anonymous += PAGE_SIZE;
            if (p.test(PG_ksm)) r.ksm += PAGE_SIZE; // KSM: folio_test_ksm (not the zero page)
            const bool priv = p._refcount == 1 || p._mapcount < 2;
            const uint64_t pss =
                (PAGE_SIZE << SmapsRollup::PSS_SHIFT) / (priv ? 1 : uint64_t(p._mapcount));
            r.pss += pss;
            if (anon) r.pss_anon += pss;
            if (v->vm_file) r.pss_shmem += pss; // a shmem page (PageSwapBacked, not anon)
            if (v->vm_flags & VM_LOCKED) r.pss_locked += pss;
            // LazyFree: MADV_FREE cleared PG_swapbacked and no one has written it since.
            if (anon && !p.test(PG_swapbacked) && !dirty) r.lazyfree += PAGE_SIZE;
            if (dirty) {
                r.pss_dirty += pss;
                (priv ? r.private_dirty : r.shared_dirty) += PAGE_SIZE;
            } else {
                (priv ? r.private_clean : r.shared_clean) += PAGE_SIZE;
            }
        });
    });
    return r;
}

// show_map_vma(): "start-end perms offset dev inode", then, for a named VMA, padding to column
// 73 (seq_setwidth(25 + 6 * sizeof(void *) - 1), then seq_pad) and the name: [heap] for the VMA
// holding the break, [stack] for the initial stack. Anonymous VMAs print offset 0 and 00:00 0
// (checked against this machine's /proc/self/maps). A shared anonymous VMA shows its shmem file:
// its offset, the internal tmpfs's device 00:01, the inode number and "/dev/zero (deleted)"
// (mmemu numbers the inodes from 1; Linux's get_next_ino() depends on the system's history).
std::vector<std::string> AddressSpaces::proc_maps(const mm_struct* mm) const {
    const ReadGuard locked(mm->mmap_lock);
    std::vector<std::string> lines;
    mm->mm_mt.for_each([&](const MapleRange& range) {
        const auto* v = reinterpret_cast<const vm_area_struct*>(range.entry);
        char buf[128];
        const shmem_file* f = v->vm_file;
        int n =
            std::snprintf(buf, sizeof buf, "%08llx-%08llx %c%c%c%c %08llx %02x:%02x %lu ",
                          static_cast<unsigned long long>(v->vm_start),
                          static_cast<unsigned long long>(v->vm_end),
                          v->vm_flags & VM_READ ? 'r' : '-', v->vm_flags & VM_WRITE ? 'w' : '-',
                          v->vm_flags & VM_EXEC ? 'x' : '-', v->vm_flags & VM_MAYSHARE ? 's' : 'p',
                          static_cast<unsigned long long>(f ? v->vm_pgoff << PAGE_SHIFT : 0), 0u,
                          f ? 1u : 0u, static_cast<unsigned long>(f ? f->ino : 0));
        std::string line(buf, size_t(n));
        const char* name = nullptr;
        if (f)
            name = "/dev/zero (deleted)";
        else if (v->vm_start < mm->brk && v->vm_end > mm->start_brk) // vma_is_initial_heap()
            name = "[heap]";
        else if (v->vm_start <= mm->start_stack && v->vm_end >= mm->start_stack)
            name = "[stack]"; // vma_is_initial_stack()
        if (name) {           // unnamed lines keep the space after the inode, as the kernel's do
            if (line.size() < 72) line.append(72 - line.size(), ' ');
            line += ' ';
            line += name;
        }
        lines.push_back(std::move(line));
    });
    return lines;
}

// /proc/PID/numa_maps (fs/proc/task_mmu.c show_numa_map -> gather_pte_stats -> gather_stats,
// Linux 6.18; the layout checked against this machine's /proc/self/numa_maps): "start policy",
// then " file=PATH" (the path escaped for "\n\t= ": a space is \040), " heap" or " stack"; then,
// if the VMA maps any page with a struct page (not the zero page), anon=, dirty= (the PTE's bit
// or the page's), mapped= (when the pages are neither all anonymous nor all dirty), mapmax= (the
// largest mapcount, when above 1), active= (when not every page is active or unevictable),
// N<node>= for each node holding some, and kernelpagesize_kB. The policy is the VMA's, else the
// task's (mpol_to_str(): "default" without one); VMAs have none yet (no mbind). mmemu keeps no LRU
// lists, so no page is PG_active; a page of a VM_LOCKED VMA is unevictable, as mlock makes it
// (mlock_new_folio), and counts as active.
AddressSpaces::NumaMaps AddressSpaces::numa_maps(const mm_struct* mm,
                                                 const struct mempolicy& task_policy) const {
    const std::string policy = mpol_to_str(task_policy);
    const ReadGuard locked(mm->mmap_lock);
    NumaMaps out;
    out.node_pages.assign(pa_.nodes.size(), 0);
    mm->mm_mt.for_each([&](const MapleRange& range) {
        const auto* v = reinterpret_cast<const vm_area_struct*>(range.entry);
        uint64_t pages = 0, anon = 0, dirty = 0, active = 0, mapmax = 0;
        std::vector<uint64_t> node(pa_.nodes.size(), 0);
        for_each_pte(mm, v->vm_start, v->vm_end, [&](PhysAddr e, uint64_t) {
            const pteval_t pte = get_entry(e);
            if (!pte_present(pte) || pte_special(pte)) return; // can_gather_numa_stats()
            const page& p = pa_.mem_map()[pte_pfn(pte)];
            if (p.test(PG_reserved)) return;
            pages++;
            if ((pte & _PAGE_DIRTY) || p.test(PG_dirty)) dirty++;
            if (p.test(PG_active) || p.test(PG_unevictable) || (v->vm_flags & VM_LOCKED)) active++;
            if (p.test(PG_anon)) anon++;
            mapmax = std::max<uint64_t>(mapmax, uint64_t(std::max<int32_t>(p._mapcount, 0)));
            node[p.nid()]++;
        });
        char buf[64];
        std::snprintf(buf, sizeof buf, "%08llx ", static_cast<unsigned long long>(v->vm_start));
        std::string line = buf + policy;
        if (v->vm_file)
            line += " file=/dev/zero\\040(deleted)";
        else if (v->vm_start < mm->brk && v->vm_end > mm->start_brk)
            line += " heap";
        else if (v->vm_start <= mm->start_stack && v->vm_end >= mm->start_stack)
            line += " stack";
        if (pages) {
            auto field = [&](const char* name, uint64_t n) {
                line += ' ';
                line += name;
                line += '=';
                line += std::to_string(n);
            };
            if (anon) field("anon", anon);
            if (dirty) field("dirty", dirty);
            if (pages != anon && pages != dirty) field("mapped", pages);
            if (mapmax > 1) field("mapmax", mapmax);
            if (active < pages) field("active", active);
            for (size_t n = 0; n < node.size(); n++)
                if (node[n]) {
                    field(("N" + std::to_string(n)).c_str(), node[n]);
                    out.node_pages[n] += node[n];
                }
            field("kernelpagesize_kB", PAGE_SIZE >> 10);
        }
        out.lines.push_back(std::move(line));
    });
    return out;
}

// /proc/PID/pagemap (fs/proc/task_mmu.c: pagemap_pmd_range -> pte_to_pagemap_entry) as a
// reader with CAP_SYS_ADMIN sees it: per page, PM_PRESENT (bit 63) and the PFN (bits 0-54) for a
// present PTE; PM_MMAP_EXCLUSIVE (bit 56) for a page with a struct page mapped once; PM_FILE
// (bit 61) for a present page that is not anonymous (none here: the zero page has no struct
// page to ask). Soft-dirty (bit 55) is 0: CONFIG_MEM_SOFT_DIRTY is off on this machine's kernel.
std::vector<uint64_t> AddressSpaces::pagemap(const mm_struct* mm, uint64_t start,
                                             uint64_t end) const {
    constexpr uint64_t PM_PRESENT = uint64_t{1} << 63, PM_FILE = uint64_t{1} << 61,
                       PM_MMAP_EXCLUSIVE = uint64_t{1} << 56;
    const ReadGuard locked(mm->mmap_lock); // pagemap_read(): walk_page_range() under it
    std::vector<uint64_t> out;
    out.reserve((end - start) >> PAGE_SHIFT);
    for (uint64_t a = start; a < end; a += PAGE_SIZE) {
        const pteval_t e = lookup_pte(mm, a);
        uint64_t v = 0;
        if (pte_present(e)) {
            v = PM_PRESENT | pte_pfn(e).value;
            if (!pte_special(e)) {
                const page& p = pa_.mem_map()[pte_pfn(e)];
                if (!p.test(PG_anon)) v |= PM_FILE;
                if (p._mapcount == 1) v |= PM_MMAP_EXCLUSIVE;
            }
        }
        out.push_back(v);
    }
    return out;
}

void AddressSpaces::for_each_present_page(const mm_struct* mm, uint64_t start, uint64_t end,
                                          const std::function<void(uint64_t, Pfn)>& f) const {
    for_each_pte(mm, start, end, [&](PhysAddr e, uint64_t a) {
        if (const pteval_t pte = get_entry(e); pte_present(pte)) f(a, pte_pfn(pte));
    });
}

} // namespace mmemu
