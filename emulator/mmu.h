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

// The outcome of translating one linear address.
struct Translation {
    Fault fault;              // raised() if the translation failed
    PhysAddr pa;              // the physical address of the byte
    unsigned page_shift = 12; // the size of the page that maps it
    TlbLevel source = TlbLevel::none;
    uint64_t cycles = 0; // cycles of this translation (cost model)
};

enum class FlushCause : uint8_t {
    mov_cr3,
    mov_cr3_noflush,
    invlpg,
    invpcid,
    cr4_pge,
    cr4_pcide,
    cr4_pae_smep,
    cr0_pg,
    count
};
const char* flush_cause_name(FlushCause c);

struct MmuStats {
    uint64_t untranslated = 0; // accesses with paging off or a non-canonical address
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
    Mmu(PhysicalMemory& ram, const TlbConfig& tlb = TlbConfig::skylake(),
        const CostModel& cost = {});

    const CpuRegs& regs() const { return regs_; }
    const PdpteRegs& pdptes() const { return pdptes_; }
    // MOV to CRn / WRMSR EFER / POPF / WRPKRU. A returned fault (#GP) means the write did not
    // happen.
    Fault write_cr0(uint64_t v);
    Fault write_cr3(uint64_t v);
    Fault write_cr4(uint64_t v);
    Fault write_efer(uint64_t v);
    void write_rflags(uint64_t v) {
        regs_.rflags = v | 0x2;
        refresh();
    }
    void write_pkru(uint32_t v) {
        regs_.pkru = v;
        refresh();
    }
    void set_maxphyaddr(unsigned bits) {
        regs_.maxphyaddr = bits;
        refresh();
    }
    void invlpg(LinearAddr la);
    Fault invpcid(unsigned type, uint16_t pcid, LinearAddr la);

    // Translates one access: the L1 TLB here (the hot path, inline), then the STLB,
    // paging-structure caches and a walk. A #PF also sets CR2.
    Translation translate(const AccessRequest& req) {
        const Lookup l = lookup(req);
        Translation t;
        t.pa = l.pa;
        t.page_shift = l.page_shift;
        t.source = l.source;
        t.cycles = l.source == TlbLevel::l1     ? cost_.l1_tlb_hit
                   : l.source == TlbLevel::stlb ? stlb_hit_cycles()
                   : l.source == TlbLevel::walk ? walk_cycles_
                                                : 0;
        if (l.faulted) t.fault = fault_;
        return t;
    }

    uint16_t current_pcid() const { return pcid_; }
    const std::vector<std::unique_ptr<TlbArray>>& itlb() const { return itlb_; }
    const std::vector<std::unique_ptr<TlbArray>>& dtlb() const { return dtlb_; }
    const std::vector<std::unique_ptr<TlbArray>>& stlb() const { return stlb_; }
    const std::vector<std::unique_ptr<PagingStructureCache>>& pscs() const { return pscs_; }
    const MmuStats& stats() const { return stats_; }
    // Every access probes the first L1 array of its side once, unless paging is off or the
    // address is not canonical.
    uint64_t accesses() const {
        return stats_.untranslated + l1_first_[0]->stats.hits + l1_first_[0]->stats.misses +
               l1_first_[1]->stats.hits + l1_first_[1]->stats.misses;
    }
    // Cycles of everything so far. First-L1-array hits that served the access are charged here
    // rather than on the hot path: hits minus those whose entry turned out unusable.
    uint64_t cycles() const {
        const uint64_t served = l1_first_[0]->stats.hits + l1_first_[1]->stats.hits - l1_unusable_;
        return cycles_ + served * cost_.l1_tlb_hit;
    }
    const CostModel& cost() const { return cost_; }
    // Cycles of work outside the MMU (the emulated kernel's paths, idle time).
    void charge(uint64_t c) { cycles_ += c; }
    // An L1 miss that the STLB serves (the walk's cost starts from it too).
    uint64_t stlb_hit_cycles() const { return cost_.l1_tlb_hit + cost_.stlb_hit; }

private:
    // What the translation paths return inside the MMU: small enough to come back in two
    // registers. A raised fault is in fault_, a walk's cycles in walk_cycles_.
    struct Lookup {
        PhysAddr pa;
        uint8_t page_shift = 12;
        TlbLevel source = TlbLevel::none;
        bool faulted = false;
    };
    Lookup lookup(const AccessRequest& req) {
        if (mode_ == PagingMode::none) {
            stats_.untranslated++;
            Lookup l;
            l.pa = PhysAddr{req.la.value & 0xffffffffull};
            return l;
        }
        // Canonical check (as is_canonical()): sign-extending from the top linear-address bit must
        // give the address back (canon_shift_ is 0 outside IA-32e paging, where every address
        // passes).
        if (uint64_t(int64_t(req.la.value << canon_shift_) >> canon_shift_) != req.la.value)
            return non_canonical(req);
        // The hot path: the entry the first L1 array (the 4 KiB one in every real geometry)
        // served last; everything else in translate_slow().
        TlbArray* a = l1_first_[req.type == AccessType::fetch];
        if (TlbEntry* e = a->mru_lookup(req.la, pcid_)) {
            if (usable(*e, req)) return served(*e, req.la, TlbLevel::l1);
            return unusable_l1(a, e, req);
        }
        return translate_slow(req);
    }
    // The translation a TLB entry gives for `la`, from `level`.
    static Lookup served(const TlbEntry& e, LinearAddr la, TlbLevel level) {
        Lookup l;
        l.pa = e.frame + (la.value & ((1ull << e.shift) - 1));
        l.page_shift = e.page_shift;
        l.source = level;
        return l;
    }
    // A cached entry serves an access if its rights permit it and a write finds it dirty;
    // otherwise the entry is dropped and the translation walked again (a walk re-reads the
    // entries, so a stale entry never causes a spurious fault).
    // The entry caches, per generation of the register state, the kinds of access it can
    // serve (access_kind()): those its rights permit, less the writes if it is not dirty (an
    // entry's dirty bit never changes: a write through a clean entry drops it).
    bool usable(TlbEntry& e, unsigned kind) {
        if (e.perm_gen != perm_gen_) {
            constexpr uint16_t WRITES = 0x7 << (unsigned(AccessType::write) * 3);
            e.perm_mask = permission_mask(walk_ctx_.perm, e.rights) & (e.dirty ? 0x1ff : ~WRITES);
            e.perm_gen = perm_gen_;
        }
        return e.perm_mask >> kind & 1;
    }
    bool usable(TlbEntry& e, const AccessRequest& req) { return usable(e, access_kind(req)); }
    // The first L1 array's sets (after its MRU entry missed), the other L1 arrays, the STLB,
    // then translate_walk(). The internal paths take the request by value (no reloads through
    // a reference that a counter's store might alias).
    Lookup translate_slow(AccessRequest req);
    // A first-L1-array entry whose rights do not allow the access: dropped, and the
    // translation looked up again past the L1 arrays.
    [[gnu::noinline]] Lookup unusable_l1(TlbArray* a, TlbEntry* e, AccessRequest req);
    // The L1 arrays after the first, from the first that holds entries.
    [[gnu::noinline]] Lookup translate_l1_rest(AccessRequest req, unsigned from,
                                               TlbArray::Probe probe);
    // The STLB, after the L1 arrays of the side missed or could not serve: on a hit the L1 TLB
    // is refilled (into the probed set of `probe`, a miss in the first L1 array, when the
    // entry's size is that array's). `l1_absent`: every L1 array of the side was probed for
    // the page and missed.
    Lookup translate_stlb(AccessRequest req, TlbArray::Probe probe, bool l1_absent);
    // An STLB entry whose rights do not allow the access: dropped, and the page walked.
    [[gnu::noinline]] Lookup unusable_stlb(AccessRequest req, TlbArray* s, TlbEntry* e,
                                           bool l1_absent);
    // An STLB hit whose L1 refill is not into the probed set: the L1 array for the entry's
    // size (if any) takes a copy of `e`, or a splinter of it.
    [[gnu::noinline]] Lookup refill_l1(AccessRequest req, const TlbEntry* e, bool l1_absent);
    // The paging-structure caches, a walk and the fills, out of line so that the TLB-hit paths stay
    // small (no walk result on their stack, few registers to save).
    [[gnu::noinline]] Lookup translate_walk(AccessRequest req, bool l1_absent, bool stlb_absent);
    Lookup non_canonical(AccessRequest req);
    void refresh();                 // recompute the cached state below after a register write
    void flush_all(FlushCause why); // every entry, global ones too, all PCIDs
    void flush_pcid(uint16_t pcid, bool include_global, FlushCause why);
    PhysicalMemory& ram_;
    CpuRegs regs_;
    PdpteRegs pdptes_;
    CostModel cost_;
    std::vector<std::unique_ptr<TlbArray>> itlb_, dtlb_, stlb_;
    TlbArray* l1_first_[2] = {}; // dtlb_[0], itlb_[0]
    // The other L1 arrays of each side and the STLB arrays, in probe order (no vector walks
    // on the miss path).
    TlbArray* l1_rest_[2][8] = {};
    unsigned n_l1_rest_[2] = {};
    TlbArray* stlb_arrays_[8] = {};
    unsigned n_stlb_ = 0;
    // The paging-structure caches a walk in the current paging mode may start below, lowest
    // level first (refresh()).
    PagingStructureCache* psc_probe_[4] = {};
    unsigned n_psc_probe_ = 0;
    unsigned psc_levels_ = 0; // bit L: the level-L cache is among them
    // For each page size (index: 0 4K, 1 2M, 2 4M, 3 1G), the array of each structure that
    // caches it with the least splintering (best_array() in mmu.cpp): [dtlb, itlb, stlb].
    TlbArray* fill_target_[3][4] = {};
    PagingStructureCache* psc_by_level_[6] = {};              // [2] PDE cache ... [5] PML5E cache
    std::vector<std::unique_ptr<PagingStructureCache>> pscs_; // PDE, PDPTE, PML4E, PML5E
    MmuStats stats_;
    uint64_t cycles_ = 0;
    Fault fault_;              // the fault of the last translation that raised one
    uint64_t walk_cycles_ = 0; // the cycles of the last translation that walked
    // Derived from the registers by refresh().
    PagingMode mode_ = PagingMode::none;
    unsigned canon_shift_ = 0; // 64 - 48 or 64 - 57 in IA-32e paging (canonical check), else 0
    uint64_t l1_unusable_ = 0; // first-L1-array hits whose entry could not serve the access
    uint16_t pcid_ = 0;
    WalkContext walk_ctx_; // the walker's decoded register state, permission context included
    // The paging-structure-cache tag of `la` for an entry of `level` in the current mode.
    uint64_t psc_tag(int level, LinearAddr la) const {
        return (la.value & psc_la_mask_) >> psc_shift_[level];
    }
    uint64_t psc_la_mask_ = 0;
    uint8_t psc_shift_[6] = {};
    uint32_t perm_gen_ = 1; // bumped by refresh(); TLB entries cache decisions per generation
};

} // namespace mmemu
