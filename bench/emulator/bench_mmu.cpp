// MMU speed. Targets (issue #3), one core:
//   a translated access that hits the L1 dTLB        >= 200 M accesses/s (<= 5 ns)
//   a 4-level walk with cold paging-structure caches >= 20 M walks/s
#include <benchmark/benchmark.h>

#include "emulator/mmu.h"

using namespace mmemu;

namespace {

// 4-level tables mapping 4 KiB user pages: PML4 at 0x100000, PDPT 0x101000, PD 0x102000, PT
// 0x103000 (512 pages from linear 0x40000000 to frames from 0x200000).
struct Tables {
    PhysicalMemory ram{uint64_t{64} << 20};
    Mmu mmu{ram};
    static constexpr uint64_t base_la = 0x40000000;
    Tables() {
        ram.write_u64(PhysAddr{0x100000}, 0x101000 | 7);
        ram.write_u64(PhysAddr{0x101000 + 8 * 1}, 0x102000 | 7);
        ram.write_u64(PhysAddr{0x102000}, 0x103000 | 7);
        for (uint64_t i = 0; i < 512; i++)
            ram.write_u64(PhysAddr{0x103000 + 8 * i}, (0x200000 + (i << 12)) | 0x67);
        mmu.write_cr4(CR4_PAE);
        mmu.write_efer(EFER_LME);
        mmu.write_cr3(0x100000);
        mmu.write_cr0(CR0_PE | CR0_PG);
    }
};

void BM_translate_l1_hit(benchmark::State& state) {
    Tables t;
    AccessRequest req{Tables::base_la + 0x123, AccessType::read, true, false};
    t.mmu.translate(req); // warm
    uint64_t sum = 0;
    for (auto _ : state) {
        sum += t.mmu.translate(req).pa;
        benchmark::DoNotOptimize(sum);
    }
    state.SetItemsProcessed(state.iterations());
}

// The whole miss path of the MMU: 64 pages, each under its own PML4 entry (linear i << 39),
// all in set 0 of every TLB array; cycling through them misses the L1 dTLB (4 ways) and the STLB
// (12 ways) every time, and the paging-structure caches (4 PML4E, 4 PDPTE and 32 PDE entries,
// LRU) too. Each access is a cold 4-level walk plus the TLB and cache probes and fills.
void BM_translate_cold_walk(benchmark::State& state) {
    PhysicalMemory ram{uint64_t{64} << 20};
    Mmu mmu{ram};
    constexpr uint64_t n = 64;
    for (uint64_t i = 0; i < n; i++) {
        const uint64_t pdpt = 0x200000 + i * 0x3000, pd = pdpt + 0x1000, pt = pd + 0x1000;
        ram.write_u64(PhysAddr{0x100000 + 8 * i}, pdpt | 7);
        ram.write_u64(PhysAddr{pdpt}, pd | 7);
        ram.write_u64(PhysAddr{pd}, pt | 7);
        ram.write_u64(PhysAddr{pt}, (0x800000 + (i << 12)) | 0x67);
    }
    mmu.write_cr4(CR4_PAE);
    mmu.write_efer(EFER_LME);
    mmu.write_cr3(0x100000);
    mmu.write_cr0(CR0_PE | CR0_PG);
    uint64_t i = 0, sum = 0;
    for (auto _ : state) {
        sum += mmu.translate({i << 39, AccessType::read, true, false}).pa;
        i = (i + 1) & (n - 1);
        benchmark::DoNotOptimize(sum);
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["walk_refs_per_access"] =
        double(mmu.stats().walk_mem_refs) / double(mmu.stats().walks ? mmu.stats().walks : 1);
}

// A 4-level walk with cold paging-structure caches: the walker from CR3 (4 references), no TLB
// or cache probes.
void BM_page_walk_only(benchmark::State& state) {
    Tables t;
    AccessRequest req{Tables::base_la + 0x5000, AccessType::read, true, false};
    uint64_t sum = 0;
    for (auto _ : state) {
        sum += page_walk(t.mmu.regs(), t.mmu.pdptes(), t.ram, req).pa;
        benchmark::DoNotOptimize(sum);
    }
    state.SetItemsProcessed(state.iterations());
}

// Streaming through 512 pages: L1 dTLB (64 entries) misses, STLB (1536) hits.
void BM_translate_stlb_stream(benchmark::State& state) {
    Tables t;
    for (uint64_t i = 0; i < 512; i++)
        t.mmu.translate({Tables::base_la + (i << 12), AccessType::read, true, false});
    uint64_t i = 0, sum = 0;
    for (auto _ : state) {
        sum += t.mmu.translate({Tables::base_la + (i << 12), AccessType::read, true, false}).pa;
        i = (i + 1) & 511;
        benchmark::DoNotOptimize(sum);
    }
    state.SetItemsProcessed(state.iterations());
}

} // namespace

BENCHMARK(BM_translate_l1_hit);
BENCHMARK(BM_translate_cold_walk);
BENCHMARK(BM_page_walk_only);
BENCHMARK(BM_translate_stlb_stream);
