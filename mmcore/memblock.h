// memblock: the boot-time record of usable memory and of reserved ranges (mm/memblock.c),
// built from the firmware's e820 table as arch/x86/kernel/e820.c and setup.c build it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "emulator/e820.h"

namespace mmemu {

struct memblock_region {
    uint64_t base;
    uint64_t size;
    std::string name; // what a reservation is for (for the statistics and docs)
    uint64_t end() const { return base + size; }
};

class Memblock {
public:
    // memblock.memory from the e820 RAM entries, trimmed to whole pages; page 0 excluded as
    // trim_bios_range() does (it marks the first 4 KiB reserved in e820).
    static Memblock from_e820(const std::vector<E820Entry>& e820);

    void reserve(uint64_t base, uint64_t size, std::string name);
    // memblock_alloc(): top-down in [floor, limit), `align` aligned; the base, or nothing if no
    // free range can hold it.
    std::optional<uint64_t> alloc_top_down(uint64_t size, uint64_t align, uint64_t limit,
                                           uint64_t floor, std::string name);

    const std::vector<memblock_region>& memory() const { return memory_; }
    const std::vector<memblock_region>& reserved() const { return reserved_; }
    // Pages of memblock.memory in [start_pfn, end_pfn).
    uint64_t memory_pages_in(uint64_t start_pfn, uint64_t end_pfn) const;
    // Pages of memory that are also reserved in [start_pfn, end_pfn).
    uint64_t reserved_pages_in(uint64_t start_pfn, uint64_t end_pfn) const;
    // The free (memory minus reserved) ranges in pfns, in order.
    std::vector<std::pair<uint64_t, uint64_t>> free_pfn_ranges() const;
    // Drops memory at and above `limit` from memblock.memory (memory the kernel will not use).
    void cap_memory(uint64_t limit);
    bool is_reserved_pfn(uint64_t pfn) const;

private:
    std::vector<memblock_region> memory_;
    std::vector<memblock_region> reserved_;
};

} // namespace mmemu
