// One CPU's memory-management unit: the control registers with the side effects of writing them
// (PDPTE loads, TLB and paging-structure-cache invalidation, SDM 4.10.4.1), the TLB hierarchy
// (L1 iTLB, L1 dTLB, unified STLB, each made of TlbArrays by page size), the paging-structure
// caches (PML5E, PML4E, PDPTE, PDE), translation of linear addresses, and per-structure
// statistics and a cycle counter.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <vector>

#include "emulator/cost_model.h"
#include "emulator/paging.h"
#include "emulator/tlb.h"

namespace mmemu {

struct TlbConfig {
    std::vector<TlbArrayConfig> itlb, dtlb, stlb;
    unsigned pml5e_cache = 2, pml4e_cache = 4, pdpte_cache = 4, pde_cache = 32;
    // Skylake client (CPUID leaf 2 and Intel's optimization manual, Table 2-15; see
    // docs/cpu-model.md): iTLB 4K 128 8-way, iTLB 2M/4M 8 fully associative; dTLB 4K 64 4-way,
    // 2M/4M 32 4-way, 1G 4 4-way; STLB 4K+2M 1536 12-way, 1G 16 4-way.
    static TlbConfig skylake();
};

enum class TlbLevel : uint8_t { none, l1, stlb, walk };

struct Translation {
    Fault fault;
    uint64_t pa = 0;
    unsigned page_shift = 12;
    TlbLevel source = TlbLevel::none;
    uint64_t cycles = 0;
};

enum class FlushCause : uint8_t { mov_cr3, mov_cr3_noflush, invlpg, invpcid, cr4_pge, cr4_pcide, cr4_pae_smep, cr0_pg, count };
const char* flush_cause_name(FlushCause c);

struct MmuStats {
    uint64_t accesses = 0;
    uint64_t walks = 0;
    uint64_t walk_mem_refs = 0;
    uint64_t ad_writes = 0;
    uint64_t faults = 0;
    uint64_t flushes[size_t(FlushCause::count)] = {};
    std::map<uint32_t, uint64_t> pf_by_error_code;
    std::map<uint8_t, uint64_t> faults_by_vector;
};

class Mmu {
public:
    Mmu(PhysicalMemory& ram, const TlbConfig& tlb = TlbConfig::skylake(), const CostModel& cost = {});

    const CpuRegs& regs() const { return regs_; }
    const PdpteRegs& pdptes() const { return pdptes_; }
    // MOV to CRn / WRMSR EFER / POPF / WRPKRU. A returned fault (#GP) means the write did not
    // happen.
    Fault write_cr0(uint64_t v);
    Fault write_cr3(uint64_t v);
    Fault write_cr4(uint64_t v);
    Fault write_efer(uint64_t v);
    void write_rflags(uint64_t v) { regs_.rflags = v | 0x2; }
    void write_pkru(uint32_t v) { regs_.pkru = v; }
    void set_maxphyaddr(unsigned bits) { regs_.maxphyaddr = bits; }
    void invlpg(uint64_t la);
    Fault invpcid(unsigned type, uint16_t pcid, uint64_t la);

    // Translates one access: TLBs, then paging-structure caches and a walk. A #PF also sets CR2.
    Translation translate(const AccessRequest& req);

    uint16_t current_pcid() const {
        return (regs_.cr4 & CR4_PCIDE) ? uint16_t(regs_.cr3 & CR3_PCID_MASK) : 0;
    }
    const std::vector<std::unique_ptr<TlbArray>>& itlb() const { return itlb_; }
    const std::vector<std::unique_ptr<TlbArray>>& dtlb() const { return dtlb_; }
    const std::vector<std::unique_ptr<TlbArray>>& stlb() const { return stlb_; }
    const std::vector<std::unique_ptr<PagingStructureCache>>& pscs() const { return pscs_; }
    const MmuStats& stats() const { return stats_; }
    uint64_t cycles() const { return cycles_; }
    const CostModel& cost() const { return cost_; }

private:
    void flush_all(FlushCause why);                 // every entry, global ones too, all PCIDs
    void flush_pcid(uint16_t pcid, bool include_global, FlushCause why);
    PhysicalMemory& ram_;
    CpuRegs regs_;
    PdpteRegs pdptes_;
    CostModel cost_;
    std::vector<std::unique_ptr<TlbArray>> itlb_, dtlb_, stlb_;
    std::vector<std::unique_ptr<PagingStructureCache>> pscs_; // PDE, PDPTE, PML4E, PML5E
    MmuStats stats_;
    uint64_t cycles_ = 0;
};

} // namespace mmemu
