// The processes issue's speed targets, measured inside mmemu (scripts/bench-processes.sh puts
// them beside the same work on this machine's Linux, bench/native/anon_faults.c):
//   demand-zero faults through the whole path (a write to each page of a fresh region, through
//   the CPU at CPL 3): at least as many per second as native;
//   fork of a process with 512 MiB of touched anonymous memory: at most native's time;
//   COW faults after fork (the child writes each page): at least native's rate.
// Each counter is per fault or per fork; the setup (boot, spawn, the parent's touch) is not
// timed.
#include <benchmark/benchmark.h>

#include "bench/bench_util.h"
#include "mmcore/kernel.h"

namespace mmemu {
namespace {

constexpr uint64_t MiB = uint64_t{1} << 20;
constexpr int RW = PROT_READ | PROT_WRITE;
constexpr int ANON = MAP_PRIVATE | MAP_ANONYMOUS;

struct Proc {
    std::unique_ptr<System> sys = bench_system(bench_machine(uint64_t{4} << 30, 1), KernelConfig{});
    AddressSpaces& as = sys->kernel().spaces;
    task_struct* t = as.task_create("p", 0);
    Proc() { as.set_current(0, t); }
    uint64_t map(uint64_t bytes) { return uint64_t(as.vm_mmap(t->mm, 0, bytes, RW, ANON, 0)); }
    // One byte written to each page, as the scenario op touch does.
    void touch(task_struct* who, uint64_t a, uint64_t bytes) {
        as.set_current(0, who);
        const uint8_t v = 1;
        for (uint64_t off = 0; off < bytes; off += PAGE_SIZE)
            if (!sys->machine()
                     .cpu(0)
                     .write_linear(LinearAddr{a + off}, &v, 1, AccessMode{3, false})
                     .ok())
                throw std::runtime_error("touch failed");
    }
};

void BM_demand_zero_faults(benchmark::State& state) {
    const uint64_t bytes = uint64_t(state.range(0)) * MiB;
    Proc p;
    for (auto _ : state) {
        state.PauseTiming();
        const uint64_t a = p.map(bytes);
        state.ResumeTiming();
        p.touch(p.t, a, bytes);
        state.PauseTiming();
        p.as.vm_munmap(p.t->mm, a, bytes, 0);
        state.ResumeTiming();
    }
    state.counters["faults_per_second"] = benchmark::Counter(
        double(bytes / PAGE_SIZE), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_fork(benchmark::State& state) {
    const uint64_t bytes = uint64_t(state.range(0)) * MiB;
    Proc p;
    const uint64_t a = p.map(bytes);
    p.touch(p.t, a, bytes);
    for (auto _ : state) {
        int err = 0;
        task_struct* c = p.as.do_fork(p.t, "c", 0, err);
        state.PauseTiming();
        p.as.task_exit(c, "exit");
        state.ResumeTiming();
    }
}

void BM_cow_faults(benchmark::State& state) {
    const uint64_t bytes = uint64_t(state.range(0)) * MiB;
    Proc p;
    const uint64_t a = p.map(bytes);
    p.touch(p.t, a, bytes);
    for (auto _ : state) {
        state.PauseTiming();
        int err = 0;
        task_struct* c = p.as.do_fork(p.t, "c", 0, err);
        state.ResumeTiming();
        p.touch(c, a, bytes);
        state.PauseTiming();
        p.as.task_exit(c, "exit");
        state.ResumeTiming();
    }
    state.counters["faults_per_second"] = benchmark::Counter(
        double(bytes / PAGE_SIZE), benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_demand_zero_faults)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_fork)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_cow_faults)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace
} // namespace mmemu
