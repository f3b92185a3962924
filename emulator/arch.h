// The paging architectures the emulated CPU runs in, and what each can address physically.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace mmemu {

enum class Arch : uint8_t {
    i386,   // 32-bit paging, 2 levels (10/10/12)
    pae,    // 32-bit PAE paging, 3 levels (2/9/9/12)
    x86_64, // IA-32e 4-level paging (9/9/9/9/12)
};

std::string_view arch_name(Arch a);
std::optional<Arch> parse_arch(std::string_view s);

// Largest physical memory a Linux kernel of this arch can use.
//  - i386 without PAE: 32-bit physical addresses, 4 GiB (CONFIG_HIGHMEM4G).
//  - PAE: 36 bits, 64 GiB (CONFIG_HIGHMEM64G; MAX_PHYSMEM_BITS 36 in
//    arch/x86/include/asm/sparsemem.h).
//  - x86_64: MAX_PHYSMEM_BITS 46 with 4-level paging, 64 TiB.
uint64_t arch_max_phys_bytes(Arch a);

// mmemu's own ceiling (host address space for the lazily backed RAM and mem_map, pfns held in
// 32-bit list links): 1 TiB. A bigger machine is rejected with a message saying so.
inline constexpr uint64_t MMEMU_MAX_PHYS_BYTES = uint64_t{1} << 40;

inline bool arch_is_32bit(Arch a) {
    return a != Arch::x86_64;
}

} // namespace mmemu
