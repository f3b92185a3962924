// Buddy allocator speed. Targets (issue #2), one core:
//   order-0 alloc_pages + free_pages pair  >= 30 M pairs/s
//   order-3 pair                           >= 10 M pairs/s
#include <benchmark/benchmark.h>

#include "bench/bench_util.h"
#include "mmcore/kernel.h"

using namespace mmemu;

namespace {

struct Booted {
    std::unique_ptr<System> sys;
    Kernel& k;
    explicit Booted(bool pcp)
        : sys(bench_system(bench_machine(uint64_t{4} << 30, 1), cfg(pcp))), k(sys->kernel()) {}
    static KernelConfig cfg(bool pcp) {
        KernelConfig c;
        c.pcp_enabled = pcp;
        return c;
    }
};

void BM_alloc_free_pair(benchmark::State& state) {
    const unsigned order = unsigned(state.range(0));
    Booted b(state.range(1) != 0);
    for (auto _ : state) {
        page* p = b.k.buddy.alloc_pages(GFP_KERNEL, order, -1, 0);
        benchmark::DoNotOptimize(p);
        b.k.buddy.free_pages(p, order, 0);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(state.range(1) ? "pcp on" : "pcp off");
}

// A working set: 256 blocks held, alloc and free cycling through them.
void BM_alloc_free_working_set(benchmark::State& state) {
    const unsigned order = unsigned(state.range(0));
    Booted b(true);
    std::vector<page*> held(256, nullptr);
    size_t i = 0;
    for (auto _ : state) {
        if (held[i]) b.k.buddy.free_pages(held[i], order, 0);
        held[i] = b.k.buddy.alloc_pages(GFP_KERNEL, order, -1, 0);
        i = (i + 1) & 255;
    }
    state.SetItemsProcessed(state.iterations());
}

} // namespace

BENCHMARK(BM_alloc_free_pair)->Args({0, 1})->Args({3, 1})->Args({0, 0})->Args({3, 0});
BENCHMARK(BM_alloc_free_working_set)->Arg(0)->Arg(3);
