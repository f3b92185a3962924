// The kernel's atomic words and counters (mmcore/kernel_atomic.h): in the concurrent mode the
// CPUs' threads update them at once without losing an update (Linux's atomic_t and per-CPU
// counters); atomic_add_unless(v, 1, 0) leaves a zero alone. Run under ThreadSanitizer by CI's
// TSan step only through the stress scenario; here the sums are checked.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "mmcore/kernel_atomic.h"

using namespace mmemu;

TEST_CASE("kernel counters: four CPUs' threads adding at once lose no update", "[atomic]") {
    Smp smp(4);
    smp.set_concurrent(true);
    katomic_u64 events = 0;
    kernel_atomic<int32_t> refs = 1;
    constexpr unsigned N = 1000000;
    std::atomic<unsigned> ready{0};
    std::vector<std::thread> threads;
    for (unsigned c = 0; c < 4; c++)
        threads.emplace_back([&, c] {
            smp.get_cpu(c);
            ready++; // all four start together
            while (ready.load() < 4) std::this_thread::yield();
            for (unsigned i = 0; i < N; i++) {
                // (A compiler barrier: each update is its own load and store, as in the kernel's
                // many call sites, not one add the compiler made of the loop.)
                std::atomic_signal_fence(std::memory_order_seq_cst);
                events++;
                events += 2;
                refs++;
                --refs;
            }
            smp.put_cpu(c);
        });
    for (auto& t : threads) t.join();
    // 4 threads x N x (1 + 2); each thread's ++/-- pairs cancel.
    CHECK(events.load() == 4ull * N * 3);
    CHECK(refs.load() == 1);
}

TEST_CASE("kernel counters: the deterministic mode's plain read-modify-writes", "[atomic]") {
    katomic_s64 v = 5;
    CHECK((v -= 7) == -2);
    CHECK(v++ == -2);
    CHECK(v.load() == -1);
    CHECK(++v == 0);
    kernel_atomic<uint64_t> bits = 0b0101;
    CHECK((bits |= 0b0010) == 0b0111);
    CHECK((bits &= 0b0110) == 0b0110);
}

TEST_CASE("folio_try_get: a zero reference count stays zero", "[atomic]") {
    for (const bool concurrent : {false, true}) {
        Smp smp(1);
        smp.set_concurrent(concurrent);
        smp.get_cpu(0);
        kernel_atomic<int32_t> ref = 0;
        CHECK_FALSE(ref.inc_not_zero());
        CHECK(ref.load() == 0);
        ref = 1;
        CHECK(ref.inc_not_zero());
        CHECK(ref.load() == 2);
        smp.put_cpu(0);
    }
}
