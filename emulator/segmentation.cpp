// Segment loads and access checks. Section numbers are those of the Intel SDM Vol. 3A (chapters 3
// and 5); instruction pseudocode (MOV, JMP, CALL, RET, IRET, LLDT) is from Vol. 2.
#include "emulator/segmentation.h"

#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>

namespace mmemu {

namespace {

std::string hex(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
    return b;
}

const char* vector_name(uint8_t v) {
    switch (v) {
    case VEC_GP: return "#GP";
    case VEC_SS: return "#SS";
    case VEC_NP: return "#NP";
    default: return "#?";
    }
}

// A segment-level fault: `bit` is the descriptor bit that decided (-1 if none).
Fault seg_fault(uint8_t vector, uint32_t error_code, int bit, const std::string& why) {
    Fault f;
    f.vector = vector;
    f.error_code = error_code;
    f.bit = bit;
    f.rule = std::string(vector_name(vector)) + "(" + hex(error_code) + "): " + why;
    return f;
}

Fault gp_sel(Selector sel, int bit, const std::string& why) {
    return seg_fault(VEC_GP, sel.error_code(), bit, why);
}

// Descriptor bits named in faults (SDM 3.4.5, Figure 3-8).
constexpr int BIT_TYPE = 40; // type field, bits 43:40
constexpr int BIT_RW = 41;   // W (data) / R (code)
constexpr int BIT_CODE = 43;
constexpr int BIT_S = 44;
constexpr int BIT_DPL = 45; // bits 46:45
constexpr int BIT_P = 47;
constexpr int BIT_L = 53;

std::string desc_what(const Descriptor& d, bool ia32e) {
    return std::string(d.s ? "" : "system ") + "descriptor \"" + std::string(d.type_name(ia32e)) +
           "\" (type " + hex(d.type) + ", S=" + std::to_string(int(d.s)) + ")";
}

} // namespace

std::string_view seg_reg_name(SegReg r) {
    switch (r) {
    case SegReg::ES: return "ES";
    case SegReg::CS: return "CS";
    case SegReg::SS: return "SS";
    case SegReg::DS: return "DS";
    case SegReg::FS: return "FS";
    case SegReg::GS: return "GS";
    }
    return "?";
}

// ---------------------------------------------------------------------------------------------
// The hidden part of a segment register.

SegmentCache SegmentCache::from_descriptor(uint16_t selector, const Descriptor& d) {
    SegmentCache c;
    c.selector = selector;
    c.base = d.base;
    c.limit = d.effective_limit();
    c.desc = d;
    c.valid = true;
    if (d.expand_down()) {
        // SDM 5.3: valid offsets of an expand-down segment run from limit + 1 to 0xffffffff
        // (B = 1) or 0xffff (B = 0).
        c.lo = uint64_t(c.limit) + 1;
        c.hi = d.db ? 0xffffffffu : 0xffffu;
    } else {
        c.lo = 0;
        c.hi = c.limit;
    }
    // SDM 3.4.5.1 Table 3-1; 5.6.1: data segments are always readable and writable iff W; code
    // segments are executable, readable iff R, never writable. System segments grant nothing.
    if (d.is_data())
        c.rights = SEG_RIGHT_READ | (d.writable() ? SEG_RIGHT_WRITE : 0);
    else if (d.is_code())
        c.rights = SEG_RIGHT_FETCH | (d.readable() ? SEG_RIGHT_READ : 0);
    return c;
}

SegmentCache SegmentCache::null(uint16_t selector) {
    SegmentCache c;
    c.selector = selector;
    return c;
}

// ---------------------------------------------------------------------------------------------
// Implicit descriptor-table accesses with paging off.

Fault PhysDescriptorTableReader::read_u64(LinearAddr la, uint64_t& out) {
    const PhysAddr pa{la.value};
    out = ram_.contains(pa, 8) ? ram_.read_u64(pa) : ~uint64_t{0};
    return {};
}

Fault PhysDescriptorTableReader::write_u8(LinearAddr la, uint8_t value) {
    const PhysAddr pa{la.value};
    if (ram_.contains(pa, 1)) ram_.write(pa, &value, 1);
    return {};
}

// ---------------------------------------------------------------------------------------------
// Descriptor fetch.

Fault Segmentation::fetch_descriptor(Selector sel, DescriptorTableReader& rd, uint64_t& raw,
                                     LinearAddr& where, unsigned bytes) const {
    uint64_t base;
    uint64_t limit;
    const char* table;
    if (sel.ti()) {
        // SDM 3.5.1: TI = 1 selects the LDT; with LDTR unusable (null) the load faults.
        if (!ldtr_.valid)
            return gp_sel(sel, -1,
                          "SDM 3.5.1: selector " + hex(sel.value) +
                              " has TI=1 but LDTR holds a null selector");
        base = ldtr_.base;
        limit = ldtr_.limit;
        table = "LDT";
    } else {
        base = gdtr_.base;
        limit = gdtr_.limit;
        table = "GDT";
    }
    // SDM 3.5.1, 5.4 (and the MOV pseudocode "segment selector index is outside descriptor
    // table limits"): every byte of the descriptor must be within the table's limit.
    const uint64_t off = sel.table_offset();
    if (off + bytes - 1 > limit)
        return gp_sel(sel, -1,
                      "SDM 3.5.1: selector " + hex(sel.value) + " (index " +
                          std::to_string(sel.index()) + ") is beyond the " + table + " limit " +
                          hex(limit) + " (descriptor bytes " + hex(off) + ".." +
                          hex(off + bytes - 1) + ")");
    uint64_t la = base + off;
    if (!mode_.ia32e) la &= 0xffffffffu; // linear addresses are 32-bit outside IA-32e mode
    where = LinearAddr{la};
    return rd.read_u64(where, raw);
}

// SDM 3.4.5.1: "The processor sets this bit when it loads a segment selector for the segment into
// a segment register"; it writes only when the bit is clear.
Fault Segmentation::set_accessed(const Descriptor& d, LinearAddr where,
                                 DescriptorTableReader& rd) const {
    if (d.type & SEG_TYPE_ACCESSED) return {};
    const uint8_t access = d.access_byte() | SEG_TYPE_ACCESSED;
    uint64_t la = where.value + 5;
    if (!mode_.ia32e) la &= 0xffffffffu;
    return rd.write_u8(LinearAddr{la}, access);
}

// ---------------------------------------------------------------------------------------------
// Loads.

Fault Segmentation::load_data_segment(SegReg r, uint16_t selector, unsigned cpl,
                                      DescriptorTableReader& rd) {
    if (r == SegReg::CS)
        throw std::invalid_argument("load_data_segment: CS is loaded by far transfers "
                                    "(load_code_segment), MOV to CS is #UD");
    const Selector sel{selector};
    const bool is_ss = r == SegReg::SS;

    if (sel.is_null()) {
        if (is_ss) {
            // MOV pseudocode: a null SS is #GP(0), except in 64-bit mode at CPL < 3 with RPL =
            // CPL (SDM 5.4.1.1, 3.4.4).
            if (!(in_64bit_mode() && cpl < 3 && sel.rpl() == cpl))
                return seg_fault(VEC_GP, 0, -1,
                                 "SDM 5.4.1 / MOV: SS cannot be loaded with the null selector " +
                                     hex(selector) +
                                     (in_64bit_mode() ? " (64-bit mode allows it only at CPL < 3 "
                                                        "with RPL = CPL)"
                                                      : ""));
        }
        // SDM 5.4.1: DS, ES, FS and GS may hold a null selector; using it faults later.
        seg_[unsigned(r)] = SegmentCache::null(selector);
        return {};
    }

    uint64_t raw = 0;
    LinearAddr where;
    if (Fault f = fetch_descriptor(sel, rd, raw, where); f.raised()) return f;
    const Descriptor d = Descriptor::decode(raw);
    // Fault texts are built only when a check fails.
    auto name = [r] { return std::string(seg_reg_name(r)); };
    auto what = [&] { return desc_what(d, mode_.ia32e); };

    if (is_ss) {
        // SDM 5.7 and the MOV pseudocode: RPL = CPL, a writable data segment, DPL = CPL, present
        // (else #SS(selector)).
        if (sel.rpl() != cpl)
            return gp_sel(sel, -1,
                          "SDM 5.7: SS selector " + hex(selector) + " has RPL " +
                              std::to_string(sel.rpl()) + " != CPL " + std::to_string(cpl));
        if (!d.writable())
            return gp_sel(sel, d.s ? (d.is_code() ? BIT_CODE : BIT_RW) : BIT_S,
                          "SDM 5.7 / MOV: SS needs a writable data segment, " + what() +
                              " is not one");
        if (d.dpl != cpl)
            return gp_sel(sel, BIT_DPL,
                          "SDM 5.7: SS descriptor DPL " + std::to_string(d.dpl) + " != CPL " +
                              std::to_string(cpl));
        if (!d.p)
            return seg_fault(VEC_SS, sel.error_code(), BIT_P,
                             "SDM 5.7 / MOV: stack segment " + hex(selector) + " is not present");
    } else {
        // SDM 5.4, 5.6, 5.6.1 and the MOV pseudocode: a data or readable code segment; for data
        // and non-conforming code, RPL <= DPL and CPL <= DPL; present (else #NP(selector)).
        if (!d.readable())
            return gp_sel(sel, d.s ? BIT_RW : BIT_S,
                          "SDM 5.4 / MOV: " + name() + " needs a data or readable code segment, " +
                              what() + " is not one");
        if (!d.conforming() && (sel.rpl() > d.dpl || cpl > d.dpl))
            return gp_sel(sel, BIT_DPL,
                          "SDM 5.6: " + name() + " load needs RPL (" + std::to_string(sel.rpl()) +
                              ") <= DPL (" + std::to_string(d.dpl) + ") and CPL (" +
                              std::to_string(cpl) + ") <= DPL");
        if (!d.p)
            return seg_fault(VEC_NP, sel.error_code(), BIT_P,
                             "SDM 5.4 / MOV: segment " + hex(selector) + " loaded into " + name() +
                                 " is not present");
    }

    if (Fault f = set_accessed(d, where, rd); f.raised()) return f;
    Descriptor loaded = d;
    loaded.type |= SEG_TYPE_ACCESSED;
    seg_[unsigned(r)] = SegmentCache::from_descriptor(selector, loaded);
    return {};
}

Fault Segmentation::load_code_segment(uint16_t selector, unsigned cpl, DescriptorTableReader& rd) {
    const Selector sel{selector};
    if (sel.is_null())
        return seg_fault(VEC_GP, 0, -1, "SDM 5.4.1 / JMP: far transfer to the null selector");
    uint64_t raw = 0;
    LinearAddr where;
    if (Fault f = fetch_descriptor(sel, rd, raw, where); f.raised()) return f;
    const Descriptor d = Descriptor::decode(raw);
    if (!d.is_code())
        return gp_sel(sel, d.s ? BIT_CODE : BIT_S,
                      "SDM 5.8.1 / JMP: " + desc_what(d, mode_.ia32e) +
                          " is not a code segment (call gates, task gates and TSS targets are "
                          "not modelled)");
    // JMP/CALL pseudocode: L = 1 with D = 1 is reserved in IA-32e mode.
    if (mode_.ia32e && d.l && d.db)
        return gp_sel(sel, BIT_L, "SDM 5.2.1 / JMP: code segment with L=1 and D=1 in IA-32e mode");
    if (d.conforming()) {
        // SDM 5.8.1.2: conforming code needs DPL <= CPL; RPL is not checked.
        if (d.dpl > cpl)
            return gp_sel(sel, BIT_DPL,
                          "SDM 5.8.1.2: conforming code segment DPL " + std::to_string(d.dpl) +
                              " > CPL " + std::to_string(cpl));
    } else if (sel.rpl() > cpl || d.dpl != cpl) {
        // SDM 5.8.1.1: non-conforming code needs RPL <= CPL and DPL = CPL.
        return gp_sel(sel, BIT_DPL,
                      "SDM 5.8.1.1: non-conforming code segment needs RPL (" +
                          std::to_string(sel.rpl()) + ") <= CPL (" + std::to_string(cpl) +
                          ") and DPL (" + std::to_string(d.dpl) + ") = CPL");
    }
    if (!d.p)
        return seg_fault(VEC_NP, sel.error_code(), BIT_P,
                         "SDM 5.8.1 / JMP: code segment " + hex(selector) + " is not present");
    if (Fault f = set_accessed(d, where, rd); f.raised()) return f;
    Descriptor loaded = d;
    loaded.type |= SEG_TYPE_ACCESSED;
    // CPL does not change: CS.RPL <- CPL.
    const uint16_t cs = uint16_t((selector & ~SEGMENT_RPL_MASK) | (cpl & SEGMENT_RPL_MASK));
    seg_[unsigned(SegReg::CS)] = SegmentCache::from_descriptor(cs, loaded);
    return {};
}

Fault Segmentation::load_code_segment_return(uint16_t selector, unsigned cpl,
                                             DescriptorTableReader& rd) {
    const Selector sel{selector};
    if (sel.is_null())
        return seg_fault(VEC_GP, 0, -1, "RET/IRET: return code segment selector is null");
    uint64_t raw = 0;
    LinearAddr where;
    if (Fault f = fetch_descriptor(sel, rd, raw, where); f.raised()) return f;
    const Descriptor d = Descriptor::decode(raw);
    if (!d.is_code())
        return gp_sel(sel, d.s ? BIT_CODE : BIT_S,
                      "RET/IRET: " + desc_what(d, mode_.ia32e) + " is not a code segment");
    if (sel.rpl() < cpl)
        return gp_sel(sel, -1,
                      "RET/IRET: return selector RPL " + std::to_string(sel.rpl()) + " < CPL " +
                          std::to_string(cpl) + " (a return cannot raise privilege)");
    if (d.conforming() ? d.dpl > sel.rpl() : d.dpl != sel.rpl())
        return gp_sel(
            sel, BIT_DPL,
            std::string("RET/IRET: ") +
                (d.conforming()
                     ? "conforming code segment DPL " + std::to_string(d.dpl) + " > RPL "
                     : "non-conforming code segment DPL " + std::to_string(d.dpl) + " != RPL ") +
                std::to_string(sel.rpl()));
    if (mode_.ia32e && d.l && d.db)
        return gp_sel(sel, BIT_L, "SDM 5.2.1 / IRET: code segment with L=1 and D=1");
    if (!d.p)
        return seg_fault(VEC_NP, sel.error_code(), BIT_P,
                         "RET/IRET: return code segment " + hex(selector) + " is not present");
    if (Fault f = set_accessed(d, where, rd); f.raised()) return f;
    Descriptor loaded = d;
    loaded.type |= SEG_TYPE_ACCESSED;
    seg_[unsigned(SegReg::CS)] = SegmentCache::from_descriptor(selector, loaded);
    return {};
}

void Segmentation::null_outer_segments(unsigned new_cpl) {
    // RET/IRET "RETURN-TO-OUTER-PRIVILEGE-LEVEL": for ES, FS, GS and DS, if the register holds a
    // data or non-conforming code segment and CPL > its DPL (the cached DPL), load it with a null
    // selector, so the less privileged code cannot use it.
    for (SegReg r : {SegReg::ES, SegReg::FS, SegReg::GS, SegReg::DS}) {
        SegmentCache& s = seg_[unsigned(r)];
        if (!s.valid) continue;
        if ((s.desc.is_data() || (s.desc.is_code() && !s.desc.conforming())) &&
            new_cpl > s.desc.dpl)
            s = SegmentCache::null(0);
    }
}

void Segmentation::load_fixed(SegReg r, uint16_t selector, const Descriptor& d) {
    seg_[unsigned(r)] = SegmentCache::from_descriptor(selector, d);
}

Fault Segmentation::lldt(uint16_t selector, unsigned cpl, DescriptorTableReader& rd) {
    const Selector sel{selector};
    if (cpl != 0) return seg_fault(VEC_GP, 0, -1, "LLDT: CPL " + std::to_string(cpl) + " != 0");
    if (sel.is_null()) {
        // LLDT: a null selector marks LDTR invalid; later LDT references fault.
        ldtr_ = SegmentCache::null(selector);
        return {};
    }
    if (sel.ti())
        return gp_sel(sel, -1, "LLDT: selector " + hex(selector) + " must name the GDT (TI=0)");
    // In IA-32e mode the LDT descriptor is 16 bytes (SDM 3.5, 7.2.3 Figure 7-4).
    const unsigned bytes = mode_.ia32e ? 16 : 8;
    uint64_t raw = 0;
    LinearAddr where;
    if (Fault f = fetch_descriptor(sel, rd, raw, where, bytes); f.raised()) return f;
    const Descriptor d = Descriptor::decode(raw);
    if (d.s || d.type != SYS_TYPE_LDT)
        return gp_sel(sel, d.s ? BIT_S : BIT_TYPE,
                      "LLDT: " + desc_what(d, mode_.ia32e) + " is not an LDT descriptor");
    uint64_t base = d.base;
    if (mode_.ia32e) {
        uint64_t upper = 0;
        if (Fault f = rd.read_u64(LinearAddr{where.value + 8}, upper); f.raised()) return f;
        // The type field of the upper half (bits 12:8 of its high dword) must be 0, and the
        // 64-bit base canonical.
        if ((upper >> 40) & 0x1f)
            return gp_sel(sel, -1, "LLDT: upper half of the 16-byte LDT descriptor has type != 0");
        base |= (upper & 0xffffffffu) << 32;
        if (!is_canonical(base, mode_.la57))
            return gp_sel(sel, -1, "LLDT: LDT base " + hex(base) + " is not canonical");
    }
    if (!d.p)
        return seg_fault(VEC_NP, sel.error_code(), BIT_P,
                         "LLDT: LDT descriptor " + hex(selector) + " is not present");
    ldtr_ = SegmentCache::from_descriptor(selector, d);
    ldtr_.base = base;
    return {};
}

// ---------------------------------------------------------------------------------------------
// Access faults (the cold half of linearize).

Fault Segmentation::access_fault(SegReg r, uint64_t offset, unsigned size,
                                 AccessType access) const {
    const SegmentCache& s = seg_[unsigned(r)];
    const uint8_t vec = r == SegReg::SS ? VEC_SS : VEC_GP;
    const std::string name(seg_reg_name(r));
    if (!s.valid)
        return seg_fault(vec, 0, -1,
                         "SDM 5.4.1: access through " + name + " which holds a null selector (" +
                             hex(s.selector) + ")");
    const std::string what = std::string(s.desc.type_name(mode_.ia32e));
    switch (access) {
    case AccessType::write:
        if (!(s.rights & SEG_RIGHT_WRITE))
            return seg_fault(vec, 0, s.desc.is_code() ? BIT_CODE : BIT_RW,
                             "SDM 5.4: write to " + name + " segment of type \"" + what +
                                 "\" (code segments and read-only data are not writable)");
        break;
    case AccessType::read:
        if (!(s.rights & SEG_RIGHT_READ))
            return seg_fault(vec, 0, BIT_RW,
                             "SDM 5.4: read from " + name + " segment of type \"" + what +
                                 "\" (execute-only code)");
        break;
    case AccessType::fetch:
        if (!(s.rights & SEG_RIGHT_FETCH))
            return seg_fault(vec, 0, BIT_CODE,
                             "SDM 5.4: instruction fetch from " + name + " segment of type \"" +
                                 what + "\" (only code segments are executable)");
        break;
    }
    const uint64_t last = offset + (size - 1);
    if (s.desc.expand_down())
        return seg_fault(vec, 0, -1,
                         "SDM 5.3: " + name + " access [" + hex(offset) + ", " + hex(last) +
                             "] outside expand-down segment: valid offsets are " + hex(s.lo) +
                             ".." + hex(s.hi) + " (limit " + hex(s.limit) +
                             ", B=" + std::to_string(int(s.desc.db)) + ")");
    return seg_fault(vec, 0, -1,
                     "SDM 5.3: " + name + " access [" + hex(offset) + ", " + hex(last) +
                         "] beyond segment limit " + hex(s.limit) +
                         (s.desc.g ? " (G=1: (limit << 12) | 0xfff)" : ""));
}

Fault Segmentation::canonical_fault(SegReg r, uint64_t la, unsigned size) const {
    const uint8_t vec = r == SegReg::SS ? VEC_SS : VEC_GP;
    return seg_fault(vec, 0, -1,
                     "SDM 3.3.7.1: " + std::string(seg_reg_name(r)) + " access [" + hex(la) + ", " +
                         hex(la + (size - 1)) + "] is not canonical (bits 63:" +
                         (mode_.la57 ? "56" : "47") + " must be equal)");
}

} // namespace mmemu
