// The CPU's data path (emulator/cpu.h): Cpu::read / Cpu::write move bytes between the caller and
// emulated RAM through segmentation and paging; a page fault goes to the handler the kernel
// layer installs, told which CPU faulted, and the access is retried after it resolves it, as a
// real CPU re-executes the faulting instruction. Expected values are worked out here from the
// tables each test builds.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "emulator/cpu.h"
#include "emulator/linux_gdt.h"

using namespace mmemu;

namespace {

constexpr uint64_t PT = 0x103000; // the page table for linear [0, 2 MiB)
constexpr uint64_t P = 1, RW = 2, US = 4;

// 4-level tables: PML4 0x100000 -> PDPT 0x101000 -> PD 0x102000 -> PT 0x103000, all entries
// P|RW|US; the PTEs are filled by each test (page k of linear [0, 2 MiB) is PTE k).
void build(PhysicalMemory& ram, Cpu& cpu) {
    ram.write_u64(PhysAddr{0x100000}, 0x101000 | 7);
    ram.write_u64(PhysAddr{0x101000}, 0x102000 | 7);
    ram.write_u64(PhysAddr{0x102000}, PT | 7);
    REQUIRE_FALSE(cpu.mmu.write_cr4(CR4_PAE).raised());
    REQUIRE_FALSE(cpu.mmu.write_efer(EFER_LME).raised());
    REQUIRE_FALSE(cpu.mmu.write_cr3(0x100000).raised());
    REQUIRE_FALSE(cpu.mmu.write_cr0(CR0_PE | CR0_PG).raised());
}

void map(PhysicalMemory& ram, uint64_t la, uint64_t frame) {
    ram.write_u64(PhysAddr{PT + (la >> 12) * 8}, frame | P | RW | US);
}

// A demand pager: maps the faulting page to the frame given for it, once per page, and
// remembers which CPU each fault came from and its error code and CR2.
struct DemandPager final : PageFaultHandler {
    PhysicalMemory& ram;
    std::vector<std::pair<uint64_t, uint64_t>> frames; // page -> frame
    std::vector<unsigned> cpus;
    std::vector<uint32_t> codes;
    std::vector<uint64_t> cr2s;
    FaultResolution answer = FaultResolution::resolved;
    bool fix = true;
    explicit DemandPager(PhysicalMemory& r) : ram(r) {}
    FaultResolution handle_page_fault(unsigned cpu, const Fault& f,
                                      const AccessRequest& req) override {
        cpus.push_back(cpu);
        codes.push_back(f.error_code);
        cr2s.push_back(f.cr2.value);
        CHECK(f.vector == VEC_PF);
        CHECK(req.la == f.cr2); // CR2 holds the faulting linear address itself (SDM 4.7)
        if (fix)
            for (auto [page, frame] : frames)
                if (page == (f.cr2.value & ~0xfffull)) map(ram, page, frame);
        return answer;
    }
};

struct Rig {
    PhysicalMemory ram{16 << 20};
    Cpu cpu{3, ram, TlbConfig::skylake(), CostModel{}};
    Rig() { build(ram, cpu); }
    uint8_t byte(uint64_t pa) const { return *ram.ptr(PhysAddr{pa}); }
};

constexpr AccessMode USER{3, false};

} // namespace

TEST_CASE("cpu: a page fault is delivered to the handler with the CPU's number and the access "
          "retried",
          "[cpu]") {
    Rig r;
    uint8_t v[4] = {};
    // Without a handler the not-present fault is the result: P=0, W=0, U=1 -> error code 0x4.
    MemoryAccess a = r.cpu.read_linear(LinearAddr{0x5123}, v, 4, USER);
    REQUIRE(a.fault.vector == VEC_PF);
    CHECK(a.fault.error_code == 0x4);
    CHECK(a.fault.cr2.value == 0x5123);
    CHECK(a.done == 0);
    DemandPager pager(r.ram);
    pager.frames = {{0x5000, 0x7000}};
    r.cpu.set_page_fault_handler(&pager);
    r.ram.write(PhysAddr{0x7123}, "\x11\x22\x33\x44", 4);
    a = r.cpu.read_linear(LinearAddr{0x5123}, v, 4, USER);
    REQUIRE(a.ok());
    CHECK(a.done == 4);
    CHECK(a.first.pa.value == 0x7123);
    CHECK(a.faults_handled == 1);
    CHECK(std::memcmp(v, "\x11\x22\x33\x44", 4) == 0);
    REQUIRE(pager.cpus == std::vector<unsigned>{3});
    CHECK(pager.codes == std::vector<uint32_t>{0x4});
}

TEST_CASE("cpu: a handler that never fixes the fault ends after MAX_FAULT_RETRIES deliveries",
          "[cpu]") {
    Rig r;
    DemandPager pager(r.ram);
    pager.fix = false; // claims to resolve it but does not
    r.cpu.set_page_fault_handler(&pager);
    uint8_t v = 0;
    const MemoryAccess a = r.cpu.read_linear(LinearAddr{0x5123}, &v, 1, USER);
    REQUIRE(a.fault.vector == VEC_PF);
    CHECK(pager.cpus.size() == MAX_FAULT_RETRIES);
    // Cpu::translate (no data) bounds the retries the same way.
    pager.cpus.clear();
    const Translation t = r.cpu.translate({LinearAddr{0x5123}, AccessType::read, true, false});
    CHECK(t.fault.vector == VEC_PF);
    CHECK(pager.cpus.size() == MAX_FAULT_RETRIES);
}

TEST_CASE("cpu: a fault the handler does not resolve ends the access after one delivery", "[cpu]") {
    Rig r;
    DemandPager pager(r.ram);
    pager.answer = FaultResolution::not_resolved;
    r.cpu.set_page_fault_handler(&pager);
    const uint32_t v = 0xdeadbeef;
    const MemoryAccess a = r.cpu.write_linear(LinearAddr{0x5000}, &v, 4, USER);
    REQUIRE(a.fault.vector == VEC_PF);
    CHECK(a.fault.error_code == (PFERR_W | PFERR_U)); // 0x6: user write, not present
    CHECK(pager.cpus.size() == 1);
    CHECK(a.faults_handled == 0);
}

TEST_CASE("cpu: a split operand is translated on both pages before any byte lands", "[cpu]") {
    Rig r;
    map(r.ram, 0x5000, 0x7000); // 0x6000 is not mapped
    const uint64_t v = 0x8877665544332211ull;
    // 8 bytes at 0x5ffc: 4 on page 0x5000 (frame 0x7ffc..0x7fff), 4 on page 0x6000.
    MemoryAccess a = r.cpu.write_linear(LinearAddr{0x5ffc}, &v, 8, USER);
    REQUIRE(a.fault.vector == VEC_PF);
    CHECK(a.fault.cr2.value == 0x6000); // the first byte on the faulting page
    CHECK(a.fault.error_code == (PFERR_W | PFERR_U));
    CHECK(a.done == 0);
    for (uint64_t pa = 0x7ffc; pa < 0x8000; pa++) CHECK(r.byte(pa) == 0); // nothing landed
    // Map the second page: the operand lands on both frames, low half first.
    map(r.ram, 0x6000, 0x9000);
    a = r.cpu.write_linear(LinearAddr{0x5ffc}, &v, 8, USER);
    REQUIRE(a.ok());
    CHECK(a.split);
    CHECK(a.first.pa.value == 0x7ffc);
    CHECK(a.second_pa.value == 0x9000);
    CHECK(r.ram.read_u32(PhysAddr{0x7ffc}) == 0x44332211u);
    CHECK(r.ram.read_u32(PhysAddr{0x9000}) == 0x88776655u);
    uint64_t back = 0;
    REQUIRE(r.cpu.read_linear(LinearAddr{0x5ffc}, &back, 8, USER).ok());
    CHECK(back == v);
}

TEST_CASE("cpu: a split operand with both pages unmapped reports the lower page's fault", "[cpu]") {
    Rig r;
    uint16_t v = 0;
    const MemoryAccess a = r.cpu.read_linear(LinearAddr{0x5fff}, &v, 2, USER);
    REQUIRE(a.fault.vector == VEC_PF);
    CHECK(a.fault.cr2.value == 0x5fff); // mmemu's documented order: the first byte's page first
}

TEST_CASE("cpu: a fault resolved on the second page retries the operand from the first page",
          "[cpu]") {
    Rig r;
    map(r.ram, 0x5000, 0x7000);
    DemandPager pager(r.ram);
    pager.frames = {{0x6000, 0x9000}};
    r.cpu.set_page_fault_handler(&pager);
    const uint32_t v = 0xa1b2c3d4;
    const MemoryAccess a = r.cpu.write_linear(LinearAddr{0x5ffe}, &v, 4, USER);
    REQUIRE(a.ok());
    CHECK(a.faults_handled == 1);
    // page 1, page 2 (faults), then both again: four translations.
    CHECK(a.pages == 4);
    CHECK(pager.cr2s == std::vector<uint64_t>{0x6000});
    CHECK(r.ram.read_u32(PhysAddr{0x7ffc}) >> 16 == 0xc3d4u);
    CHECK((r.ram.read_u32(PhysAddr{0x9000}) & 0xffff) == 0xa1b2u);
}

TEST_CASE("cpu: a string write makes progress page by page and stops at the faulting page",
          "[cpu]") {
    Rig r;
    map(r.ram, 0x5000, 0x7000);
    map(r.ram, 0x6000, 0x9000); // 0x7000 is not mapped
    // 0x2800 bytes of 0xab from 0x5800: 0x800 on page 0x5000, 0x1000 on page 0x6000, then the
    // fault at 0x7000 with 0x1000 bytes left.
    MemoryAccess a = r.cpu.fill_linear(LinearAddr{0x5800}, 0xab, 0x2800, USER);
    REQUIRE(a.fault.vector == VEC_PF);
    CHECK(a.fault.cr2.value == 0x7000);
    CHECK(a.done == 0x1800);
    CHECK(r.byte(0x77ff) == 0);
    CHECK(r.byte(0x7800) == 0xab);
    CHECK(r.byte(0x7fff) == 0xab);
    CHECK(r.byte(0x9000) == 0xab);
    CHECK(r.byte(0x9fff) == 0xab);
    // A copy in and out of three pages once the third is mapped.
    map(r.ram, 0x7000, 0xb000);
    std::vector<uint8_t> src(0x2800), dst(0x2800);
    for (size_t i = 0; i < src.size(); i++) src[i] = uint8_t(i * 7 + 1);
    a = r.cpu.write_linear(LinearAddr{0x5800}, src.data(), src.size(), USER);
    REQUIRE(a.ok());
    CHECK(a.done == 0x2800);
    CHECK(r.byte(0xb000) == src[0x1800]);
    REQUIRE(r.cpu.read_linear(LinearAddr{0x5800}, dst.data(), dst.size(), USER).ok());
    CHECK(dst == src);
}

TEST_CASE("cpu: physical addresses beyond RAM read as all ones and drop writes", "[cpu]") {
    Rig r;
    // 16 MiB of RAM; a PTE pointing at 1 GiB.
    map(r.ram, 0x5000, 0x40000000);
    const uint32_t w = 0x12345678;
    REQUIRE(r.cpu.write_linear(LinearAddr{0x5010}, &w, 4, USER).ok());
    uint32_t v = 0;
    REQUIRE(r.cpu.read_linear(LinearAddr{0x5010}, &v, 4, USER).ok());
    CHECK(v == 0xffffffffu);
}

TEST_CASE("cpu: descriptor-table reads are implicit supervisor accesses with fault delivery",
          "[cpu]") {
    Rig r;
    // Linux's i386 GDT in frame 0x20000, mapped at linear 0x10000 only when the pager is asked.
    const DescriptorTableRegister gdtr =
        write_linux_i386_gdt(r.ram, PhysAddr{0x20000}, 0x10000 - 0x20000);
    REQUIRE(gdtr.base == 0x10000);
    r.cpu.seg.lgdt(gdtr);
    DemandPager pager(r.ram);
    pager.frames = {{0x10000, 0x20000}};
    r.cpu.set_page_fault_handler(&pager);
    // MOV DS, 0x7b (__USER_DS, GDT entry 15) at CPL 3: the descriptor read at 0x10078 faults
    // once (an implicit supervisor read of a not-present page: error code 0), then the load
    // completes and sets the Accessed bit through the same path.
    REQUIRE_FALSE(r.cpu.load_segment(SegReg::DS, 0x7b, 3).raised());
    CHECK(pager.cpus == std::vector<unsigned>{3});
    CHECK(pager.codes == std::vector<uint32_t>{0});
    CHECK(pager.cr2s == std::vector<uint64_t>{0x10078});
    CHECK(r.cpu.seg.reg(SegReg::DS).valid);
    CHECK((r.byte(0x20078 + 5) & 1) == 1); // the Accessed bit, written back
}

TEST_CASE("phys_mem: every write of a frame's bytes advances that frame's write generation, and "
          "only that frame's",
          "[cpu]") {
    // KSM keeps a page's checksum while its frame's generation holds (ksm/ksm_types.h): a write
    // that did not advance it would let a changed page pass for an unchanged one.
    Rig r;
    map(r.ram, 0x5000, 0x7000);
    map(r.ram, 0x6000, 0x9000);
    const auto gen = [&](uint64_t frame) { return r.ram.write_generation(Pfn{frame >> 12}); };
    const uint64_t g7 = gen(0x7000), g8 = gen(0x8000), g9 = gen(0x9000);
    // The CPU's store: one byte, then a split operand (both frames), then a fill.
    const uint8_t b = 1;
    REQUIRE(r.cpu.write_linear(LinearAddr{0x5010}, &b, 1, USER).ok());
    CHECK(gen(0x7000) == g7 + 1);
    CHECK(gen(0x9000) == g9);
    const uint64_t v = 2;
    REQUIRE(r.cpu.write_linear(LinearAddr{0x5ffc}, &v, 8, USER).ok());
    CHECK(gen(0x7000) == g7 + 2);
    CHECK(gen(0x9000) == g9 + 1);
    REQUIRE(r.cpu.fill_linear(LinearAddr{0x6000}, 3, 16, USER).ok());
    CHECK(gen(0x9000) == g9 + 2);
    // A read changes nothing.
    uint64_t back = 0;
    REQUIRE(r.cpu.read_linear(LinearAddr{0x5ffc}, &back, 8, USER).ok());
    CHECK(gen(0x7000) == g7 + 2);
    CHECK(gen(0x9000) == g9 + 2);
    // The kernel's writes through physical addresses: write, fill, the word writes (a range
    // across a frame boundary counts on both frames) and clear_frame().
    r.ram.write(PhysAddr{0x7ffe}, &v, 4);
    CHECK(gen(0x7000) == g7 + 3);
    CHECK(gen(0x8000) == g8 + 1);
    r.ram.fill(PhysAddr{0x8000}, 0, 4096);
    r.ram.write_u32(PhysAddr{0x8010}, 5);
    r.ram.write_u64(PhysAddr{0x8020}, 6);
    r.ram.clear_frame(Pfn{8});
    CHECK(gen(0x8000) == g8 + 5);
    CHECK(gen(0x7000) == g7 + 3);
    CHECK(gen(0x9000) == g9 + 2);
}
