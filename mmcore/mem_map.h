// mem_map: the flat array of struct page, one per frame of emulated RAM (FLATMEM), backed lazily
// so a 64 GiB machine costs host memory only for the entries that are written.
#pragma once

#include <cstdint>

#include "emulator/addr.h"
#include "mmcore/page.h"

namespace mmemu {

// pte_pfn(): the frame a page table entry points to. 2-level i386 entries are 32 bits with the
// frame in bits 31:12; PAE and x86_64 entries are 64 bits with the frame in bits 51:12
// (PTE_PFN_MASK, the architectural maximum; bit 63 is NX and bits 62:52 are ignored or
// protection keys, Intel SDM Vol. 3A 4.4.2 and 4.5.4).
inline Pfn pte_pfn(uint64_t pte, bool two_level) {
    return two_level ? Pfn{(pte & 0xfffff000u) >> PAGE_SHIFT}
                     : Pfn{(pte & 0x000ffffffffff000ull) >> PAGE_SHIFT};
}

class MemMap {
public:
    MemMap() = default;
    // Reserves the lazily backed array for `nr_pages` frames (once, at boot).
    void init(uint64_t nr_pages);
    ~MemMap();
    MemMap(const MemMap&) = delete;
    MemMap& operator=(const MemMap&) = delete;

    uint64_t nr_pages() const { return nr_; }
    bool pfn_valid(Pfn pfn) const { return pfn.value < nr_; }

    page* pfn_to_page(Pfn pfn) { return base_ + pfn.value; }
    const page* pfn_to_page(Pfn pfn) const { return base_ + pfn.value; }
    Pfn page_to_pfn(const page* p) const { return Pfn{uint64_t(p - base_)}; }

    page& operator[](Pfn pfn) { return base_[pfn.value]; }
    const page& operator[](Pfn pfn) const { return base_[pfn.value]; }

private:
    page* base_ = nullptr;
    uint64_t nr_ = 0;
};

} // namespace mmemu
