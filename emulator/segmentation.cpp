// Segment loads and access checks. Section numbers are those of the Intel SDM Vol. 3A (chapters 3
// and 5); instruction pseudocode (MOV, JMP, CALL, RET, IRET, LLDT) is from Vol. 2.
#include "emulator/segmentation.h"

#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>

namespace mmemu {

namespace {

// A segmentation fault under construction: the vector, error code, descriptor bit and SDM rule,
// plus the values the rule compared (fault_message() shows them).
struct SegFault {
    Fault f;
    SegFault(uint8_t vector, uint32_t error_code, int bit, const char* rule) {
        f.vector = vector;
        f.error_code = error_code;
        f.bit = int8_t(bit);
        f.rule = rule;
    }
    SegFault& reg(uint8_t r) {
        f.seg = r;
        return *this;
    }
    SegFault& sel(Selector s) {
        f.selector = s.value;
        f.context |= FAULT_CTX_SELECTOR;
        return *this;
    }
    SegFault& cpl(unsigned c) {
        f.cpl = uint8_t(c);
        f.context |= FAULT_CTX_CPL;
        return *this;
    }
    SegFault& desc(const Descriptor& d) {
        f.desc = d.encode();
        f.context |= FAULT_CTX_DESC;
        return *this;
    }
    SegFault& access(uint64_t offset, unsigned size) {
        f.offset = offset;
        f.size = size;
        f.context |= FAULT_CTX_ACCESS;
        return *this;
    }
    SegFault& limit(uint64_t l) {
        f.limit = l;
        f.context |= FAULT_CTX_LIMIT;
        return *this;
    }
    operator Fault() const { return f; }
};

// #GP(selector): the error code names the selector (SDM 6.13).
SegFault gp_sel(Selector sel, int bit, const char* rule) {
    return SegFault(VEC_GP, sel.error_code(), bit, rule).sel(sel);
}

// Descriptor bits named in faults (SDM 3.4.5, Figure 3-8).
constexpr int BIT_TYPE = 40; // type field, bits 43:40
constexpr int BIT_RW = 41;   // W (data) / R (code)
constexpr int BIT_CODE = 43;
constexpr int BIT_S = 44;
constexpr int BIT_DPL = 45; // bits 46:45
constexpr int BIT_P = 47;
constexpr int BIT_L = 53;

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
    if (sel.ti()) {
        // SDM 3.5.1: TI = 1 selects the LDT; with LDTR unusable (null) the load faults.
        if (!ldtr_.valid)
            return gp_sel(sel, -1,
                          "SDM 3.5.1: the selector has TI=1 but LDTR holds a null selector");
        base = ldtr_.base;
        limit = ldtr_.limit;
    } else {
        base = gdtr_.base;
        limit = gdtr_.limit;
    }
    // SDM 3.5.1, 5.4 (and the MOV pseudocode "segment selector index is outside descriptor
    // table limits"): every byte of the descriptor must be within the table's limit.
    const uint64_t off = sel.table_offset();
    if (off + bytes - 1 > limit)
        return gp_sel(sel, -1,
                      sel.ti() ? "SDM 3.5.1: the descriptor's bytes are beyond the LDT limit"
                               : "SDM 3.5.1: the descriptor's bytes are beyond the GDT limit")
            .access(off, bytes)
            .limit(limit);
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
    const uint8_t reg = uint8_t(r);

    if (sel.is_null()) {
        if (is_ss) {
            // MOV pseudocode: a null SS is #GP(0), except in 64-bit mode at CPL < 3 with RPL =
            // CPL (SDM 5.4.1.1, 3.4.4).
            if (!(in_64bit_mode() && cpl < 3 && sel.rpl() == cpl))
                return SegFault(VEC_GP, 0, -1,
                                in_64bit_mode()
                                    ? "SDM 5.4.1.1 / MOV: SS can hold the null selector only in "
                                      "64-bit mode at CPL < 3 with RPL = CPL"
                                    : "SDM 5.4.1 / MOV: SS cannot be loaded with the null selector")
                    .reg(reg)
                    .sel(sel)
                    .cpl(cpl);
        }
        // SDM 5.4.1: DS, ES, FS and GS may hold a null selector; using it faults later.
        seg_[unsigned(r)] = SegmentCache::null(selector);
        return {};
    }

    uint64_t raw = 0;
    LinearAddr where;
    if (Fault f = fetch_descriptor(sel, rd, raw, where); f.raised()) return f;
    const Descriptor d = Descriptor::decode(raw);
    auto gp = [&](int bit, const char* rule) {
        return gp_sel(sel, bit, rule).reg(reg).cpl(cpl).desc(d);
    };

    if (is_ss) {
        // SDM 5.7 and the MOV pseudocode: RPL = CPL, a writable data segment, DPL = CPL, present
        // (else #SS(selector)).
        if (sel.rpl() != cpl) return gp(-1, "SDM 5.7: the SS selector's RPL must equal CPL");
        if (!d.writable())
            return gp(d.s ? (d.is_code() ? BIT_CODE : BIT_RW) : BIT_S,
                      "SDM 5.7 / MOV: SS needs a writable data segment");
        if (d.dpl != cpl) return gp(BIT_DPL, "SDM 5.7: the SS descriptor's DPL must equal CPL");
        if (!d.p)
            return SegFault(VEC_SS, sel.error_code(), BIT_P,
                            "SDM 5.7 / MOV: the stack segment is not present")
                .reg(reg)
                .sel(sel)
                .desc(d);
    } else {
        // SDM 5.4, 5.6, 5.6.1 and the MOV pseudocode: a data or readable code segment; for data
        // and non-conforming code, RPL <= DPL and CPL <= DPL; present (else #NP(selector)).
        if (!d.readable())
            return gp(d.s ? BIT_RW : BIT_S,
                      "SDM 5.4 / MOV: a data segment register needs a data or readable code "
                      "segment");
        if (!d.conforming() && (sel.rpl() > d.dpl || cpl > d.dpl))
            return gp(BIT_DPL, "SDM 5.6: a data segment load needs RPL <= DPL and CPL <= DPL");
        if (!d.p)
            return SegFault(VEC_NP, sel.error_code(), BIT_P,
                            "SDM 5.4 / MOV: the segment is not present")
                .reg(reg)
                .sel(sel)
                .desc(d);
    }

    if (Fault f = set_accessed(d, where, rd); f.raised()) return f;
    Descriptor loaded = d;
    loaded.type |= SEG_TYPE_ACCESSED;
    seg_[unsigned(r)] = SegmentCache::from_descriptor(selector, loaded);
    return {};
}

Fault Segmentation::load_code_segment(uint16_t selector, unsigned cpl, DescriptorTableReader& rd) {
    const Selector sel{selector};
    const uint8_t cs = uint8_t(SegReg::CS);
    if (sel.is_null())
        return SegFault(VEC_GP, 0, -1, "SDM 5.4.1 / JMP: far transfer to the null selector")
            .reg(cs)
            .sel(sel);
    uint64_t raw = 0;
    LinearAddr where;
    if (Fault f = fetch_descriptor(sel, rd, raw, where); f.raised()) return f;
    const Descriptor d = Descriptor::decode(raw);
    auto gp = [&](int bit, const char* rule) {
        return gp_sel(sel, bit, rule).reg(cs).cpl(cpl).desc(d);
    };
    if (!d.is_code())
        return gp(d.s ? BIT_CODE : BIT_S,
                  "SDM 5.8.1 / JMP: the target is not a code segment (call gates, task gates and "
                  "TSS targets are not modelled)");
    // JMP/CALL pseudocode: L = 1 with D = 1 is reserved in IA-32e mode.
    if (mode_.ia32e && d.l && d.db)
        return gp(BIT_L, "SDM 5.2.1 / JMP: code segment with L=1 and D=1 in IA-32e mode");
    if (d.conforming()) {
        // SDM 5.8.1.2: conforming code needs DPL <= CPL; RPL is not checked.
        if (d.dpl > cpl)
            return gp(BIT_DPL, "SDM 5.8.1.2: a conforming code segment needs DPL <= CPL");
    } else if (sel.rpl() > cpl || d.dpl != cpl) {
        // SDM 5.8.1.1: non-conforming code needs RPL <= CPL and DPL = CPL.
        return gp(BIT_DPL,
                  "SDM 5.8.1.1: a non-conforming code segment needs RPL <= CPL and DPL = CPL");
    }
    if (!d.p)
        return SegFault(VEC_NP, sel.error_code(), BIT_P,
                        "SDM 5.8.1 / JMP: the code segment is not present")
            .reg(cs)
            .sel(sel)
            .desc(d);
    if (Fault f = set_accessed(d, where, rd); f.raised()) return f;
    Descriptor loaded = d;
    loaded.type |= SEG_TYPE_ACCESSED;
    // CPL does not change: CS.RPL <- CPL.
    const uint16_t cs_sel = uint16_t((selector & ~SEGMENT_RPL_MASK) | (cpl & SEGMENT_RPL_MASK));
    seg_[unsigned(SegReg::CS)] = SegmentCache::from_descriptor(cs_sel, loaded);
    return {};
}

Fault Segmentation::load_code_segment_return(uint16_t selector, unsigned cpl,
                                             DescriptorTableReader& rd) {
    const Selector sel{selector};
    const uint8_t cs = uint8_t(SegReg::CS);
    if (sel.is_null())
        return SegFault(VEC_GP, 0, -1,
                        "SDM Vol. 2 RET/IRET: the return code segment selector is null")
            .reg(cs)
            .sel(sel);
    uint64_t raw = 0;
    LinearAddr where;
    if (Fault f = fetch_descriptor(sel, rd, raw, where); f.raised()) return f;
    const Descriptor d = Descriptor::decode(raw);
    auto gp = [&](int bit, const char* rule) {
        return gp_sel(sel, bit, rule).reg(cs).cpl(cpl).desc(d);
    };
    if (!d.is_code())
        return gp(d.s ? BIT_CODE : BIT_S, "SDM Vol. 2 RET/IRET: the target is not a code segment");
    if (sel.rpl() < cpl)
        return gp(
            -1,
            "SDM Vol. 2 RET/IRET: the return selector's RPL is below CPL (a return cannot raise "
            "privilege)");
    if (d.conforming() ? d.dpl > sel.rpl() : d.dpl != sel.rpl())
        return gp(BIT_DPL,
                  d.conforming()
                      ? "SDM Vol. 2 RET/IRET: a conforming code segment needs DPL <= RPL"
                      : "SDM Vol. 2 RET/IRET: a non-conforming code segment needs DPL = RPL");
    if (mode_.ia32e && d.l && d.db)
        return gp(BIT_L, "SDM 5.2.1 / IRET: code segment with L=1 and D=1");
    if (!d.p)
        return SegFault(VEC_NP, sel.error_code(), BIT_P,
                        "SDM Vol. 2 RET/IRET: the return code segment is not present")
            .reg(cs)
            .sel(sel)
            .desc(d);
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
    if (cpl != 0)
        return SegFault(VEC_GP, 0, -1, "SDM Vol. 2 LLDT: a CPL-0 instruction")
            .reg(FAULT_SEG_LDTR)
            .cpl(cpl);
    if (sel.is_null()) {
        // LLDT: a null selector marks LDTR invalid; later LDT references fault.
        ldtr_ = SegmentCache::null(selector);
        return {};
    }
    if (sel.ti())
        return gp_sel(sel, -1, "SDM Vol. 2 LLDT: the selector must name the GDT (TI=0)")
            .reg(FAULT_SEG_LDTR);
    // In IA-32e mode the LDT descriptor is 16 bytes (SDM 3.5, 7.2.3 Figure 7-4).
    const unsigned bytes = mode_.ia32e ? 16 : 8;
    uint64_t raw = 0;
    LinearAddr where;
    if (Fault f = fetch_descriptor(sel, rd, raw, where, bytes); f.raised()) return f;
    const Descriptor d = Descriptor::decode(raw);
    auto gp = [&](int bit, const char* rule) {
        return gp_sel(sel, bit, rule).reg(FAULT_SEG_LDTR).desc(d);
    };
    if (d.s || d.type != SYS_TYPE_LDT)
        return gp(d.s ? BIT_S : BIT_TYPE,
                  "SDM Vol. 2 LLDT: the descriptor is not an LDT descriptor");
    uint64_t base = d.base;
    if (mode_.ia32e) {
        uint64_t upper = 0;
        if (Fault f = rd.read_u64(LinearAddr{where.value + 8}, upper); f.raised()) return f;
        // The type field of the upper half (bits 12:8 of its high dword) must be 0, and the
        // 64-bit base canonical.
        if ((upper >> 40) & 0x1f)
            return gp(
                -1, "SDM Vol. 2 LLDT: the upper half of the 16-byte LDT descriptor has type != 0");
        base |= (upper & 0xffffffffu) << 32;
        if (!is_canonical(base, mode_.la57))
            return gp(-1, "SDM Vol. 2 LLDT: the 64-bit LDT base is not canonical").access(base, 1);
    }
    if (!d.p)
        return SegFault(VEC_NP, sel.error_code(), BIT_P,
                        "SDM Vol. 2 LLDT: the LDT descriptor is not present")
            .reg(FAULT_SEG_LDTR)
            .sel(sel)
            .desc(d);
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
    auto fault = [&](int bit, const char* rule) {
        SegFault f(vec, 0, bit, rule);
        f.reg(uint8_t(r)).access(offset, size);
        if (s.valid) f.sel(Selector{s.selector}).desc(s.desc);
        return f;
    };
    if (!s.valid)
        return fault(-1, "SDM 5.4.1: an access through a register holding a null selector");
    switch (access) {
    case AccessType::write:
        if (!(s.rights & SEG_RIGHT_WRITE))
            return fault(s.desc.is_code() ? BIT_CODE : BIT_RW,
                         "SDM 5.4: a write to a code segment or to read-only data");
        break;
    case AccessType::read:
        if (!(s.rights & SEG_RIGHT_READ))
            return fault(BIT_RW, "SDM 5.4: a read from an execute-only code segment");
        break;
    case AccessType::fetch:
        if (!(s.rights & SEG_RIGHT_FETCH))
            return fault(BIT_CODE, "SDM 5.4: an instruction fetch from a segment that is not code");
        break;
    }
    if (s.desc.expand_down())
        return fault(-1, s.desc.db ? "SDM 5.3: outside an expand-down segment (valid offsets are "
                                     "limit + 1 to 0xffffffff with B=1)"
                                   : "SDM 5.3: outside an expand-down segment (valid offsets are "
                                     "limit + 1 to 0xffff with B=0)")
            .limit(s.limit);
    return fault(-1, s.desc.g ? "SDM 5.3: beyond the segment limit (G=1: (limit << 12) | 0xfff)"
                              : "SDM 5.3: beyond the segment limit")
        .limit(s.limit);
}

Fault Segmentation::canonical_fault(SegReg r, uint64_t la, unsigned size) const {
    const uint8_t vec = r == SegReg::SS ? VEC_SS : VEC_GP;
    return SegFault(vec, 0, -1,
                    mode_.la57 ? "SDM 3.3.7.1: a non-canonical address (bits 63:56 must be equal)"
                               : "SDM 3.3.7.1: a non-canonical address (bits 63:47 must be equal)")
        .reg(uint8_t(r))
        .access(la, size);
}

} // namespace mmemu
