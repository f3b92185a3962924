// The 64-bit kernel's boot page tables (4-level, and 5-level when the CPU has LA57): the
// direct map of kernel_physical_mapping_init() (arch/x86/mm/init_64.c) in swapper_pg_dir and
// every CPU put in long mode on it. The walk and pgd_alloc are format-independent
// (pgtable.cpp). Facts: docs/dev/i386-pae-facts.md section 9 (5-level),
// ../shared/reference/linux-process-facts.md section 1 (the layout).
#include "mmcore/address_spaces.h"
#include "mmcore/bug.h"

namespace mmemu {

namespace {
// __PAGE_OFFSET_BASE_L4 / _L5 (page_64_types.h), without KASLR.
constexpr uint64_t PAGE_OFFSET_L4 = 0xffff888000000000ull;
constexpr uint64_t PAGE_OFFSET_L5 = 0xff11000000000000ull;
// DEFAULT_MAP_WINDOW: (1 << 47) - PAGE_SIZE with either format; TASK_SIZE_MAX is
// (1 << __VIRTUAL_MASK_SHIFT) - PAGE_SIZE: 47 bits, or 56 with LA57.
constexpr uint64_t DEFAULT_MAP_WINDOW_64 = (uint64_t{1} << 47) - PAGE_SIZE;
} // namespace

// kernel_physical_mapping_init() with gbpages: PAGE_OFFSET maps all of RAM with 1 GiB pages
// (__PAGE_KERNEL_LARGE: global, supervisor, NX). Its PUD tables, like the kernel's early page
// tables, come from the image's brk area: the pages just below swapper_pg_dir.
std::string AddressSpaces::paging_init_64(const BootLayout& layout) {
    const uint64_t gib = (layout.max_pfn * PAGE_SIZE + PUD_SIZE - 1) / PUD_SIZE;
    const unsigned pud_level = fmt_.levels - 3;
    PhysAddr next_table{swapper_pg_dir_.value - PAGE_SIZE};
    const uint64_t image_start = uint64_t{16} << 20;
    for (uint64_t g = 0; g < gib; g++) {
        const uint64_t la = page_offset_ + (g << 30);
        // The tables above the PUD (a P4D with LA57), from the image's brk area.
        PhysAddr table = swapper_pg_dir_;
        for (unsigned l = 0; l < pud_level; l++) {
            const PhysAddr e = entry_at(table, fmt_.index(la, l));
            pteval_t v = get_entry(e);
            if (!(v & _PAGE_PRESENT)) {
                if (next_table.value < image_start + 2 * PAGE_SIZE)
                    return "the kernel image is too small for the direct map's page tables";
                ram_.fill(next_table, 0, PAGE_SIZE);
                v = next_table.value | _KERNPG_TABLE;
                set_entry(e, v);
                next_table = PhysAddr{next_table.value - PAGE_SIZE};
            }
            table = table_of(v);
        }
        set_entry(entry_at(table, fmt_.index(la, pud_level)), (g << 30) | __PAGE_KERNEL_LARGE);
    }
    task_size_ = fmt_.levels == 5 ? (uint64_t{1} << 56) - PAGE_SIZE : DEFAULT_MAP_WINDOW_64;
    map_window_ = DEFAULT_MAP_WINDOW_64;
    stack_top_ = DEFAULT_MAP_WINDOW_64; // STACK_TOP = TASK_SIZE_LOW
    elf_text_start_ = 0x400000;         // binutils' default for x86_64 non-PIE

    // Every CPU in long mode on swapper_pg_dir: CR4.PAE and PGE (and LA57, which must be set
    // before paging is on), EFER.LME and NXE, then CR0.PG with WP (as secondary_startup_64
    // leaves them); then setup_pcid(): CR4.PCIDE (the CPU model has PCID) unless the kernel
    // was booted with "nopcid" (which clears X86_FEATURE_PCID and keeps CR4.PCIDE from being
    // set: Linux 6.18-stable, commit 44126343d58c "x86/mm: Disable broadcast TLB flush when
    // PCID is disabled"), the boot ASID slot 0 holding init_mm.
    const uint64_t cr4 = CR4_PAE | CR4_PGE | (fmt_.levels == 5 ? CR4_LA57 : 0);
    for (unsigned c = 0; c < machine_.nr_cpus(); c++) {
        Mmu& mmu = machine_.mmu(c);
        Fault f = mmu.write_cr4(cr4);
        if (!f.raised()) f = mmu.write_efer(EFER_LME | EFER_NXE);
        if (!f.raised()) f = mmu.write_cr3(swapper_pg_dir_.value);
        if (!f.raised()) f = mmu.write_cr0(CR0_PE | CR0_PG | CR0_WP);
        if (!f.raised() && !cfg_.nopcid) f = mmu.write_cr4(cr4 | CR4_PCIDE);
        if (f.raised()) return "CPU " + std::to_string(c) + " refused the kernel's paging mode";
        tlbstate_[c].ctxs[0].ctx_id = INIT_MM_CTX_ID;
    }
    pcid_ = !cfg_.nopcid;
    return {};
}

// The format a 64-bit kernel uses: 5-level when the CPU has LA57 (no CONFIG_X86_5LEVEL since
// 6.16: pgtable_l5_enabled() is the CPU feature), else 4-level; PAGE_OFFSET moves with it.
void AddressSpaces::pick_format_64(bool la57) {
    fmt_ = la57 ? PgtableFormat::make_5level() : PgtableFormat::make_4level();
    page_offset_ = la57 ? PAGE_OFFSET_L5 : PAGE_OFFSET_L4;
}

} // namespace mmemu
