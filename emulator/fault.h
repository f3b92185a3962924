// Architectural exceptions raised by the emulated CPU (Intel SDM Vol. 3A chapter 6): the vector,
// the error code, and for explanations which structure, level and bit caused it and the rule
// that decided. An emulated fault is a value, never a C++ exception.
#pragma once

#include <cstdint>
#include <string>

namespace mmemu {

enum Vector : uint8_t {
    VEC_NONE = 0xff,
    VEC_NP = 11, // #NP segment not present
    VEC_SS = 12, // #SS stack-segment fault
    VEC_GP = 13, // #GP general protection
    VEC_PF = 14, // #PF page fault
};

// #PF error code bits (SDM 4.7, Figure 4-12; Linux arch/x86/include/asm/trap_pf.h).
enum : uint32_t {
    PFERR_P = 1u << 0,    // 0: not present; 1: protection violation
    PFERR_W = 1u << 1,    // the access was a write
    PFERR_U = 1u << 2,    // user-mode access
    PFERR_RSVD = 1u << 3, // a reserved bit was set in a paging-structure entry
    PFERR_ID = 1u << 4,   // instruction fetch
    PFERR_PK = 1u << 5,   // protection-key violation
};

struct Fault {
    uint8_t vector = VEC_NONE;
    uint32_t error_code = 0;
    uint64_t cr2 = 0; // #PF: the faulting linear address
    int level = 0;    // #PF: paging level of the entry that decided (5 PML5E .. 1 PTE), 0 n/a
    int bit = -1;     // the bit of that entry (or descriptor) that decided, -1 n/a
    std::string rule; // the rule, in words, with its SDM section
    bool raised() const { return vector != VEC_NONE; }
};

// A fault raised by address translation (#PF, or #GP for a non-canonical address). Its rule is
// always static text, so the type is trivially constructible and a translation that succeeds
// costs no string work (the TLB-hit path constructs one per access).
struct TranslationFault {
    uint8_t vector = VEC_NONE;
    uint32_t error_code = 0;
    uint64_t cr2 = 0;
    int level = 0;
    int bit = -1;
    const char* rule = "";
    bool raised() const { return vector != VEC_NONE; }
    Fault to_fault() const {
        Fault f;
        f.vector = vector;
        f.error_code = error_code;
        f.cr2 = cr2;
        f.level = level;
        f.bit = bit;
        f.rule = rule;
        return f;
    }
};

} // namespace mmemu
