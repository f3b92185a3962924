// The x86 TLB management of arch/x86/mm/tlb.c (Linux 6.18) for the user address spaces:
// switch_mm_irqs_off() with per-CPU dynamic ASIDs (TLB_NR_DYN_ASIDS = 6 slots of {ctx_id,
// tlb_gen}, choose_new_asid(), kPCID = ASID + 1, CR3 written with the no-flush bit when the
// slot is up to date), mm_cpumask, and flush_tlb_mm_range() with its local flush and remote
// shootdowns (flush_tlb_multi() -> flush_tlb_func() on each CPU, counted as irq_tlb_count), each
// an IPI through the machine's Smp.
// Facts: ../shared/reference/linux-process-facts.md section 9.
//
// Lazy TLB: a CPU whose task goes away (exit_mm -> enter_lazy_tlb) keeps the mm loaded; flushes
// of that mm pass it by (should_flush_tlb) unless they free page tables, which switch it to
// init_mm (so exit_mmap()'s flush takes every lazy CPU off a dying mm); a task of the same mm
// arriving there flushes only if the CPU missed a flush while lazy (its ASID's tlb_gen is behind).
//
// What mmemu leaves out: PTI (off on this machine: no user PCIDs, no invalidate_other), INVLPGB
// and global ASIDs (this machine's vCPU has no invlpgb), and the periodic cpumask trimming
// (should_trim_cpumask). A CPU's task changes only when an event runs another task there.
#include "mmcore/address_spaces.h"

namespace mmemu {

namespace {
// tlb_single_page_flush_ceiling (arch/x86/mm/tlb.c): up to 33 pages are flushed one by one.
constexpr uint64_t TLB_SINGLE_PAGE_FLUSH_CEILING = 33;
constexpr uint64_t TLB_FLUSH_ALL = UINT64_MAX;
// kern_pcid(): the PCID of a kernel ASID (0 stays for non-PCID mode).
constexpr uint64_t kern_pcid(unsigned asid) {
    return asid + 1;
}
} // namespace

// build_cr3(): the PGD's physical address with the ASID's PCID (with CR4.PCIDE).
uint64_t AddressSpaces::build_cr3(PhysAddr pgd, unsigned asid, bool noflush) const {
    if (!pcid_) return pgd.value;
    return pgd.value | kern_pcid(asid) | (noflush ? CR3_NOFLUSH : 0);
}

// choose_new_asid(): the slot that already holds this mm's context (flush if its tlb_gen is
// behind), or the next slot round-robin (flush).
void AddressSpaces::choose_new_asid(cpu_tlbstate& s, const mm_struct* next, uint64_t next_tlb_gen,
                                    unsigned& asid, bool& need_flush) const {
    if (!pcid_) {
        asid = 0;
        need_flush = true;
        return;
    }
    for (unsigned a = 0; a < TLB_NR_DYN_ASIDS; a++) {
        if (s.ctxs[a].ctx_id != next->context.ctx_id) continue;
        asid = a;
        need_flush = s.ctxs[a].tlb_gen < next_tlb_gen;
        return;
    }
    asid = s.next_asid++;
    if (asid >= TLB_NR_DYN_ASIDS) {
        asid = 0;
        s.next_asid = 1;
    }
    need_flush = true;
}

// switch_mm_irqs_off(): load `next` (nullptr: init_mm) on `cpu`.
void AddressSpaces::switch_mm(unsigned cpu, mm_struct* next) {
    cpu_tlbstate& s = tlbstate_[cpu];
    if (s.loaded_mm == next) {
        // prev == next: nothing to do, unless the CPU was lazy and a flush of the mm passed it
        // by meanwhile (its ASID's tlb_gen is behind): then the ASID is flushed.
        const bool was_lazy = s.is_lazy;
        katomic::set(s.is_lazy, false);
        if (!was_lazy || !next) return;
        auto& ctx = s.ctxs[s.loaded_mm_asid];
        if (ctx.tlb_gen == next->context.tlb_gen) return;
        ctx.tlb_gen = next->context.tlb_gen;
        s.switch_flushes++;
        machine_.mmu(cpu).write_cr3(build_cr3(next->pgd, s.loaded_mm_asid, false));
        if (Tracer* tr = tracer())
            tr->instant(cpu, "tlb", "TLB flush", cpu_ns(cpu),
                        {trace_text("why", "switch_mm (missed a flush while lazy)"),
                         {"asid", s.loaded_mm_asid}});
        return;
    }
    katomic::set(s.is_lazy, false);
    const PhysAddr pgd = next ? next->pgd : swapper_pg_dir_;
    const uint64_t ctx_id = next ? next->context.ctx_id : INIT_MM_CTX_ID;
    const uint64_t tlb_gen = next ? next->context.tlb_gen.load() : 0;
    if (next) next->cpumask |= uint64_t{1} << cpu; // start receiving flush IPIs
    unsigned asid = 0;
    bool need_flush = true;
    if (next) {
        choose_new_asid(s, next, tlb_gen, asid, need_flush);
    } else if (pcid_) {
        // init_mm keeps ASID 0 (its ctxs[0] from boot); its kernel mappings are global.
        need_flush = s.ctxs[0].ctx_id != ctx_id;
    }
    if (need_flush) {
        s.ctxs[asid].ctx_id = ctx_id;
        s.ctxs[asid].tlb_gen = tlb_gen;
        s.switch_flushes++;
        if (Tracer* tr = tracer())
            tr->instant(cpu, "tlb", "TLB flush", cpu_ns(cpu),
                        {trace_text("why", "switch_mm (new ASID)"), {"asid", asid}});
    }
    machine_.mmu(cpu).write_cr3(build_cr3(pgd, asid, !need_flush));
    // Other CPUs read loaded_mm and is_lazy when they decide whom a flush must reach
    // (should_flush_tlb() reads another CPU's cpu_tlbstate): stored whole.
    katomic::set(s.loaded_mm, next);
    s.loaded_mm_asid = asid;
}

// flush_tlb_func(): `cpu`'s share of a flush of `mm`: nothing if it has moved on to another mm
// (it leaves mm_cpumask) or is already up to date; INVLPG per page when this flush is the only
// one it missed and the range is small; else the whole ASID (CR3 rewritten without no-flush).
void AddressSpaces::flush_tlb_func(unsigned cpu, mm_struct* mm, uint64_t start, uint64_t end,
                                   uint64_t new_tlb_gen) {
    cpu_tlbstate& s = tlbstate_[cpu];
    if (s.loaded_mm != mm) {
        mm->cpumask &= ~(uint64_t{1} << cpu);
        return;
    }
    // A lazy CPU reached by a flush (one that freed page tables) leaves the mm for init_mm
    // instead of flushing it.
    if (s.is_lazy) {
        switch_mm(cpu, nullptr);
        return;
    }
    uint64_t& local_tlb_gen = s.ctxs[s.loaded_mm_asid].tlb_gen;
    const uint64_t mm_tlb_gen = mm->context.tlb_gen;
    if (local_tlb_gen == mm_tlb_gen || new_tlb_gen <= local_tlb_gen) return;
    Mmu& mmu = machine_.mmu(cpu);
    if (end != TLB_FLUSH_ALL && new_tlb_gen == local_tlb_gen + 1 && new_tlb_gen == mm_tlb_gen) {
        for (uint64_t a = start; a < end; a += PAGE_SIZE) mmu.invlpg(LinearAddr{a});
        counts_.tlb_flush_pages += (end - start) >> PAGE_SHIFT;
        if (Tracer* tr = tracer())
            tr->instant(cpu, "tlb", "TLB flush", cpu_ns(cpu),
                        {trace_text("why", "flush_tlb_func (INVLPG per page)"),
                         trace_hex("start", start),
                         {"pages", (end - start) >> PAGE_SHIFT}});
    } else {
        mmu.write_cr3(mmu.regs().cr3 & ~CR3_NOFLUSH); // flush_tlb_local()
        if (Tracer* tr = tracer())
            tr->instant(cpu, "tlb", "TLB flush", cpu_ns(cpu),
                        {trace_text("why", "flush_tlb_func (the whole ASID)")});
    }
    local_tlb_gen = mm_tlb_gen;
}

// flush_tlb_mm_range(): a new tlb_gen for the mm; every CPU in mm_cpumask but this one gets an
// IPI when it runs the mm (all of them when page tables were freed), then this CPU flushes if
// it runs the mm.
void AddressSpaces::flush_tlb_mm_range(mm_struct* mm, uint64_t start, uint64_t end,
                                       bool freed_tables) {
    const unsigned self = mm_percall::cpu;
    // tlb->need_flush_all (a PAE PDPTE changed): only a CR3 reload refreshes the PDPTEs.
    if (mm_percall::need_flush_all) {
        mm_percall::need_flush_all = false;
        start = 0;
        end = TLB_FLUSH_ALL;
    }
    if ((end - start) >> PAGE_SHIFT > TLB_SINGLE_PAGE_FLUSH_CEILING) {
        start = 0;
        end = TLB_FLUSH_ALL;
    }
    const uint64_t new_tlb_gen = ++mm->context.tlb_gen;
    counts_.tlb_flushes++;
    Tracer* const tr = tracer();
    const uint64_t shootdown_begin = tr ? cpu_ns(self) : 0;
    uint64_t targets = 0;
    for (unsigned c = 0; c < machine_.nr_cpus(); c++) {
        if (c == self || !(mm->cpumask & (uint64_t{1} << c))) continue;
        // should_flush_tlb(): an IPI only where the mm is loaded and in use (not lazily),
        // unless tables were freed.
        if (!freed_tables &&
            (katomic::read(tlbstate_[c].loaded_mm) != mm || katomic::read(tlbstate_[c].is_lazy)))
            continue;
        tlbstate_[self].ipis_sent++;
        targets |= uint64_t{1} << c;
        charge(self, &CostModel::ipi_send);
        // The IPI's handler runs on CPU c (emulator/smp.h: in the concurrent mode, on the thread
        // running c at its next instruction boundary) and this CPU waits for it.
        machine_.smp().call_function_single(self, c, [&, c] {
            tlbstate_[c].irq_tlb_count++;
            const uint64_t begin = tr ? cpu_ns(c) : 0;
            charge(c, &CostModel::ipi_receive);
            flush_tlb_func(c, mm, start, end, new_tlb_gen);
            if (tr) tr->slice(c, "tlb", "flush IPI", begin, cpu_ns(c), {{"from_cpu", self}});
        });
    }
    if (tr && targets)
        tr->slice(self, "tlb", "TLB shootdown", shootdown_begin, cpu_ns(self),
                  {trace_hex("cpus", targets),
                   {"ipis", uint64_t(__builtin_popcountll(targets))},
                   trace_hex("start", start),
                   end == TLB_FLUSH_ALL ? trace_text("end", "all") : trace_hex("end", end)});
    if (tlbstate_[self].loaded_mm == mm) flush_tlb_func(self, mm, start, end, new_tlb_gen);
}

} // namespace mmemu
