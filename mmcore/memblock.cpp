#include "mmcore/memblock.h"

#include <algorithm>

#include "emulator/addr.h"

namespace mmemu {

Memblock Memblock::from_e820(const std::vector<E820Entry>& e820) {
    Memblock mb;
    for (const auto& e : e820) {
        if (e.type != E820Type::ram) continue;
        uint64_t start = std::max<uint64_t>((e.addr + PAGE_SIZE - 1) & PAGE_MASK, PAGE_SIZE);
        uint64_t end = e.end() & PAGE_MASK;
        if (end > start) mb.memory_.push_back({start, end - start, "System RAM"});
    }
    return mb;
}

void Memblock::reserve(uint64_t base, uint64_t size, std::string name) {
    reserved_.push_back({base, size, std::move(name)});
    std::sort(reserved_.begin(), reserved_.end(),
              [](const memblock_region& a, const memblock_region& b) { return a.base < b.base; });
}

std::optional<uint64_t> Memblock::alloc_top_down(uint64_t size, uint64_t align, uint64_t limit,
                                                 uint64_t floor, std::string name) {
    // Walk the free ranges from the top, as memblock_find_in_range_node() does by default.
    auto ranges = free_pfn_ranges();
    for (auto it = ranges.rbegin(); it != ranges.rend(); ++it) {
        uint64_t start = it->first << PAGE_SHIFT, end = std::min(it->second << PAGE_SHIFT, limit);
        if (end <= start || end - start < size) continue;
        uint64_t base = (end - size) & ~(align - 1);
        if (base < start || base < floor) continue;
        reserve(base, size, std::move(name));
        return base;
    }
    return std::nullopt;
}

static uint64_t overlap_pages(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1) {
    const uint64_t lo = std::max(a0, b0), hi = std::min(a1, b1);
    return hi > lo ? hi - lo : 0;
}

uint64_t Memblock::memory_pages_in(uint64_t start_pfn, uint64_t end_pfn) const {
    uint64_t n = 0;
    for (const auto& r : memory_)
        n += overlap_pages(r.base >> PAGE_SHIFT, r.end() >> PAGE_SHIFT, start_pfn, end_pfn);
    return n;
}

uint64_t Memblock::reserved_pages_in(uint64_t start_pfn, uint64_t end_pfn) const {
    uint64_t n = 0;
    for (const auto& m : memory_) {
        const uint64_t m0 = std::max(m.base >> PAGE_SHIFT, start_pfn);
        const uint64_t m1 = std::min(m.end() >> PAGE_SHIFT, end_pfn);
        if (m1 <= m0) continue;
        for (const auto& r : reserved_)
            n += overlap_pages(r.base >> PAGE_SHIFT, (r.end() + PAGE_SIZE - 1) >> PAGE_SHIFT, m0,
                               m1);
    }
    return n;
}

std::vector<std::pair<uint64_t, uint64_t>> Memblock::free_pfn_ranges() const {
    std::vector<std::pair<uint64_t, uint64_t>> out;
    for (const auto& m : memory_) {
        uint64_t at = m.base >> PAGE_SHIFT;
        const uint64_t end = m.end() >> PAGE_SHIFT;
        for (const auto& r : reserved_) {
            const uint64_t r0 = r.base >> PAGE_SHIFT, r1 = (r.end() + PAGE_SIZE - 1) >> PAGE_SHIFT;
            if (r1 <= at || r0 >= end) continue;
            if (r0 > at) out.push_back({at, r0});
            at = std::max(at, r1);
        }
        if (at < end) out.push_back({at, end});
    }
    return out;
}

void Memblock::cap_memory(uint64_t limit) {
    std::vector<memblock_region> kept;
    for (const auto& r : memory_) {
        if (r.base >= limit) continue;
        kept.push_back({r.base, std::min(r.end(), limit) - r.base, r.name});
    }
    memory_ = std::move(kept);
}

bool Memblock::is_reserved_pfn(uint64_t pfn) const {
    for (const auto& r : reserved_)
        if (pfn >= (r.base >> PAGE_SHIFT) && pfn < ((r.end() + PAGE_SIZE - 1) >> PAGE_SHIFT))
            return true;
    return false;
}

} // namespace mmemu
