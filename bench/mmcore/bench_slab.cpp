// Slab allocator speed. Targets (issue #2), one core:
//   kmalloc(64) + kfree                               >= 30 M pairs/s
//   kmem_cache_alloc + kmem_cache_free, 512-byte cache >= 30 M pairs/s
#include <benchmark/benchmark.h>

#include "bench/bench_util.h"
#include "mmcore/kernel.h"

using namespace mmemu;

namespace {

struct Booted {
    std::unique_ptr<System> sys = bench_system(bench_machine(uint64_t{1} << 30, 1), KernelConfig{});
    Kernel& k = sys->kernel();
};

void BM_kmalloc64_kfree(benchmark::State& state) {
    Booted b;
    for (auto _ : state) {
        const SlabObj obj = b.k.slab.kmalloc(64, GFP_KERNEL, 0);
        benchmark::DoNotOptimize(obj);
        b.k.slab.kfree(obj, 0);
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_kmem_cache_512(benchmark::State& state) {
    Booted b;
    std::string err;
    kmem_cache* c =
        b.k.slab.kmem_cache_create("bench_512", 512, 0, SLAB_HWCACHE_ALIGN, std::nullopt, err);
    for (auto _ : state) {
        const SlabObj obj = b.k.slab.kmem_cache_alloc(c, GFP_KERNEL, 0);
        benchmark::DoNotOptimize(obj);
        b.k.slab.kmem_cache_free(c, obj, 0);
    }
    state.SetItemsProcessed(state.iterations());
}

// Beyond the per-CPU array: 1000 objects live, so refills and flushes reach the slab lists.
void BM_kmalloc64_working_set(benchmark::State& state) {
    Booted b;
    std::vector<SlabObj> held(1000);
    size_t i = 0;
    for (auto _ : state) {
        if (!held[i].null()) b.k.slab.kfree(held[i], 0);
        held[i] = b.k.slab.kmalloc(64, GFP_KERNEL, 0);
        i = i + 1 == held.size() ? 0 : i + 1;
    }
    state.SetItemsProcessed(state.iterations());
}

} // namespace

BENCHMARK(BM_kmalloc64_kfree);
BENCHMARK(BM_kmem_cache_512);
BENCHMARK(BM_kmalloc64_working_set);
