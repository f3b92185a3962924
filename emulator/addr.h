// Address value types: a physical address can never be passed where a page frame number or a
// linear address belongs (the SerenityOS PhysicalAddress/VirtualAddress idea, with the kernel's
// names for the conversions).
#pragma once

#include <compare>
#include <cstdint>

namespace mmemu {

inline constexpr unsigned PAGE_SHIFT = 12;
inline constexpr uint64_t PAGE_SIZE = uint64_t{1} << PAGE_SHIFT;
inline constexpr uint64_t PAGE_MASK = ~(PAGE_SIZE - 1);

// A page frame number.
struct Pfn {
    uint64_t value = 0;
    constexpr Pfn() = default;
    constexpr explicit Pfn(uint64_t v) : value(v) {}
    constexpr auto operator<=>(const Pfn&) const = default;
    constexpr Pfn operator+(uint64_t n) const { return Pfn{value + n}; }
};

// A physical address.
struct PhysAddr {
    uint64_t value = 0;
    constexpr PhysAddr() = default;
    constexpr explicit PhysAddr(uint64_t v) : value(v) {}
    constexpr auto operator<=>(const PhysAddr&) const = default;
    constexpr PhysAddr operator+(uint64_t n) const { return PhysAddr{value + n}; }
    constexpr uint64_t page_offset() const { return value & (PAGE_SIZE - 1); }
};

// A linear (post-segmentation, pre-paging) address.
struct LinearAddr {
    uint64_t value = 0;
    constexpr LinearAddr() = default;
    constexpr explicit LinearAddr(uint64_t v) : value(v) {}
    constexpr auto operator<=>(const LinearAddr&) const = default;
};

constexpr PhysAddr pfn_phys(Pfn pfn) {
    return PhysAddr{pfn.value << PAGE_SHIFT};
}
constexpr Pfn phys_pfn(PhysAddr pa) {
    return Pfn{pa.value >> PAGE_SHIFT};
}

} // namespace mmemu
