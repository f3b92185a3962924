// Building a machine. Target (issue #2): a 64 GiB machine built (zones set up, all memory free)
// in <= 1 s with <= 1.1 GiB host RSS. The RSS counter reports the process's resident set after
// the boot (it includes everything the process touched before, so it is an upper bound).
#include <benchmark/benchmark.h>

#include "bench/bench_util.h"
#include "emulator/host_memory.h"
#include "mmcore/kernel.h"

using namespace mmemu;

static void BM_boot(benchmark::State& state) {
    const uint64_t bytes = uint64_t(state.range(0)) << 30;
    uint64_t rss = 0, free_pages = 0;
    for (auto _ : state) {
        std::unique_ptr<System> sys = bench_system(bench_machine(bytes, 2), KernelConfig{});
        free_pages = sys->kernel().buddy.nr_free_pages();
        rss = host_rss_bytes();
        benchmark::DoNotOptimize(free_pages);
    }
    state.counters["rss_MiB"] = double(rss) / (1 << 20);
    state.counters["free_pages"] = double(free_pages);
}
BENCHMARK(BM_boot)->Arg(1)->Arg(64)->Unit(benchmark::kMillisecond)->Iterations(3);
