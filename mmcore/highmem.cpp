// How the kernel reaches the bytes of a frame (mm/highmem.c, include/linux/highmem.h, Linux
// 6.18): a lowmem frame through the direct map (page_address() = __va), a highmem frame only
// through a temporary kmap_local mapping in the fixmap — the task's next slot on this CPU
// (FIX_KMAP_BEGIN + idx + KM_MAX_IDX * cpu) gets a PAGE_KERNEL PTE; kunmap_local() clears it
// and flushes that one page (arch_kmap_local_post_unmap: flush_tlb_one_kernel, an INVLPG).
// clear_highpage() (the page allocator's __GFP_ZERO, via kernel_init_pages) and
// copy_user_highpage() (a COW copy) are built on it. On x86_64 every frame is in the direct map.
// Facts: docs/dev/i386-pae-facts.md section 5.
#include <cstring>

#include "mmcore/address_spaces.h"
#include "mmcore/bug.h"

namespace mmemu {

// __fix_to_virt(): fixmap indices grow down from FIXADDR_TOP.
uint64_t AddressSpaces::kmap_slot_vaddr(unsigned slot) const {
    return FIXADDR_TOP_32 - (uint64_t(FIX_KMAP_BEGIN + slot) << PAGE_SHIFT);
}

// kmap_local_pfn(): the kernel address of the frame's bytes while the mapping lasts.
uint64_t AddressSpaces::kmap_local_pfn(Pfn pfn, unsigned cpu) {
    if (pfn.value < max_low_pfn_ || max_low_pfn_ == max_pfn_)
        return page_offset_ + (pfn.value << PAGE_SHIFT);
    unsigned& idx = kmap_idx_[cpu];
    if (idx >= KM_MAX_IDX) throw KernelBug("kmap_local: more than KM_MAX_IDX maps on one CPU");
    const uint64_t vaddr = kmap_slot_vaddr(idx + KM_MAX_IDX * cpu);
    const PhysAddr ptep = entry_at(kmap_pte_table_, fmt_.index(vaddr, fmt_.pte_level()));
    if (!pte_none(get_entry(ptep))) throw KernelBug("kmap_local: the slot's PTE is in use");
    set_entry(ptep, fmt_.supported(pfn_pte(pfn, __PAGE_KERNEL)));
    idx++;
    counts_.kmap_local++;
    return vaddr;
}

// kunmap_local(): nothing for a direct-map address; else the slot's PTE cleared and INVLPG on
// this CPU (global kernel entries go too), and the slot popped.
void AddressSpaces::kunmap_local(uint64_t vaddr, unsigned cpu) {
    // kunmap_local_indexed(): an address outside [FIX_KMAP_END, FIX_KMAP_BEGIN] is not a slot.
    if (max_low_pfn_ == max_pfn_ || vaddr > kmap_slot_vaddr(0) ||
        vaddr < kmap_slot_vaddr(KM_MAX_IDX * machine_.nr_cpus() - 1))
        return;
    const PhysAddr ptep = entry_at(kmap_pte_table_, fmt_.index(vaddr, fmt_.pte_level()));
    set_entry(ptep, 0);
    machine_.mmu(cpu).invlpg(LinearAddr{vaddr});
    if (kmap_idx_[cpu] == 0) throw KernelBug("kunmap_local without a kmap_local");
    kmap_idx_[cpu]--;
}

// The host bytes behind a kernel address that kmap_local_pfn() gave for pfn, for writing: the
// caller calls ram_.written(pfn) once they have landed.
uint8_t* AddressSpaces::kmap_bytes(Pfn pfn) {
    return ram_.bytes_for_write(pfn_phys(pfn));
}

// clear_highpage(): kmap_local_page, clear_page, kunmap_local.
void AddressSpaces::clear_highpage(Pfn pfn, unsigned cpu) {
    const uint64_t va = kmap_local_pfn(pfn, cpu);
    std::memset(kmap_bytes(pfn), 0, PAGE_SIZE);
    ram_.written(pfn);
    kunmap_local(va, cpu);
}

// copy_user_highpage(): kmap_local of the source then the destination, copy_page, and the
// kunmaps in reverse order.
void AddressSpaces::copy_user_highpage(Pfn to, Pfn from, unsigned cpu) {
    const uint64_t vfrom = kmap_local_pfn(from, cpu);
    const uint64_t vto = kmap_local_pfn(to, cpu);
    std::memcpy(kmap_bytes(to), ram_.frame(from), PAGE_SIZE);
    ram_.written(to);
    kunmap_local(vto, cpu);
    kunmap_local(vfrom, cpu);
}

} // namespace mmemu
