// The CPU's fault delivery: a page fault goes to the handler the kernel layer installs and the
// access is retried after it returns, as a real CPU re-executes the faulting instruction.
#include <catch2/catch.hpp>

#include "emulator/cpu.h"

using namespace mmemu;

namespace {

// 4-level tables with the PTE for linear 0x5000 missing; the handler installs it.
struct DemandPager final : PageFaultHandler {
    PhysicalMemory& ram;
    unsigned calls = 0;
    bool fix = true;
    explicit DemandPager(PhysicalMemory& r) : ram(r) {}
    bool handle_page_fault(const TranslationFault& f, const AccessRequest&) override {
        calls++;
        if (!fix) return true;    // claims to resolve it but does not
        REQUIRE(f.cr2 == 0x5123); // CR2 holds the faulting linear address itself (SDM 4.7)
        ram.write_u64(PhysAddr{0x103000 + 5 * 8}, 0x7000 | 7); // PTE 5 -> frame 0x7000
        return true;
    }
};

void build(PhysicalMemory& ram, Cpu& cpu) {
    ram.write_u64(PhysAddr{0x100000}, 0x101000 | 7);
    ram.write_u64(PhysAddr{0x101000}, 0x102000 | 7);
    ram.write_u64(PhysAddr{0x102000}, 0x103000 | 7);
    cpu.mmu.write_cr4(CR4_PAE);
    cpu.mmu.write_efer(EFER_LME);
    cpu.mmu.write_cr3(0x100000);
    cpu.mmu.write_cr0(CR0_PE | CR0_PG);
}

} // namespace

TEST_CASE("cpu: a page fault is delivered to the handler and the access retried", "[cpu]") {
    PhysicalMemory ram(16 << 20);
    Cpu cpu(ram, TlbConfig::skylake(), CostModel{});
    build(ram, cpu);
    // Without a handler the not-present fault is the result: P=0, W=0, U=1 -> error code 0x4.
    Translation t = cpu.translate({0x5123, AccessType::read, true, false});
    REQUIRE(t.fault.vector == VEC_PF);
    REQUIRE(t.fault.error_code == 0x4);
    DemandPager pager(ram);
    cpu.set_page_fault_handler(&pager);
    unsigned handled = 0;
    t = cpu.translate({0x5123, AccessType::read, true, false}, &handled);
    REQUIRE_FALSE(t.fault.raised());
    REQUIRE(t.pa == 0x7123);
    REQUIRE(handled == 1);
    REQUIRE(pager.calls == 1);
}

TEST_CASE("cpu: a handler that never resolves the fault ends after MAX_FAULT_RETRIES", "[cpu]") {
    PhysicalMemory ram(16 << 20);
    Cpu cpu(ram, TlbConfig::skylake(), CostModel{});
    build(ram, cpu);
    DemandPager pager(ram);
    pager.fix = false;
    cpu.set_page_fault_handler(&pager);
    const Translation t = cpu.translate({0x5123, AccessType::read, true, false});
    REQUIRE(t.fault.vector == VEC_PF);
    REQUIRE(pager.calls == MAX_FAULT_RETRIES);
}
