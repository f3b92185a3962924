// The control registers, MSRs and flags that decide segmentation and paging (Intel SDM Vol. 3A
// 2.5, 4.1): CR0, CR2, CR3, CR4, IA32_EFER, RFLAGS.AC, PKRU, and the CPU's MAXPHYADDR.
#pragma once

#include <cstdint>

namespace mmemu {

// CR0
inline constexpr uint64_t CR0_PE = 1ull << 0;
inline constexpr uint64_t CR0_WP = 1ull << 16;
inline constexpr uint64_t CR0_PG = 1ull << 31;
// CR3
inline constexpr uint64_t CR3_PCID_MASK = 0xfff;
inline constexpr uint64_t CR3_NOFLUSH = 1ull << 63; // with CR4.PCIDE: keep the PCID's entries
// CR4
inline constexpr uint64_t CR4_PSE = 1ull << 4;
inline constexpr uint64_t CR4_PAE = 1ull << 5;
inline constexpr uint64_t CR4_PGE = 1ull << 7;
inline constexpr uint64_t CR4_LA57 = 1ull << 12;
inline constexpr uint64_t CR4_PCIDE = 1ull << 17;
inline constexpr uint64_t CR4_SMEP = 1ull << 20;
inline constexpr uint64_t CR4_SMAP = 1ull << 21;
inline constexpr uint64_t CR4_PKE = 1ull << 22;
// IA32_EFER (MSR 0xC0000080)
inline constexpr uint64_t EFER_LME = 1ull << 8;
inline constexpr uint64_t EFER_LMA = 1ull << 10;
inline constexpr uint64_t EFER_NXE = 1ull << 11;
// RFLAGS
inline constexpr uint64_t RFLAGS_AC = 1ull << 18;

// Canonical linear addresses (SDM 3.3.7.1, 4.5): bits 63:47 all equal with 4-level paging
// (48-bit linear addresses), bits 63:56 all equal with 5-level paging (CR4.LA57 = 1).
constexpr bool is_canonical(uint64_t la, bool la57) {
    const unsigned shift = la57 ? 64 - 57 : 64 - 48;
    return uint64_t(int64_t(la << shift) >> shift) == la;
}

// The paging mode CR0.PG, CR4.PAE, EFER.LME and CR4.LA57 select (SDM 4.1.1, Table 4-1).
enum class PagingMode : uint8_t { none, bits32, pae, level4, level5 };

struct CpuRegs {
    uint64_t cr0 = CR0_PE;
    uint64_t cr2 = 0;
    uint64_t cr3 = 0;
    uint64_t cr4 = 0;
    uint64_t efer = 0;
    uint64_t rflags = 0x2;
    uint32_t pkru = 0;
    unsigned maxphyaddr = 46; // a property of the emulated CPU, 32..52

    PagingMode paging_mode() const {
        if (!(cr0 & CR0_PG)) return PagingMode::none;
        if (!(cr4 & CR4_PAE)) return PagingMode::bits32;
        if (!(efer & EFER_LME)) return PagingMode::pae;
        return (cr4 & CR4_LA57) ? PagingMode::level5 : PagingMode::level4;
    }
    bool long_mode() const { return (efer & EFER_LMA) != 0; }
    // Bits [maxphyaddr, 52) of a paging entry are reserved (SDM 4.4.2, 4.5.4).
    uint64_t phys_addr_mask() const { return ((1ull << maxphyaddr) - 1) & ~0xfffull; }
};

} // namespace mmemu
