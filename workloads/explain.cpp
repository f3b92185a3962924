#include "workloads/explain.h"

#include <cstdio>
#include <sstream>

namespace mmemu {

namespace {

const char* mode_name(PagingMode m) {
    switch (m) {
    case PagingMode::none: return "paging disabled";
    case PagingMode::bits32: return "32-bit paging, 2 levels (10/10/12)";
    case PagingMode::pae: return "PAE paging, 3 levels (2/9/9/12)";
    case PagingMode::level4: return "4-level paging (9/9/9/9/12)";
    case PagingMode::level5: return "5-level paging (9/9/9/9/9/12)";
    }
    return "?";
}

std::string decode_bits(uint64_t e, bool wide, bool leaf, int level) {
    std::ostringstream o;
    auto b = [&](const char* name, int bit) { o << name << "=" << ((e >> bit) & 1) << " "; };
    b("P", 0);
    b("R/W", 1);
    b("U/S", 2);
    b("PWT", 3);
    b("PCD", 4);
    b("A", 5);
    if (leaf) b("D", 6);
    if (level > 1)
        b("PS", 7);
    else
        b("PAT", 7);
    if (leaf) b("G", 8);
    if (wide) b("XD", 63);
    if (wide && leaf) o << "PK=" << ((e >> 59) & 0xf) << " ";
    std::string s = o.str();
    if (!s.empty()) s.pop_back();
    return s;
}

} // namespace

std::string explain_translation(const CpuRegs& regs, const PdpteRegs& pdptes, PhysicalMemory& ram,
                                const AccessRequest& req) {
    std::ostringstream o;
    const PagingMode mode = regs.paging_mode();
    const bool wide = mode != PagingMode::bits32;
    const int w = mode == PagingMode::bits32 || mode == PagingMode::pae ? 8 : 16;
    o << "Linear address " << hex_digits(req.la.value, w) << ": " << mode_name(mode) << "\n";
    o << "Access: "
      << (req.type == AccessType::read    ? "read"
          : req.type == AccessType::write ? "write"
                                          : "fetch")
      << (req.implicit ? ", implicit supervisor"
          : req.user   ? ", user mode (CPL 3)"
                       : ", supervisor mode (CPL 0)")
      << "\n";
    if (mode == PagingMode::none) {
        o << "Physical address " << hex_digits(req.la.value & 0xffffffffull, 8)
          << " (no translation)\n";
        return o.str();
    }
    if (!is_canonical(regs, req.la)) {
        o << "Not canonical: bits 63:" << (mode == PagingMode::level5 ? 57 : 48)
          << " must all equal the bit below them -> #GP(0) (SDM 3.3.7.1)\n";
        return o.str();
    }
    // The index fields.
    o << "Fields:\n";
    auto field = [&](int hi, int lo, const char* what) {
        const uint64_t v = (req.la.value >> lo) & ((1ull << (hi - lo + 1)) - 1);
        char buf[128];
        std::snprintf(buf, sizeof buf, "  bits %2d:%-2d = %-7s (%llu)  %s\n", hi, lo,
                      hex(v).c_str(), static_cast<unsigned long long>(v), what);
        o << buf;
    };
    switch (mode) {
    case PagingMode::bits32:
        field(31, 22, "page-directory (PGD) index");
        field(21, 12, "page-table index");
        break;
    case PagingMode::pae:
        field(31, 30, "PDPTE register index");
        field(29, 21, "page-directory index");
        field(20, 12, "page-table index");
        break;
    case PagingMode::level5: field(56, 48, "PML5 index"); [[fallthrough]];
    case PagingMode::level4:
        field(47, 39, "PML4 index");
        field(38, 30, "page-directory-pointer index");
        field(29, 21, "page-directory index");
        field(20, 12, "page-table index");
        break;
    case PagingMode::none: break;
    }
    field(11, 0, "offset in a 4 KiB page");
    o << "CR3 = " << hex(regs.cr3) << "\n";

    const WalkResult r = page_walk(regs, pdptes, ram, req);
    o << "Walk:\n";
    for (unsigned i = 0; i < r.nsteps; i++) {
        const WalkStep& s = r.steps[i];
        o << "  " << (i + 1) << ". " << level_entry_name(s.level, mode) << "[" << s.index << "]";
        if (mode == PagingMode::pae && s.level == 3)
            o << " (PDPTE register, loaded with CR3)";
        else
            o << " at " << to_string(s.entry_pa);
        o << " = " << hex_digits(s.entry, wide ? 16 : 8) << "\n     "
          << decode_bits(s.entry, wide, s.leaf, s.level);
        if (r.fault.raised() && r.fault.level == s.level && i + 1 == r.nsteps) {
            o << "\n";
            break;
        }
        if (s.leaf) {
            o << "\n     -> "
              << (r.page_shift == 12   ? "4 KiB"
                  : r.page_shift == 21 ? "2 MiB"
                  : r.page_shift == 22 ? "4 MiB"
                                       : "1 GiB")
              << " page frame at " << to_string(r.frame_pa) << "\n";
        } else if (i + 1 < r.nsteps) {
            o << "\n     -> next table at " << to_string(s.next_table) << "\n";
        } else {
            o << "\n";
        }
    }
    if (r.fault.raised()) {
        o << "Fault: #PF, error code " << hex(r.fault.error_code)
          << " (P=" << (r.fault.error_code & 1) << " W/R=" << ((r.fault.error_code >> 1) & 1)
          << " U/S=" << ((r.fault.error_code >> 2) & 1)
          << " RSVD=" << ((r.fault.error_code >> 3) & 1)
          << " I/D=" << ((r.fault.error_code >> 4) & 1) << " PK=" << ((r.fault.error_code >> 5) & 1)
          << "), CR2 = " << to_string(r.fault.cr2) << "\n";
        o << "Decided by the " << level_entry_name(r.fault.level, mode);
        if (r.fault.bit >= 0) o << ", bit " << r.fault.bit;
        o << ": " << r.fault.rule << "\n";
        return o.str();
    }
    o << "Physical address " << hex_digits(r.pa.value, wide ? 0 : 8) << " = frame "
      << to_string(r.frame_pa) << " + offset " << hex(req.la.value & ((1ull << r.page_shift) - 1))
      << "\n";
    o << "Memory references: " << (r.mem_refs + 1) << " (" << r.mem_refs << " paging-structure entr"
      << (r.mem_refs == 1 ? "y" : "ies") << ", then the data)";
    if (r.ad_writes)
        o << "; " << r.ad_writes << " accessed/dirty update" << (r.ad_writes == 1 ? "" : "s");
    o << "\n";
    o << "Permission: permitted. Rights of the translation: "
      << (r.rights.writable ? "writable" : "read-only") << ", "
      << (r.rights.user ? "user-mode address" : "supervisor-mode address")
      << (r.rights.nx ? ", execute-disable" : "")
      << " (R/W and U/S combined by AND over the levels, XD by OR; SDM 4.6.1)\n";
    return o.str();
}

std::string build_demo_tables(PagingMode mode, uint64_t la, PhysicalMemory& ram, CpuRegs& regs,
                              PdpteRegs& pdptes) {
    const uint64_t base = 0x100000, frame = 0x200000;
    const uint64_t flags = 0x7; // P | R/W | U/S
    regs.cr0 = CR0_PE | CR0_PG;
    regs.cr3 = base;
    switch (mode) {
    case PagingMode::bits32: {
        regs.cr4 = 0;
        const uint64_t pt = base + 0x1000;
        ram.write_u32(PhysAddr{base + ((la >> 22) & 0x3ff) * 4}, uint32_t(pt | flags));
        ram.write_u32(PhysAddr{pt + ((la >> 12) & 0x3ff) * 4}, uint32_t(frame | flags));
        break;
    }
    case PagingMode::pae: {
        regs.cr4 = CR4_PAE;
        const uint64_t pd = base + 0x1000, pt = base + 0x2000;
        ram.write_u64(PhysAddr{base + ((la >> 30) & 3) * 8}, pd | 1); // PDPTEs have only P
        ram.write_u64(PhysAddr{pd + ((la >> 21) & 0x1ff) * 8}, pt | flags);
        ram.write_u64(PhysAddr{pt + ((la >> 12) & 0x1ff) * 8}, frame | flags);
        load_pdptes(regs, ram, pdptes);
        break;
    }
    case PagingMode::level4:
    case PagingMode::level5: {
        regs.cr4 = CR4_PAE | (mode == PagingMode::level5 ? CR4_LA57 : 0);
        regs.efer = EFER_LME | EFER_LMA;
        const int levels = mode == PagingMode::level5 ? 5 : 4;
        uint64_t table = base;
        for (int level = levels; level >= 1; level--) {
            const uint64_t idx = (la >> (12 + 9 * (level - 1))) & 0x1ff;
            const uint64_t next = level == 1 ? frame : table + 0x1000;
            ram.write_u64(PhysAddr{table + idx * 8}, next | flags);
            table = next;
        }
        break;
    }
    case PagingMode::none: break;
    }
    return "Demonstration tables built by mmemu explain: the address is mapped by a 4 KiB user "
           "page "
           "(P, R/W, U/S in every entry) to frame 0x200000; page tables from 0x100000.\n";
}

} // namespace mmemu
