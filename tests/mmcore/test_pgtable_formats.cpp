// The page-table formats a process can get: 2-level i386 with each VMSPLIT and highmem, PAE
// with its preallocated PMDs, and 5-level x86_64. Every expected value is worked out by hand
// from docs/dev/i386-pae-facts.md (the splits, the direct map, pgd_alloc) and the entry formats
// of the SDM (Vol. 3A 4.3, 4.4, 4.5).
#include <catch2/catch.hpp>

#include "proc_fixture.h"

using namespace mmemu;
using namespace mmemu::test;

namespace {

KernelConfig split(uint64_t page_offset) {
    KernelConfig kc;
    kc.page_offset_32 = page_offset;
    return kc;
}

uint64_t pgalloc(const Proc& p, zone_type t) {
    const auto& l = p.b.k.buddy.layout;
    return p.b.k.buddy.events().pgalloc[l.index_of(t)];
}

// A supervisor read of 4 bytes at a linear address through CPU 0.
uint32_t kernel_read_u32(Proc& p, uint64_t la) {
    uint32_t v = 0;
    REQUIRE(p.b.m.cpu(0).read_linear(LinearAddr{la}, &v, 4, AccessMode{0, false}).ok());
    return v;
}

} // namespace

TEST_CASE("i386: each VMSPLIT sets PAGE_OFFSET, TASK_SIZE, lowmem, mmap_base and the kernel PDEs",
          "[process][i386]") {
    struct Case {
        uint64_t page_offset;
        uint64_t max_low_pfn; // min(RAM, 4 GiB - PAGE_OFFSET - 128 MiB) / 4 KiB, RAM = 2 GiB
        unsigned boundary;    // KERNEL_PGD_BOUNDARY = PAGE_OFFSET >> 22
    };
    const Case c = GENERATE(Case{0xC0000000, 229376, 768},  // 3G: 896 MiB of lowmem
                            Case{0xB0000000, 294912, 704},  // 3G_OPT: 1152 MiB
                            Case{0x80000000, 491520, 512},  // 2G: 1920 MiB
                            Case{0x78000000, 524288, 480},  // 2G_OPT: all 2 GiB
                            Case{0x40000000, 524288, 256}); // 1G: all 2 GiB
    Proc p(machine(Arch::i386, 2 * GiB), split(c.page_offset));
    CHECK(p.as.format().kind == PgtableFormat::two_level);
    CHECK(p.as.page_offset() == c.page_offset);
    CHECK(p.as.task_size() == c.page_offset);
    CHECK(p.b.k.layout.max_low_pfn == c.max_low_pfn);
    CHECK(p.as.has_highmem() == (c.max_low_pfn < 524288));
    // The PGD of a new mm: the kernel's PDEs from the boundary up, copied from swapper_pg_dir;
    // nothing below it; no page-table bytes of its own yet (the PGD is not counted).
    const PhysicalMemory& ram = p.b.m.ram();
    const PhysAddr pgd = p.t.mm->pgd, swapper = p.as.swapper_pg_dir();
    unsigned user_present = 0, kernel_same = 0;
    for (unsigned i = 0; i < 1024; i++) {
        const uint32_t e = ram.read_u32(PhysAddr{pgd.value + 4 * i});
        if (i < c.boundary)
            user_present += e != 0;
        else
            kernel_same += e == ram.read_u32(PhysAddr{swapper.value + 4 * i});
    }
    CHECK(user_present == 0);
    CHECK(kernel_same == 1024 - c.boundary);
    CHECK(p.t.mm->pgtables_bytes == 0);
    // The direct map: PDE[boundary] is a PTE table (the first 4 MiB in 4 KiB pages: PTE 1 maps
    // pa 0x1000 with P|RW|A|D|G = 0x163); PDE[boundary + 1] a 4 MiB page at pa 4 MiB
    // (P|RW|A|D|PS|G = 0x1e3); the last lowmem PDE is the last 4 MiB below max_low_pfn.
    const uint32_t pde0 = ram.read_u32(PhysAddr{swapper.value + 4 * c.boundary});
    CHECK((pde0 & 0xfff) == 0x063);
    CHECK(ram.read_u32(PhysAddr{(pde0 & ~0xfffu) + 4}) == 0x1163);
    CHECK(ram.read_u32(PhysAddr{swapper.value + 4 * (c.boundary + 1)}) == 0x4001e3);
    const unsigned last = c.boundary + unsigned(c.max_low_pfn / 1024) - 1;
    CHECK(ram.read_u32(PhysAddr{swapper.value + 4 * last}) ==
          (uint32_t((c.max_low_pfn - 1024) << 12) | 0x1e3));
    // ... and the CPU walks it: a supervisor read of PAGE_OFFSET + 100 MiB reads pa 100 MiB.
    p.b.m.ram().write_u32(PhysAddr{100 * MiB}, 0x5a5a1234);
    CHECK(kernel_read_u32(p, c.page_offset + 100 * MiB) == 0x5a5a1234);
    // mmap_base = PAGE_ALIGN(TASK_SIZE - 128 MiB); no THP alignment on a 32-bit kernel.
    const int64_t a = p.as.vm_mmap(p.t.mm, 0, 8 * MiB, RW, ANON, 0);
    CHECK(a == int64_t(c.page_offset - 128 * MiB - 8 * MiB));
    CHECK(p.b.k.audit({}) == "");
}

TEST_CASE("i386: a process's pages come from highmem, zeroed through kmap_local",
          "[process][i386]") {
    Proc p(machine(Arch::i386, 2 * GiB)); // 3G split: 896 MiB lowmem, 1152 MiB highmem
    const uint64_t high0 = pgalloc(p, zone_type::HIGHMEM);
    const uint64_t kmaps0 = p.as.fault_counts().kmap_local;
    const uint64_t invlpg0 = p.b.m.mmu(0).stats().flushes[size_t(FlushCause::invlpg)];
    const uint64_t a = uint64_t(p.as.vm_mmap(p.t.mm, 0, 8 * MiB, RW, ANON, 0));
    REQUIRE(a == 0xB7800000); // 0xB8000000 - 8 MiB: two 4 MiB PTE tables
    for (uint64_t off = 0; off < 8 * MiB; off += PAGE_SIZE) REQUIRE(p.write(a + off, 0x42).ok());
    // 2048 pages, all from ZONE_HIGHMEM (GFP_HIGHUSER_MOVABLE tries it first), each zeroed
    // through one kmap_local slot and one INVLPG at kunmap_local.
    CHECK(pgalloc(p, zone_type::HIGHMEM) - high0 == 2048);
    CHECK(p.as.fault_counts().kmap_local - kmaps0 == 2048);
    CHECK(p.b.m.mmu(0).stats().flushes[size_t(FlushCause::invlpg)] - invlpg0 == 2048);
    // A 2-level PTE: 4 bytes, pfn << 12 | P|RW|US|A|D (0x067), no NX bit in the format.
    const pteval_t e = p.as.lookup_pte(p.t.mm, a);
    CHECK((e & 0xfff) == 0x067);
    CHECK(e >> 32 == 0);
    CHECK(pte_pfn(e).value >= p.b.k.layout.max_low_pfn);
    CHECK(p.t.mm->pgtables_bytes == 2 * PAGE_SIZE);
    // The user cannot reach the kernel: a CPL 3 read of PAGE_OFFSET is a SIGSEGV.
    uint8_t v = 0;
    CHECK(!p.read(0xC0000000, v).ok());
    REQUIRE(p.t.segv);
    CHECK(p.t.segv->si_code == SEGV_MAPERR);
    p.t.segv.reset();
    // A fork and a write in the child: the COW copy maps both frames (copy_user_highpage).
    int err = 0;
    task_struct* c = p.as.do_fork(&p.t, "child", 0, err);
    REQUIRE(c);
    p.as.set_current(0, c);
    const uint64_t kmaps1 = p.as.fault_counts().kmap_local;
    REQUIRE(p.write(a + 5, 0x99).ok());
    CHECK(p.as.fault_counts().kmap_local - kmaps1 == 2);
    REQUIRE(p.read(a, v).ok()); // the copy holds the parent's byte
    CHECK(v == 0x42);
    REQUIRE(p.read(a + 5, v).ok());
    CHECK(v == 0x99);
    p.as.set_current(0, &p.t);
    REQUIRE(p.read(a, v).ok());
    CHECK(v == 0x42);
    REQUIRE(p.read(a + 5, v).ok()); // the parent's page did not change
    CHECK(v == 0);
    // Every kmap slot is free again: the fixmap PTEs of CPU 0's 16 slots are empty.
    CHECK(p.b.k.audit({}) == "");
}

TEST_CASE("i386: a switch to another mm always flushes (no PCID on 32-bit)",
          "[process][i386][tlb]") {
    Proc p(machine(Arch::i386, 256 * MiB));
    task_struct t2;
    t2.pid = 2;
    t2.mm = p.as.mm_alloc(0);
    REQUIRE(t2.mm);
    const uint64_t flushes = p.as.tlbstate(0).switch_flushes;
    p.as.set_current(0, &t2);
    CHECK(p.b.m.mmu(0).regs().cr3 == t2.mm->pgd.value); // no PCID bits, no no-flush bit
    p.as.set_current(0, &p.t);
    CHECK(p.b.m.mmu(0).regs().cr3 == p.t.mm->pgd.value);
    // x86_64 would find the first mm's ASID still valid and switch back without a flush.
    CHECK(p.as.tlbstate(0).switch_flushes - flushes == 2);
    p.as.set_current(0, nullptr);
    p.as.mmput(t2.mm, 0);
}

TEST_CASE("PAE: four PMDs preallocated, the kernel's copied, a freed PDPTE reloaded by CR3",
          "[process][pae]") {
    Proc p(machine(Arch::pae, 2 * GiB)); // 3G split: PGD slot 3 is the kernel's
    CHECK(p.as.format().kind == PgtableFormat::pae);
    const PhysicalMemory& ram = p.b.m.ram();
    const PhysAddr swapper = p.as.swapper_pg_dir();
    // swapper_pg_dir: only PDPTE 3, holding P alone (the other bits are reserved there).
    CHECK(ram.read_u64(swapper) == 0);
    const uint64_t kpdpte = ram.read_u64(PhysAddr{swapper.value + 24});
    CHECK((kpdpte & 0xfff) == 0x001);
    const PhysAddr kpmd{kpdpte & ~0xfffull};
    // The kernel PMD: the first 2 MiB a PTE table; pa 2 MiB a 2 MiB page, global and NX
    // (0x1e3 | bit 63); pa 16 MiB holds the kernel image, so no NX; 896 MiB of lowmem end at
    // entry 447; the fixmap's PTE table at entry 511.
    CHECK((ram.read_u64(kpmd) & 0xfff) == 0x063);
    CHECK(ram.read_u64(PhysAddr{kpmd.value + 8}) == 0x80000000002001e3ull);
    CHECK(ram.read_u64(PhysAddr{kpmd.value + 8 * 8}) == 0x10001e3ull);
    CHECK(ram.read_u64(PhysAddr{kpmd.value + 8 * 447}) == (0x37e00000ull | 0x80000000000001e3ull));
    CHECK(ram.read_u64(PhysAddr{kpmd.value + 8 * 448}) == 0);
    CHECK((ram.read_u64(PhysAddr{kpmd.value + 8 * 511}) & 0xfff) == 0x063);
    // A new mm: 4 PMDs, each counted (16 KiB of page tables before any mapping), every PDPTE
    // P alone; slot 3 a copy of the kernel PMD in a page of its own.
    mm_struct* mm = p.t.mm;
    CHECK(mm->pgtables_bytes == 4 * PAGE_SIZE);
    PhysAddr pmd[4];
    for (unsigned i = 0; i < 4; i++) {
        const uint64_t e = ram.read_u64(PhysAddr{mm->pgd.value + 8 * i});
        CHECK((e & 0xfff) == 0x001);
        pmd[i] = PhysAddr{e & ~0xfffull};
    }
    CHECK(pmd[3].value != kpmd.value);
    unsigned same = 0;
    for (unsigned j = 0; j < 512; j++)
        same += ram.read_u64(PhysAddr{pmd[3].value + 8 * j}) ==
                ram.read_u64(PhysAddr{kpmd.value + 8 * j});
    CHECK(same == 512);
    // The CPU walks the process's own copy of the kernel half.
    p.b.m.ram().write_u32(PhysAddr{300 * MiB}, 0xcafe0001);
    CHECK(kernel_read_u32(p, 0xC0000000 + 300 * MiB) == 0xcafe0001);
    // 8 MiB in slot 2: four 2 MiB PTE tables; the PTEs carry NX (PAGE_COPY without VM_EXEC).
    const uint64_t a = uint64_t(p.as.vm_mmap(mm, 0, 8 * MiB, RW, ANON, 0));
    REQUIRE(a == 0xB7800000);
    for (uint64_t off = 0; off < 8 * MiB; off += PAGE_SIZE) REQUIRE(p.write(a + off, 7).ok());
    CHECK(mm->pgtables_bytes == 8 * PAGE_SIZE);
    CHECK(p.as.lookup_pte(mm, a) >> 63 == 1);
    CHECK((p.as.lookup_pte(mm, a) & 0xfff) == 0x067);
    // munmap of the only VMA: floor 0 and ceiling 0 take the PTE tables and slot 2's PMD (all
    // of its 1 GiB is in range); its PDPTE is cleared and the flush reloads CR3.
    REQUIRE(p.as.vm_munmap(mm, a, 8 * MiB, 0) == 0);
    CHECK(ram.read_u64(PhysAddr{mm->pgd.value + 16}) == 0);
    CHECK(mm->pgtables_bytes == 3 * PAGE_SIZE);
    // Mapped and written again: a new PMD under PDPTE 2 (pud_populate + flush_tlb_mm), which
    // the CPU sees only after a CR3 reload refreshed its PDPTE registers.
    REQUIRE(p.as.vm_mmap(mm, a, PAGE_SIZE, RW, ANON | MAP_FIXED, 0) == int64_t(a));
    REQUIRE(p.write(a, 9).ok());
    uint8_t v = 0;
    REQUIRE(p.read(a, v).ok());
    CHECK(v == 9);
    CHECK((ram.read_u64(PhysAddr{mm->pgd.value + 16}) & 0xfff) == 0x001);
    CHECK(mm->pgtables_bytes == 5 * PAGE_SIZE);
    CHECK(p.b.k.audit({}) == "");
    // Exit: pgd_free() mops up the four PMDs; every page-table page goes back.
    const uint64_t tables_before_mm = p.as.vmstat().nr_page_table_pages - 6; // PGD, 4 PMDs, PTE
    p.as.set_current(0, nullptr);
    p.as.mmput(mm, 0);
    p.t.mm = nullptr;
    CHECK(p.as.vmstat().nr_page_table_pages == tables_before_mm);
    CHECK(p.b.k.audit({}) == "");
}

TEST_CASE("5-level: LA57 gives a 56-bit TASK_SIZE_MAX, mmap above 47 bits only on a hint",
          "[process][la57]") {
    MachineConfig mc = machine(Arch::x86_64, 1 * GiB);
    mc.la57 = true;
    Proc p(mc);
    CHECK(p.as.format().kind == PgtableFormat::five_level);
    CHECK(p.as.page_offset() == 0xff11000000000000ull);
    CHECK(p.as.task_size() == (uint64_t{1} << 56) - PAGE_SIZE);
    CHECK((p.b.m.mmu(0).regs().cr4 & CR4_LA57) != 0);
    // The direct map through five levels.
    p.b.m.ram().write_u32(PhysAddr{200 * MiB}, 0x12345678);
    CHECK(kernel_read_u32(p, 0xff11000000000000ull + 200 * MiB) == 0x12345678);
    // No hint: below DEFAULT_MAP_WINDOW, at the 4-level mmap_base.
    const int64_t low = p.as.vm_mmap(p.t.mm, 0, PAGE_SIZE, RW, ANON, 0);
    CHECK(low == int64_t(MMAP_BASE - PAGE_SIZE));
    // A hint above 47 bits is honoured; one that straddles the 47-bit window is not.
    const uint64_t hint = uint64_t{1} << 52;
    CHECK(p.as.vm_mmap(p.t.mm, hint, PAGE_SIZE, RW, ANON, 0) == int64_t(hint));
    const int64_t straddle =
        p.as.vm_mmap(p.t.mm, (uint64_t{1} << 47) - PAGE_SIZE, 2 * PAGE_SIZE, RW, ANON, 0);
    CHECK(straddle > 0);
    CHECK(uint64_t(straddle) < (uint64_t{1} << 47));
    // Writes to both: each needs a P4D, PUD, PMD and PTE table (PGD entries 0 and 16).
    REQUIRE(p.write(uint64_t(low), 1).ok());
    REQUIRE(p.write(hint, 2).ok());
    CHECK(p.t.mm->pgtables_bytes == 8 * PAGE_SIZE);
    uint8_t v = 0;
    REQUIRE(p.read(hint, v).ok());
    CHECK(v == 2);
    CHECK(p.b.k.audit({}) == "");
    // Without LA57 the same hint is beyond TASK_SIZE_MAX: the search goes below mmap_base.
    Proc q;
    const int64_t r = q.as.vm_mmap(q.t.mm, hint, PAGE_SIZE, RW, ANON, 0);
    CHECK(r == int64_t(MMAP_BASE - PAGE_SIZE));
}
