// Architectural exceptions raised by the emulated CPU (Intel SDM Vol. 3A chapter 6), one type for
// segmentation and paging: the vector, the error code, CR2 for a #PF, which paging level and bit
// decided, the SDM rule that decided (static text with its section), and for a segmentation
// fault the values the rule compared (selector, CPL, descriptor, offsets, limit), from which
// fault_message() writes the explanation only when one is wanted. An emulated fault is a value,
// never a C++ exception; the type is trivially copyable, so a translation that succeeds costs
// no string work.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "emulator/addr.h"

namespace mmemu {

enum Vector : uint8_t {
    VEC_NONE = 0xff,
    VEC_NP = 11, // #NP segment not present
    VEC_SS = 12, // #SS stack-segment fault
    VEC_GP = 13, // #GP general protection
    VEC_PF = 14, // #PF page fault
};
// "#PF", "#GP", "#SS", "#NP"
const char* vector_name(uint8_t v);

// #PF error code bits (SDM 4.7, Figure 4-12; Linux arch/x86/include/asm/trap_pf.h).
enum : uint32_t {
    PFERR_P = 1u << 0,    // 0: not present; 1: protection violation
    PFERR_W = 1u << 1,    // the access was a write
    PFERR_U = 1u << 2,    // user-mode access
    PFERR_RSVD = 1u << 3, // a reserved bit was set in a paging-structure entry
    PFERR_ID = 1u << 4,   // instruction fetch
    PFERR_PK = 1u << 5,   // protection-key violation
};

// Fault::seg: no segment register, or LDTR (the others are SegReg values 0..5).
inline constexpr uint8_t FAULT_NO_SEG = 0xff;
inline constexpr uint8_t FAULT_SEG_LDTR = 6;
// Fault::context: which of the segmentation values are set.
enum : uint8_t {
    FAULT_CTX_SELECTOR = 1, // selector
    FAULT_CTX_CPL = 2,      // cpl
    FAULT_CTX_DESC = 4,     // desc: the descriptor as read (or as cached in the register)
    FAULT_CTX_ACCESS = 8,   // offset and size: the access (a linear address in 64-bit mode)
    FAULT_CTX_LIMIT = 16,   // limit: the segment's effective limit, or the table's limit
};

struct Fault {
    uint8_t vector = VEC_NONE;
    int8_t level = 0; // #PF: the paging level of the entry that decided (5 PML5E .. 1 PTE)
    int8_t bit = -1;  // the bit of that entry (or descriptor) that decided, -1 n/a
    uint8_t seg = FAULT_NO_SEG; // segmentation: the register concerned
    uint32_t error_code = 0;
    LinearAddr cr2;        // #PF: the faulting linear address (what CR2 receives)
    const char* rule = ""; // the rule, in words, with its SDM section
    uint8_t context = 0;   // FAULT_CTX_* bits
    uint8_t cpl = 0;
    uint16_t selector = 0;
    uint32_t size = 0;
    uint64_t desc = 0;
    uint64_t offset = 0;
    uint64_t limit = 0;
    bool raised() const { return vector != VEC_NONE; }
};
static_assert(std::is_trivially_copyable_v<Fault>);

// "#GP(0x68): SDM 5.6: ... (selector 0x6b, CPL 0, DPL 3 ...)"; "#PF(0x6): SDM 4.7: ..." with CR2.
std::string fault_message(const Fault& f);

} // namespace mmemu
