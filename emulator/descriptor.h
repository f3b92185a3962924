// Segment selectors and 8-byte segment descriptors (Intel SDM Vol. 3A 3.4.2 "Segment Selectors",
// 3.4.5 "Segment Descriptors", Figure 3-8, 3.4.5.1 Table 3-1, 3.5 Table 3-2), encoded and
// decoded bit-exactly. Every one of the 64 bits of a descriptor belongs to exactly one field, so
// decode(x).encode() == x for every x.
//
//   bits 15:0   limit 15:0         bits 39:16  base 23:0
//   bits 43:40  type               bit 44      S (1 code/data, 0 system)
//   bits 46:45  DPL                bit 47      P (present)
//   bits 51:48  limit 19:16        bit 52      AVL (available to software)
//   bit 53      L (64-bit code)    bit 54      D/B (default size / big)
//   bit 55      G (4 KiB granular) bits 63:56  base 31:24
#pragma once

#include <cstdint>
#include <string_view>

namespace mmemu {

// ---------------------------------------------------------------------------------------------
// Selectors (SDM 3.4.2, Figure 3-6): index in bits 15:3, TI in bit 2 (0 GDT, 1 LDT), RPL in
// bits 1:0. Linux: SEGMENT_RPL_MASK 0x3, SEGMENT_TI_MASK 0x4 (arch/x86/include/asm/segment.h).
inline constexpr uint16_t SEGMENT_RPL_MASK = 0x3;
inline constexpr uint16_t SEGMENT_TI_MASK = 0x4;
inline constexpr uint16_t SEGMENT_LDT = 0x4;
inline constexpr uint16_t SEGMENT_GDT = 0x0;

struct Selector {
    uint16_t value = 0;
    constexpr Selector() = default;
    constexpr explicit Selector(uint16_t v) : value(v) {}
    constexpr Selector(unsigned index, bool ti, unsigned rpl)
        : value(uint16_t((index << 3) | (ti ? SEGMENT_TI_MASK : 0) | (rpl & SEGMENT_RPL_MASK))) {}

    constexpr unsigned index() const { return value >> 3; }
    constexpr bool ti() const { return (value & SEGMENT_TI_MASK) != 0; }
    constexpr unsigned rpl() const { return value & SEGMENT_RPL_MASK; }
    // The null selector is index 0 of the GDT, any RPL (SDM 3.4.2). Index 0 with TI=1 is an
    // ordinary LDT selector.
    constexpr bool is_null() const { return (value & ~SEGMENT_RPL_MASK) == 0; }
    // The error code of a #GP/#NP/#SS/#TS that names this selector (SDM 6.13, Figure 6-6): the
    // selector with EXT (bit 0) and IDT (bit 1) clear in place of the RPL.
    constexpr uint32_t error_code() const { return value & 0xfffcu; }
    // Byte offset of the descriptor in its table.
    constexpr uint32_t table_offset() const { return uint32_t(value & 0xfff8u); }
    constexpr auto operator<=>(const Selector&) const = default;
};

constexpr unsigned selector_index(uint16_t sel) {
    return Selector(sel).index();
}
constexpr bool selector_ti(uint16_t sel) {
    return Selector(sel).ti();
}
constexpr unsigned selector_rpl(uint16_t sel) {
    return Selector(sel).rpl();
}

// ---------------------------------------------------------------------------------------------
// The type field of a code or data descriptor (S=1; SDM 3.4.5.1, Table 3-1).
inline constexpr uint8_t SEG_TYPE_ACCESSED = 0x1;    // A
inline constexpr uint8_t SEG_TYPE_WRITABLE = 0x2;    // data: W
inline constexpr uint8_t SEG_TYPE_READABLE = 0x2;    // code: R
inline constexpr uint8_t SEG_TYPE_EXPAND_DOWN = 0x4; // data: E
inline constexpr uint8_t SEG_TYPE_CONFORMING = 0x4;  // code: C
inline constexpr uint8_t SEG_TYPE_CODE = 0x8;        // 1 code, 0 data

// The type field of a system descriptor (S=0; SDM 3.5, Table 3-2). Values whose meaning differs
// between 32-bit (legacy/compatibility descriptors) and IA-32e mode are named for 32-bit mode;
// system_type_name() gives both.
enum SystemType : uint8_t {
    SYS_TYPE_UPPER8 = 0x0, // IA-32e: upper 8 bytes of a 16-byte descriptor; else reserved
    SYS_TYPE_TSS16_AVAIL = 0x1,
    SYS_TYPE_LDT = 0x2,
    SYS_TYPE_TSS16_BUSY = 0x3,
    SYS_TYPE_CALL_GATE16 = 0x4,
    SYS_TYPE_TASK_GATE = 0x5,
    SYS_TYPE_INTR_GATE16 = 0x6,
    SYS_TYPE_TRAP_GATE16 = 0x7,
    SYS_TYPE_TSS_AVAIL = 0x9, // 32-bit TSS; 64-bit TSS in IA-32e mode
    SYS_TYPE_TSS_BUSY = 0xb,
    SYS_TYPE_CALL_GATE = 0xc,
    SYS_TYPE_INTR_GATE = 0xe,
    SYS_TYPE_TRAP_GATE = 0xf,
};

// The name of a code/data type (Table 3-1 wording: "Read/Write, accessed", "Execute/Read,
// conforming", ...).
std::string_view code_data_type_name(uint8_t type);
// The name of a system type (Table 3-2), in 32-bit mode or in IA-32e mode.
std::string_view system_type_name(uint8_t type, bool ia32e = false);

// ---------------------------------------------------------------------------------------------
// One 8-byte descriptor, field by field. Decoding and encoding are exact inverses.
struct Descriptor {
    uint32_t base = 0;  // 32 bits (bits 39:16 and 63:56)
    uint32_t limit = 0; // the raw 20-bit field (bits 15:0 and 51:48)
    uint8_t type = 0;   // 4 bits, 43:40
    bool s = false;     // 44
    uint8_t dpl = 0;    // 2 bits, 46:45
    bool p = false;     // 47
    bool avl = false;   // 52
    bool l = false;     // 53
    bool db = false;    // 54
    bool g = false;     // 55

    static constexpr Descriptor decode(uint64_t raw) {
        Descriptor d;
        d.limit = uint32_t(raw & 0xffff) | uint32_t((raw >> 32) & 0xf0000);
        d.base = uint32_t((raw >> 16) & 0xffffff) | uint32_t((raw >> 32) & 0xff000000);
        d.type = uint8_t((raw >> 40) & 0xf);
        d.s = (raw >> 44) & 1;
        d.dpl = uint8_t((raw >> 45) & 3);
        d.p = (raw >> 47) & 1;
        d.avl = (raw >> 52) & 1;
        d.l = (raw >> 53) & 1;
        d.db = (raw >> 54) & 1;
        d.g = (raw >> 55) & 1;
        return d;
    }

    constexpr uint64_t encode() const {
        return uint64_t(limit & 0xffff) | (uint64_t(base & 0xffffff) << 16) |
               (uint64_t(type & 0xf) << 40) | (uint64_t(s) << 44) | (uint64_t(dpl & 3) << 45) |
               (uint64_t(p) << 47) | (uint64_t(limit & 0xf0000) << 32) | (uint64_t(avl) << 52) |
               (uint64_t(l) << 53) | (uint64_t(db) << 54) | (uint64_t(g) << 55) |
               (uint64_t(base & 0xff000000) << 32);
    }

    // The access-rights byte (bits 47:40: P, DPL, S, type), as in byte 5 of the descriptor.
    constexpr uint8_t access_byte() const {
        return uint8_t((p ? 0x80 : 0) | ((dpl & 3) << 5) | (s ? 0x10 : 0) | (type & 0xf));
    }

    // The limit in bytes (SDM 3.4.5: with G=1 the 20-bit limit counts 4 KiB units and the low 12
    // bits of an offset are not checked, so the effective limit is (limit << 12) | 0xfff).
    constexpr uint32_t effective_limit() const {
        return g ? ((limit & 0xfffff) << 12) | 0xfff : (limit & 0xfffff);
    }

    constexpr bool is_system() const { return !s; }
    constexpr bool is_code() const { return s && (type & SEG_TYPE_CODE); }
    constexpr bool is_data() const { return s && !(type & SEG_TYPE_CODE); }
    constexpr bool accessed() const { return s && (type & SEG_TYPE_ACCESSED); }
    // Data: always readable; code: only with R (Table 3-1).
    constexpr bool readable() const {
        return is_data() || (is_code() && (type & SEG_TYPE_READABLE));
    }
    constexpr bool writable() const { return is_data() && (type & SEG_TYPE_WRITABLE); }
    constexpr bool expand_down() const { return is_data() && (type & SEG_TYPE_EXPAND_DOWN); }
    constexpr bool conforming() const { return is_code() && (type & SEG_TYPE_CONFORMING); }

    // The type's name: Table 3-1 for code/data, Table 3-2 for system descriptors.
    std::string_view type_name(bool ia32e = false) const {
        return s ? code_data_type_name(type) : system_type_name(type, ia32e);
    }

    constexpr bool operator==(const Descriptor&) const = default;
};

// GDTR (and the base/limit half of LDTR): a table's linear base address and its limit in bytes
// (SDM 2.4.1, 2.4.2). The table holds (limit + 1) / 8 descriptors; a selector's descriptor is
// inside it iff offset + 7 <= limit.
struct DescriptorTableRegister {
    uint64_t base = 0;
    uint16_t limit = 0;
    constexpr bool operator==(const DescriptorTableRegister&) const = default;
};

// The descriptor that Linux's GDT_ENTRY(flags, base, limit) / GDT_ENTRY_INIT() builds
// (arch/x86/include/asm/segment.h, desc_defs.h): flags bits 7:0 are the access byte (type, S,
// DPL, P) and flags bits 15:12 are AVL, L, D/B, G; bits 11:8 of flags are ignored.
constexpr uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit) {
    Descriptor d;
    d.base = base;
    d.limit = limit & 0xfffff;
    d.type = flags & 0xf;
    d.s = (flags >> 4) & 1;
    d.dpl = (flags >> 5) & 3;
    d.p = (flags >> 7) & 1;
    d.avl = (flags >> 12) & 1;
    d.l = (flags >> 13) & 1;
    d.db = (flags >> 14) & 1;
    d.g = (flags >> 15) & 1;
    return d.encode();
}

} // namespace mmemu
