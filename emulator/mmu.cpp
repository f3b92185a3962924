#include "emulator/mmu.h"

#include <stdexcept>

namespace mmemu {

const char* flush_cause_name(FlushCause c) {
    switch (c) {
    case FlushCause::mov_cr3: return "mov_cr3";
    case FlushCause::mov_cr3_noflush: return "mov_cr3_noflush";
    case FlushCause::invlpg: return "invlpg";
    case FlushCause::invpcid: return "invpcid";
    case FlushCause::cr4_pge: return "cr4_pge";
    case FlushCause::cr4_pcide: return "cr4_pcide";
    case FlushCause::cr4_pae_smep: return "cr4_pae_smep";
    case FlushCause::cr0_pg: return "cr0_pg";
    case FlushCause::count: break;
    }
    return "?";
}

TlbConfig TlbConfig::skylake() {
    TlbConfig c;
    c.itlb = {{"itlb_4k", 128, 8, TLB_4K, ReplacementPolicy::lru},
              {"itlb_2m_4m", 8, 8, TLB_2M | TLB_4M, ReplacementPolicy::lru}};
    c.dtlb = {{"dtlb_4k", 64, 4, TLB_4K, ReplacementPolicy::lru},
              {"dtlb_2m_4m", 32, 4, TLB_2M | TLB_4M, ReplacementPolicy::lru},
              {"dtlb_1g", 4, 4, TLB_1G, ReplacementPolicy::lru}};
    c.stlb = {{"stlb_4k_2m", 1536, 12, TLB_4K | TLB_2M, ReplacementPolicy::lru},
              {"stlb_1g", 16, 4, TLB_1G, ReplacementPolicy::lru}};
    return c;
}

namespace {
TlbArray* best_array(const std::vector<std::unique_ptr<TlbArray>>& arrays, unsigned page_shift);
} // namespace

Mmu::Mmu(PhysicalMemory& ram, const TlbConfig& tlb, const CostModel& cost)
    : ram_(ram), cost_(cost) {
    for (const auto& c : tlb.itlb) itlb_.push_back(std::make_unique<TlbArray>(c));
    for (const auto& c : tlb.dtlb) dtlb_.push_back(std::make_unique<TlbArray>(c));
    for (const auto& c : tlb.stlb) stlb_.push_back(std::make_unique<TlbArray>(c));
    pscs_.push_back(std::make_unique<PagingStructureCache>("pde_cache", 2, tlb.pde_cache));
    pscs_.push_back(std::make_unique<PagingStructureCache>("pdpte_cache", 3, tlb.pdpte_cache));
    pscs_.push_back(std::make_unique<PagingStructureCache>("pml4e_cache", 4, tlb.pml4e_cache));
    pscs_.push_back(std::make_unique<PagingStructureCache>("pml5e_cache", 5, tlb.pml5e_cache));
    if (itlb_.empty() || dtlb_.empty() || stlb_.empty())
        throw std::invalid_argument(
            "a TLB configuration needs at least one itlb, dtlb and stlb array");
    if (itlb_.size() > 8 || dtlb_.size() > 8 || stlb_.size() > 8)
        throw std::invalid_argument("a TLB configuration has at most 8 arrays per structure");
    l1_first_[0] = dtlb_[0].get();
    l1_first_[1] = itlb_[0].get();
    for (size_t i = 1; i < dtlb_.size(); i++) l1_rest_[0][n_l1_rest_[0]++] = dtlb_[i].get();
    for (size_t i = 1; i < itlb_.size(); i++) l1_rest_[1][n_l1_rest_[1]++] = itlb_[i].get();
    for (auto& a : stlb_) stlb_arrays_[n_stlb_++] = a.get();
    for (unsigned b = 0; b < 4; b++) {
        fill_target_[0][b] = best_array(dtlb_, size_bit_shift(b));
        fill_target_[1][b] = best_array(itlb_, size_bit_shift(b));
        fill_target_[2][b] = best_array(stlb_, size_bit_shift(b));
    }
    for (auto& p : pscs_) psc_by_level_[p->level()] = p.get();
    refresh();
}

namespace {

// The array that caches a page of `page_shift` with the least splintering: the one holding the
// largest size not above the page.
TlbArray* best_array(const std::vector<std::unique_ptr<TlbArray>>& arrays, unsigned page_shift) {
    TlbArray* best = nullptr;
    unsigned best_shift = 0;
    for (auto& a : arrays)
        for (unsigned b = 0; b < 4; b++)
            if ((a->config().size_mask >> b & 1) && size_bit_shift(b) <= page_shift &&
                size_bit_shift(b) > best_shift) {
                best = a.get();
                best_shift = size_bit_shift(b);
            }
    return best;
}

Fault gp0(const char* rule) {
    Fault f;
    f.vector = VEC_GP;
    f.error_code = 0;
    f.rule = rule;
    return f;
}

} // namespace

void Mmu::flush_all(FlushCause why) {
    for (auto* set : {&itlb_, &dtlb_, &stlb_})
        for (auto& a : *set) a->invalidate(-1, true);
    for (auto& p : pscs_) p->invalidate(-1);
    stats_.flushes[size_t(why)]++;
}

void Mmu::flush_pcid(uint16_t pcid, bool include_global, FlushCause why) {
    for (auto* set : {&itlb_, &dtlb_, &stlb_})
        for (auto& a : *set) a->invalidate(pcid, include_global);
    for (auto& p : pscs_) p->invalidate(pcid);
    stats_.flushes[size_t(why)]++;
}

Fault Mmu::write_cr0(uint64_t v) {
    cycles_ += cost_.mov_cr0;
    if ((v & CR0_PG) && !(v & CR0_PE)) return gp0("SDM Vol. 2 MOV CR0: PG=1 requires PE=1");
    CpuRegs next = regs_;
    next.cr0 = v;
    const bool enabling = (v & CR0_PG) && !(regs_.cr0 & CR0_PG);
    if (enabling && (regs_.efer & EFER_LME)) {
        if (!(regs_.cr4 & CR4_PAE))
            return gp0("SDM 9.8.5: IA-32e mode needs CR4.PAE=1 before CR0.PG=1");
        next.efer |= EFER_LMA;
    }
    if (!(v & CR0_PG)) next.efer &= ~EFER_LMA;
    if (next.paging_mode() == PagingMode::pae) {
        PdpteRegs p;
        if (Fault f = load_pdptes(next, ram_, p); f.raised()) return f;
        pdptes_ = p;
    }
    const bool pg_changed = (v ^ regs_.cr0) & CR0_PG;
    regs_ = next;
    refresh();
    if (pg_changed) flush_all(FlushCause::cr0_pg);
    return {};
}

Fault Mmu::write_cr3(uint64_t v) {
    cycles_ += cost_.mov_cr3;
    const bool pcide = regs_.cr4 & CR4_PCIDE;
    const bool noflush = pcide && (v & CR3_NOFLUSH);
    // With CR4.PCIDE=1 bit 63 is the no-flush hint and is not stored (SDM 4.10.4.1, Table
    // 4-13); with PCIDE=0 it is one of the reserved bits 63:MAXPHYADDR (Table 4-12), and MOV to
    // CR3 in IA-32e mode raises #GP(0) for a reserved bit (Vol. 2 MOV CR3 exceptions; KVM's
    // kvm_set_cr3 strips bit 63 only with PCIDE set and then rejects the address).
    if (pcide) v &= ~CR3_NOFLUSH;
    if (regs_.long_mode() && (v & CR3_NOFLUSH))
        return gp0("SDM Vol. 3A Table 4-12: with CR4.PCIDE=0, CR3 bit 63 is reserved; MOV to CR3 "
                   "setting it raises #GP(0)");
    if (regs_.long_mode() && (v & ~(regs_.phys_addr_mask() | 0xfffull)))
        return gp0("SDM Vol. 2 MOV CR3: a reserved bit (at or above MAXPHYADDR) is set");
    CpuRegs next = regs_;
    next.cr3 = v;
    if (next.paging_mode() == PagingMode::pae) {
        PdpteRegs p;
        if (Fault f = load_pdptes(next, ram_, p); f.raised()) return f;
        pdptes_ = p;
    }
    regs_ = next;
    refresh();
    if (noflush) {
        stats_.flushes[size_t(FlushCause::mov_cr3_noflush)]++;
        return {};
    }
    // Without PCIDs this flushes PCID 000H; with them, the new PCID (SDM 4.10.4.1).
    flush_pcid(current_pcid(), false, FlushCause::mov_cr3);
    return {};
}

Fault Mmu::write_cr4(uint64_t v) {
    cycles_ += cost_.mov_cr4;
    const uint64_t old = regs_.cr4;
    if ((v & CR4_PCIDE) && !(old & CR4_PCIDE) &&
        (!regs_.long_mode() || (regs_.cr3 & CR3_PCID_MASK)))
        return gp0("SDM Vol. 2 MOV CR4: setting PCIDE needs IA-32e mode and CR3[11:0]=0");
    if (regs_.long_mode() && !(v & CR4_PAE))
        return gp0("SDM Vol. 2 MOV CR4: PAE cannot be cleared in IA-32e mode");
    if (regs_.long_mode() && ((v ^ old) & CR4_LA57))
        return gp0("SDM Vol. 2 MOV CR4: LA57 cannot change in IA-32e mode");
    CpuRegs next = regs_;
    next.cr4 = v;
    if (next.paging_mode() == PagingMode::pae &&
        ((v ^ old) & (CR4_PAE | CR4_PSE | CR4_PGE | CR4_SMEP))) {
        PdpteRegs p;
        if (Fault f = load_pdptes(next, ram_, p); f.raised()) return f;
        pdptes_ = p;
    }
    regs_ = next;
    refresh();
    if (((v ^ old) & CR4_PGE) || ((old & CR4_PCIDE) && !(v & CR4_PCIDE)))
        flush_all((v ^ old) & CR4_PGE ? FlushCause::cr4_pge : FlushCause::cr4_pcide);
    else if (((v ^ old) & CR4_PAE) || ((v & CR4_SMEP) && !(old & CR4_SMEP)))
        flush_pcid(current_pcid(), false, FlushCause::cr4_pae_smep);
    return {};
}

Fault Mmu::write_efer(uint64_t v) {
    if ((regs_.cr0 & CR0_PG) && ((v ^ regs_.efer) & EFER_LME))
        return gp0("SDM Vol. 4 IA32_EFER: LME cannot change while paging is enabled");
    regs_.efer = (v & ~EFER_LMA) | (regs_.efer & EFER_LMA);
    refresh();
    return {};
}

void Mmu::invlpg(LinearAddr la) {
    cycles_ += cost_.invlpg;
    const uint16_t pcid = current_pcid();
    for (auto* set : {&itlb_, &dtlb_, &stlb_})
        for (auto& a : *set) a->invalidate_page(la, pcid, true);
    for (auto& p : pscs_) p->invalidate(pcid);
    stats_.flushes[size_t(FlushCause::invlpg)]++;
}

Fault Mmu::invpcid(unsigned type, uint16_t pcid, LinearAddr la) {
    cycles_ += cost_.invpcid;
    if (type > 3) return gp0("SDM Vol. 2 INVPCID: type above 3");
    if (pcid > 0xfff) return gp0("SDM Vol. 2 INVPCID: PCID above 4095");
    if (type <= 1 && !(regs_.cr4 & CR4_PCIDE) && pcid != 0)
        return gp0("SDM Vol. 2 INVPCID: types 0 and 1 with a non-zero PCID need CR4.PCIDE=1");
    if (type == 0 && !is_canonical(regs_, la))
        return gp0("SDM Vol. 2 INVPCID: non-canonical address");
    switch (type) {
    case 0: // individual address, except global translations
        for (auto* set : {&itlb_, &dtlb_, &stlb_})
            for (auto& a : *set) a->invalidate_page(la, pcid, false);
        for (auto& p : pscs_) p->invalidate(pcid);
        break;
    case 1: // single context, except global translations
        for (auto* set : {&itlb_, &dtlb_, &stlb_})
            for (auto& a : *set) a->invalidate(pcid, false);
        for (auto& p : pscs_) p->invalidate(pcid);
        break;
    case 2: // all contexts, global translations included
        for (auto* set : {&itlb_, &dtlb_, &stlb_})
            for (auto& a : *set) a->invalidate(-1, true);
        for (auto& p : pscs_) p->invalidate(-1);
        break;
    case 3: // all contexts, except global translations
        for (auto* set : {&itlb_, &dtlb_, &stlb_})
            for (auto& a : *set) a->invalidate(-1, false);
        for (auto& p : pscs_) p->invalidate(-1);
        break;
    }
    stats_.flushes[size_t(FlushCause::invpcid)]++;
    return {};
}

void Mmu::refresh() {
    mode_ = regs_.paging_mode();
    canon_shift_ = mode_ == PagingMode::level5   ? 64 - 57
                   : mode_ == PagingMode::level4 ? 64 - 48
                                                 : 0;
    pcid_ = (regs_.cr4 & CR4_PCIDE) ? uint16_t(regs_.cr3 & CR3_PCID_MASK) : 0;
    walk_ctx_ = WalkContext::of(regs_);
    // The linear-address bits that select a paging-structure entry of each level (its PSC
    // tag): 32-bit paging's PDEs map bits 31:22, PAE's bits 31:21; with 4- and 5-level paging,
    // canonical addresses repeat bit 56 (or 47) above it, so dropping those bits keeps tags
    // distinct and within the 48 bits below the PCID.
    psc_la_mask_ =
        mode_ == PagingMode::bits32 || mode_ == PagingMode::pae ? 0xffffffffull : (1ull << 57) - 1;
    for (int level = 2; level <= 5; level++)
        psc_shift_[level] = uint8_t(mode_ == PagingMode::bits32 ? 22
                                    : mode_ == PagingMode::pae  ? 21
                                                                : 12 + 9 * (level - 1));
    if (++perm_gen_ == 0) perm_gen_ = 1; // 0 means "not computed" in a TLB entry
    // SDM 4.10.3.2: the caches a walk may use in this mode, lowest level first (PAE paging
    // keeps its PDPTEs in registers, so only the PDE cache applies there).
    n_psc_probe_ = 0;
    psc_levels_ = 0;
    const int top = mode_ == PagingMode::level5 ? 5 : mode_ == PagingMode::level4 ? 4 : 2;
    for (auto& p : pscs_) {
        if (p->level() > top || p->size() == 0) continue;
        if (mode_ == PagingMode::pae && p->level() != 2) continue;
        psc_probe_[n_psc_probe_++] = p.get();
        psc_levels_ |= 1u << p->level();
    }
}

Mmu::Lookup Mmu::non_canonical(AccessRequest req) {
    (void)req;
    stats_.untranslated++;
    fault_ = Fault{};
    fault_.vector = VEC_GP;
    fault_.error_code = 0;
    fault_.rule = "SDM 3.3.7.1: a non-canonical linear address raises #GP(0)";
    stats_.faults++;
    stats_.faults_by_vector[VEC_GP]++;
    Lookup l;
    l.faulted = true;
    return l;
}

// The STLB, after the L1 arrays of the side missed or could not serve. Inline in
// translate_slow(), where the STLB hit is the common case: the rare outcomes (an STLB entry
// that cannot serve, an L1 refill other than into the probed set, a walk) leave through tail
// calls, so an STLB hit runs in translate_slow()'s one frame.
[[gnu::always_inline]] inline Mmu::Lookup
Mmu::translate_stlb(AccessRequest req, TlbArray::Probe probe, bool l1_absent) {
    const uint16_t pcid = pcid_;
    for (unsigned i = 0; i < n_stlb_; i++) {
        TlbArray* s = stlb_arrays_[i];
        if (TlbEntry* e = s->lookup_rest(req.la, pcid)) {
            if (!usable(*e, req)) return unusable_stlb(req, s, e, l1_absent);
            // Refill the L1 TLB from the STLB entry (at the entry's own size). The first L1
            // array, when it holds exactly that size, is the one that takes it (best_array():
            // no array can hold a larger size not above the page, and ties go to the first);
            // `probe` is valid only for that array.
            if (!l1_first_[req.type == AccessType::fetch]->refill_probed(probe, req.la, e, pcid))
                return refill_l1(req, e, l1_absent);
            cycles_ += stlb_hit_cycles();
            return served(*e, req.la, TlbLevel::stlb);
        }
    }
    return translate_walk(req, l1_absent, true);
}

Mmu::Lookup Mmu::translate_slow(AccessRequest req) {
    const unsigned side = req.type == AccessType::fetch;
    TlbArray* a = l1_first_[side];
    TlbArray::Probe probe;
    if (TlbEntry* e = a->lookup_rest(req.la, pcid_, probe)) {
        // The cycles of a first-array hit are added to cycles() from the hit counts.
        if (usable(*e, req)) return served(*e, req.la, TlbLevel::l1);
        return unusable_l1(a, e, req);
    }
    // The other L1 arrays of the side: those holding nothing (sizes the workload does not
    // use) miss at once; the first that holds entries is probed by translate_l1_rest().
    for (unsigned i = 0, n = n_l1_rest_[side]; i < n; i++) {
        TlbArray* r = l1_rest_[side][i];
        if (!r->empty()) return translate_l1_rest(req, i, probe);
        r->stats.misses++;
    }
    return translate_stlb(req, probe, true);
}

Mmu::Lookup Mmu::translate_l1_rest(AccessRequest req, unsigned from, TlbArray::Probe probe) {
    const unsigned side = req.type == AccessType::fetch;
    bool l1_absent = true;
    for (unsigned i = from, n = n_l1_rest_[side]; i < n; i++) {
        TlbArray* r = l1_rest_[side][i];
        if (TlbEntry* e = r->lookup(req.la, pcid_)) {
            if (usable(*e, req)) {
                cycles_ += cost_.l1_tlb_hit;
                return served(*e, req.la, TlbLevel::l1);
            }
            r->invalidate_entry(e);
            l1_absent = false;
            break;
        }
    }
    return translate_stlb(req, probe, l1_absent);
}

Mmu::Lookup Mmu::unusable_l1(TlbArray* a, TlbEntry* e, AccessRequest req) {
    l1_unusable_++;
    a->invalidate_entry(e);
    return translate_stlb(req, TlbArray::Probe{}, false);
}

Mmu::Lookup Mmu::unusable_stlb(AccessRequest req, TlbArray* s, TlbEntry* e, bool l1_absent) {
    s->invalidate_entry(e);
    return translate_walk(req, l1_absent, false);
}

Mmu::Lookup Mmu::refill_l1(AccessRequest req, const TlbEntry* e, bool l1_absent) {
    TlbArray* a1 = fill_target_[req.type == AccessType::fetch][size_bit_of_shift(e->shift)];
    // An L1 array that holds the entry's size takes a copy; one that does not (the iTLB for a
    // 1 GiB page) caches a splinter of it.
    if (a1 && !a1->refill(req.la, e, pcid_, l1_absent))
        a1->fill(req.la, pcid_,
                 TlbFill{e->page_base(req.la), e->page_shift, e->rights, e->global, e->dirty});
    cycles_ += stlb_hit_cycles();
    return served(*e, req.la, TlbLevel::stlb);
}

Mmu::Lookup Mmu::translate_walk(AccessRequest req, bool l1_absent, bool stlb_absent) {
    Lookup t;
    const uint16_t pcid = pcid_;
    const unsigned side = req.type == AccessType::fetch;
    // A walk, resumed below the lowest paging-structure cache that hits (SDM 4.10.3.2).
    WalkStart start;
    uint64_t cost = stlb_hit_cycles();
    unsigned missed = 0; // bit L: the cache of level L was probed for this address and missed
    for (unsigned i = 0; i < n_psc_probe_; i++) {
        PagingStructureCache* p = psc_probe_[i];
        missed |= 1u << p->level();
        if (const PscEntry* e = p->lookup(psc_tag(p->level(), req.la), pcid)) {
            missed &= ~(1u << p->level());
            start.level = p->level() - 1;
            start.table_pa = e->table_pa;
            start.rights = e->rights;
            cost += cost_.psc_hit;
            break;
        }
    }
    WalkResult w = page_walk(walk_ctx_, pdptes_, ram_, req, start.level ? &start : nullptr);
    stats_.walks++;
    stats_.walk_mem_refs += w.mem_refs;
    stats_.ad_writes += w.ad_writes;
    cost += uint64_t(w.mem_refs) * cost_.walk_mem_ref + uint64_t(w.ad_writes) * cost_.ad_writeback;
    // Cache the upper-level entries the walk passed, in the caches this mode uses (the same
    // it probes: not PAE's PDPTEs, which live in registers).
    for (unsigned i = 0; i < w.nsteps; i++) {
        const WalkStep& s = w.steps[i];
        if (!s.passed || !(psc_levels_ >> s.level & 1)) continue;
        psc_by_level_[s.level]->fill(psc_tag(s.level, req.la), pcid, s.next_table, s.rights,
                                     missed >> s.level & 1);
    }
    t.source = TlbLevel::walk;
    if (w.fault.raised()) {
        fault_ = w.fault;
        t.faulted = true;
        stats_.faults++;
        stats_.faults_by_vector[fault_.vector]++;
        if (fault_.vector == VEC_PF) {
            regs_.cr2 = fault_.cr2.value;
            stats_.pf_by_error_code[fault_.error_code]++;
        }
        cost += cost_.fault_delivery;
        walk_cycles_ = cost;
        cycles_ += cost;
        return t;
    }
    const unsigned sz = size_bit_of_shift(w.page_shift);
    const TlbFill f = TlbFill::of(w);
    if (TlbArray* a = fill_target_[2][sz]) a->fill(req.la, pcid, f, stlb_absent);
    if (TlbArray* a = fill_target_[side][sz]) a->fill(req.la, pcid, f, l1_absent);
    t.pa = w.pa;
    t.page_shift = uint8_t(w.page_shift);
    walk_cycles_ = cost;
    cycles_ += cost;
    return t;
}

} // namespace mmemu
