// Protected-mode and IA-32e segmentation (Intel SDM Vol. 3A chapter 3 and 5.1-5.8): the six
// segment registers with their hidden descriptor caches, GDTR and LDTR, the checks made when a
// segment register is loaded (MOV/POP to Sreg, far JMP/CALL/RET/IRET to a code segment, LLDT),
// and the checks made on every access (Segmentation::linearize): null segment, type, limit
// (expand-up and expand-down), and in 64-bit mode the canonical-address check.
//
// Descriptor-table reads and the Accessed-bit write are implicit supervisor accesses at linear
// addresses (SDM 4.6: "accesses to the GDT or LDT to load a segment descriptor"); they go through
// a DescriptorTableReader so the CPU model can route them through the paging walker.
// PhysDescriptorTableReader is the one for paging off (linear == physical).
//
// Nothing here is global; a Segmentation object is one CPU's segment state.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "emulator/addr.h"
#include "emulator/cpu_regs.h"
#include "emulator/descriptor.h"
#include "emulator/fault.h"
#include "emulator/paging.h"
#include "emulator/phys_mem.h"

namespace mmemu {

// The segment registers, numbered as the sreg field of an instruction encodes them (SDM Vol. 2,
// appendix B, "Encoding of Segment Register (sreg) Field": ES=0, CS=1, SS=2, DS=3, FS=4, GS=5).
enum class SegReg : uint8_t { ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5 };
inline constexpr unsigned NR_SEG_REGS = 6;
std::string_view seg_reg_name(SegReg r);

// Rights a loaded segment grants (SDM 3.4.5.1 Table 3-1, 5.4, 5.6.1).
inline constexpr uint8_t SEG_RIGHT_READ = 1;
inline constexpr uint8_t SEG_RIGHT_WRITE = 2;
inline constexpr uint8_t SEG_RIGHT_FETCH = 4;

// A segment register: the visible selector and the hidden part the processor fills from the
// descriptor on a load (SDM 3.4.3, Figure 3-7), plus the offset bounds and rights derived from it
// once at load time so that an access costs two compares.
struct SegmentCache {
    uint16_t selector = 0;
    uint64_t base = 0;  // linear base (FS/GS in 64-bit mode: the full 64-bit base)
    uint32_t limit = 0; // effective limit in bytes (Descriptor::effective_limit)
    Descriptor desc;    // the attributes as loaded (type incl. A, S, DPL, P, AVL, L, D/B, G)
    bool valid = false; // false after a null selector load ("unusable")
    uint64_t lo = 0;    // lowest valid offset (SDM 5.3): 0, or limit + 1 for expand-down
    uint64_t hi = 0;    // highest valid offset: limit, or 0xffff / 0xffffffff for expand-down
    uint8_t rights = 0; // SEG_RIGHT_* bits

    // The cache a successful load of `selector` with descriptor `d` produces.
    static SegmentCache from_descriptor(uint16_t selector, const Descriptor& d);
    // The cache a null selector load produces (base and limit cleared, as Intel CPUs do).
    static SegmentCache null(uint16_t selector);
};

// Implicit supervisor accesses to the GDT/LDT. read_u64 reads the 8 bytes of a descriptor;
// write_u8 sets the access-rights byte (byte 5) when the processor sets the Accessed bit (SDM
// 3.4.5.1). Either may fail with a Fault (for example a #PF from the walker), which the segment
// load then returns. Called only on loads, never per access.
class DescriptorTableReader {
public:
    virtual Fault read_u64(LinearAddr la, uint64_t& out) = 0;
    virtual Fault write_u8(LinearAddr la, uint8_t value) = 0;

protected:
    ~DescriptorTableReader() = default;
};

// Paging off: the linear address is the physical address. Bytes outside RAM read as all ones and
// writes to them are dropped, as on a PC bus with nothing behind the address.
class PhysDescriptorTableReader final : public DescriptorTableReader {
public:
    explicit PhysDescriptorTableReader(PhysicalMemory& ram) : ram_(ram) {}
    Fault read_u64(LinearAddr la, uint64_t& out) override;
    Fault write_u8(LinearAddr la, uint8_t value) override;

private:
    PhysicalMemory& ram_;
};

// The outcome of Segmentation::linearize: a linear address, or a fault.
struct Linearized {
    LinearAddr addr;
    Fault fault;
    bool ok() const { return !fault.raised(); }
};

class Segmentation {
public:
    // IA32_EFER.LMA (IA-32e mode) and CR4.LA57. 64-bit mode is IA-32e mode with CS.L = 1 (SDM
    // 2.2.10, 5.2.1); otherwise IA-32e mode is compatibility mode and segmentation works as in
    // protected mode.
    struct Mode {
        bool ia32e = false;
        bool la57 = false;
    };

    Segmentation() = default;

    void set_mode(Mode m) { mode_ = m; }
    Mode mode() const { return mode_; }
    // Take IA-32e mode from EFER.LMA and LA57 from CR4.LA57.
    void sync_mode(const CpuRegs& r) {
        mode_.ia32e = r.long_mode();
        mode_.la57 = (r.cr4 & CR4_LA57) != 0;
    }
    bool in_64bit_mode() const {
        const SegmentCache& cs = seg_[unsigned(SegReg::CS)];
        return mode_.ia32e && cs.valid && cs.desc.l;
    }

    // ---- descriptor-table registers -------------------------------------------------------
    // LGDT (no checks: LGDT is a CPL-0 instruction whose operand is in memory).
    void lgdt(DescriptorTableRegister gdtr) { gdtr_ = gdtr; }
    const DescriptorTableRegister& gdtr() const { return gdtr_; }
    // LLDT (SDM Vol. 2A LLDT): CPL must be 0 (#GP(0)); a null selector makes LDTR unusable; the
    // selector must name an LDT descriptor in the GDT (#GP(sel)) that is present (#NP(sel)). In
    // IA-32e mode the descriptor is 16 bytes and supplies base bits 63:32.
    Fault lldt(uint16_t selector, unsigned cpl, DescriptorTableReader& rd);
    const SegmentCache& ldtr() const { return ldtr_; }

    // ---- segment register loads -------------------------------------------------------------
    // MOV/POP/LDS/LES/LFS/LGS/LSS to DS, ES, FS, GS or SS at privilege `cpl` (SDM 5.4.1, 5.6, 5.7
    // and the MOV pseudocode). On success the register's cache is loaded and the descriptor's
    // Accessed bit is set in memory. CS is not accepted here (MOV to CS is #UD): throws
    // std::invalid_argument.
    Fault load_data_segment(SegReg r, uint16_t selector, unsigned cpl, DescriptorTableReader& rd);
    // Far JMP/CALL straight to a code segment (SDM 5.8.1, JMP/CALL pseudocode): CPL does not
    // change; CS.RPL becomes CPL. Gates and task switches are not modelled (#GP(sel)).
    Fault load_code_segment(uint16_t selector, unsigned cpl, DescriptorTableReader& rd);
    // Far RET/IRET to a code segment (RET/IRET pseudocode): RPL >= CPL; the new CPL is the
    // selector's RPL. After a return to an outer level, load SS with load_data_segment at the new
    // CPL and call null_outer_segments(new CPL).
    Fault load_code_segment_return(uint16_t selector, unsigned cpl, DescriptorTableReader& rd);
    // RET/IRET to an outer privilege level: DS, ES, FS and GS that hold data or non-conforming
    // code segments with DPL < new CPL are loaded with a null selector.
    void null_outer_segments(unsigned new_cpl);
    // Load a register from a descriptor without reading a table or checking anything: the fixed
    // flat segments SYSCALL/SYSRET/SYSENTER/SYSEXIT install (SDM Vol. 2B), machine setup, tests.
    void load_fixed(SegReg r, uint16_t selector, const Descriptor& d);
    // IA32_FS_BASE / IA32_GS_BASE MSR writes and WRFSBASE/WRGSBASE (64-bit bases).
    void set_base(SegReg r, uint64_t base) { seg_[unsigned(r)].base = base; }

    const SegmentCache& reg(SegReg r) const { return seg_[unsigned(r)]; }
    // CPL is the RPL field of CS (SDM 5.5).
    unsigned cpl() const { return seg_[unsigned(SegReg::CS)].selector & SEGMENT_RPL_MASK; }

    // Read the descriptor a selector names from the GDT or LDT: #GP(sel) if TI = 1 and LDTR is
    // unusable, or if bytes [offset, offset + bytes - 1] are beyond the table's limit (SDM 3.5.1,
    // 5.4). `where` receives the descriptor's linear address.
    Fault fetch_descriptor(Selector sel, DescriptorTableReader& rd, uint64_t& raw,
                           LinearAddr& where, unsigned bytes = 8) const;

    // ---- accesses ---------------------------------------------------------------------------
    // The linear address of `size` bytes at `offset` in segment `r` (SDM 3.4, 5.3, 5.4, 3.3.7.1).
    // Outside 64-bit mode: null segment (#GP(0)), rights (write to code or to read-only data,
    // read of execute-only code, fetch from a data segment), limit (expand-up: offset + size - 1
    // <= limit; expand-down: offset > limit and offset + size - 1 <= 0xffff or 0xffffffff by
    // D/B); the linear address wraps at 4 GiB. In 64-bit mode: only FS and GS add their base, no
    // limit or type check, and the first and last byte must be canonical. Faults are #GP(0), or
    // #SS(0) when r is SS. Privilege is checked when a register is loaded, not here, so the
    // access does not depend on CPL. AccessType is the walker's (emulator/paging.h).
    // Decisions where the SDM leaves room: an access that runs past an effective limit of
    // 0xffffffff faults (SDM 5.3 calls this implementation-specific); in 64-bit mode no type
    // check is made either (only the canonical check, as Bochs does: cpu/access.cc).
    Linearized linearize(SegReg r, uint64_t offset, unsigned size, AccessType access) const {
        const SegmentCache& s = seg_[unsigned(r)];
        if (size == 0) size = 1;
        if (in_64bit_mode()) {
            const uint64_t base = (r == SegReg::FS || r == SegReg::GS) ? s.base : 0;
            const uint64_t la = base + offset;
            if (!is_canonical(la, mode_.la57) || !is_canonical(la + (size - 1), mode_.la57))
                return {LinearAddr{}, canonical_fault(r, la, size)};
            return {LinearAddr{la}, Fault{}};
        }
        const uint8_t need = access == AccessType::read    ? SEG_RIGHT_READ
                             : access == AccessType::write ? SEG_RIGHT_WRITE
                                                           : SEG_RIGHT_FETCH;
        if (!s.valid || !(s.rights & need) || offset < s.lo || offset > s.hi ||
            size - 1 > s.hi - offset)
            return {LinearAddr{}, access_fault(r, offset, size, access)};
        return {LinearAddr{(s.base + offset) & 0xffffffffu}, Fault{}};
    }

private:
    Fault access_fault(SegReg r, uint64_t offset, unsigned size, AccessType access) const;
    Fault canonical_fault(SegReg r, uint64_t la, unsigned size) const;
    Fault set_accessed(const Descriptor& d, LinearAddr where, DescriptorTableReader& rd) const;

    Mode mode_;
    std::array<SegmentCache, NR_SEG_REGS> seg_{};
    DescriptorTableRegister gdtr_{0, 0xffff}; // reset value (SDM 9.1.1, Table 9-1)
    SegmentCache ldtr_{};
};

} // namespace mmemu
