// The CPUs' host threads and IPIs (emulator/smp.h): who runs an IPI's handler and when, in the
// deterministic mode (a call) and in the concurrent mode (the thread running the CPU at an
// instruction boundary, or the sender in an idle CPU's stead), and that two CPUs sending each
// other IPIs at once both get through. Run under ThreadSanitizer by CI (the concurrent mode).
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "emulator/smp.h"

using namespace mmemu;

TEST_CASE("smp: in the deterministic mode an IPI is a call and nothing waits", "[smp]") {
    Smp smp(2);
    smp.get_cpu(1); // no-ops: one thread runs every CPU
    smp.get_cpu(1);
    std::thread::id ran;
    const std::function<void()> fn = [&] { ran = std::this_thread::get_id(); };
    smp.call_function_single(0, 1, fn);
    CHECK(ran == std::this_thread::get_id());
    smp.put_cpu(1);
    CHECK_THROWS_AS(smp.call_function_single(0, 2, fn), std::out_of_range);
}

TEST_CASE("smp: an IPI to an idle CPU runs at once on the sender's thread", "[smp]") {
    Smp smp(2);
    smp.set_concurrent(true);
    std::thread::id ran;
    const std::function<void()> fn = [&] { ran = std::this_thread::get_id(); };
    smp.get_cpu(0);
    smp.call_function_single(0, 1, fn);
    smp.put_cpu(0);
    CHECK(ran == std::this_thread::get_id());
    CHECK(smp.ipis_handled(1) == 1);
}

TEST_CASE("smp: an IPI to a running CPU waits for its next instruction boundary and runs on its "
          "thread",
          "[smp]") {
    Smp smp(2);
    smp.set_concurrent(true);
    std::atomic<bool> running{false}, stop{false};
    std::atomic<unsigned> polls_after_ipi{0};
    std::thread::id runner_id, ran;
    std::atomic<bool> handled{false};
    std::thread runner([&] {
        runner_id = std::this_thread::get_id();
        smp.get_cpu(1);
        running = true;
        while (!stop) {
            smp.poll(1);
            if (handled) polls_after_ipi++;
        }
        smp.put_cpu(1);
    });
    while (!running) std::this_thread::yield();
    const std::function<void()> fn = [&] {
        ran = std::this_thread::get_id();
        handled = true;
    };
    smp.get_cpu(0);
    smp.call_function_single(0, 1, fn);
    // The sender got control back only once the handler had run.
    CHECK(handled);
    smp.put_cpu(0);
    stop = true;
    runner.join();
    CHECK(ran == runner_id);
    CHECK(ran != std::this_thread::get_id());
}

TEST_CASE("smp: two CPUs that IPI each other at once both get through", "[smp]") {
    Smp smp(4);
    smp.set_concurrent(true);
    constexpr unsigned rounds = 2000;
    std::atomic<uint64_t> calls{0};
    const std::function<void()> fn = [&] { calls.fetch_add(1, std::memory_order_relaxed); };
    std::vector<std::thread> ts;
    for (unsigned c = 0; c < 4; c++)
        ts.emplace_back([&, c] {
            smp.get_cpu(c);
            for (unsigned i = 0; i < rounds; i++) {
                smp.call_function_single(c, (c + 1 + i % 3) % 4, fn);
                if (i % 16 == 0) { // go idle now and then: senders then stand in
                    smp.put_cpu(c);
                    smp.get_cpu(c);
                }
            }
            smp.put_cpu(c);
        });
    for (auto& t : ts) t.join();
    CHECK(calls == 4 * rounds);
    uint64_t handled = 0;
    for (unsigned c = 0; c < 4; c++) handled += smp.ipis_handled(c);
    CHECK(handled == 4 * rounds);
}

TEST_CASE("smp: cond_resched lets a thread waiting for the CPU run", "[smp]") {
    Smp smp(1);
    smp.set_concurrent(true);
    std::atomic<bool> stop{false}, got{false};
    std::thread vcpu([&] {
        smp.get_cpu(0);
        while (!stop) smp.cond_resched(0);
        smp.put_cpu(0);
    });
    std::thread ksmd([&] {
        smp.get_cpu(0);
        got = true;
        smp.put_cpu(0);
        stop = true;
    });
    ksmd.join();
    vcpu.join();
    CHECK(got);
}
