// Address value types: a physical address can never be passed where a page frame number or a
// linear address belongs (the SerenityOS PhysicalAddress/VirtualAddress idea, with the kernel's
// names for the conversions). Each type is a bare 64-bit value: passing one costs what passing a
// uint64_t costs. Each has one formatter, and plain numbers one more (hex).
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace mmemu {

inline constexpr unsigned PAGE_SHIFT = 12;
inline constexpr uint64_t PAGE_SIZE = uint64_t{1} << PAGE_SHIFT;
inline constexpr uint64_t PAGE_MASK = ~(PAGE_SIZE - 1);
// PAGE_ALIGN(): up to the next page boundary, wrapping past 2^64 as the kernel's does.
inline constexpr uint64_t PAGE_ALIGN(uint64_t v) {
    return (v + PAGE_SIZE - 1) & PAGE_MASK;
}

// A page frame number.
struct Pfn {
    uint64_t value = 0;
    constexpr Pfn() = default;
    constexpr explicit Pfn(uint64_t v) : value(v) {}
    constexpr auto operator<=>(const Pfn&) const = default;
    constexpr Pfn operator+(uint64_t n) const { return Pfn{value + n}; }
    constexpr uint64_t operator-(Pfn o) const { return value - o.value; }
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
    constexpr LinearAddr operator+(uint64_t n) const { return LinearAddr{value + n}; }
    constexpr uint64_t page_offset() const { return value & (PAGE_SIZE - 1); }
};

constexpr PhysAddr pfn_phys(Pfn pfn) {
    return PhysAddr{pfn.value << PAGE_SHIFT};
}
constexpr Pfn phys_pfn(PhysAddr pa) {
    return Pfn{pa.value >> PAGE_SHIFT};
}

// The formatters: addresses in hex ("0x7123"), page frame numbers in decimal as the kernel
// prints them, and plain numbers (register values, error codes, entries) in hex. hex_digits pads
// to a width ("0x00abc568").
std::string to_string(PhysAddr pa);
std::string to_string(LinearAddr la);
std::string to_string(Pfn pfn);
std::string hex(uint64_t v);
std::string hex_digits(uint64_t v, int digits);

} // namespace mmemu
