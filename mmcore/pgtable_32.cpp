// The 32-bit kernel's boot page tables, 2-level (i386) and 3-level (PAE): swapper_pg_dir with
// the lowmem direct map of kernel_physical_mapping_init() (arch/x86/mm/init_32.c), the fixmap's
// PTE table that kmap_local uses (early_ioremap_page_table_range_init()), the layout constants
// of a 32-bit process (page_32_types.h), and every CPU put in protected mode with paging on it.
// The walk and pgd_alloc are format-independent (pgtable.cpp); kmap_local is in highmem.cpp.
// Facts: docs/dev/i386-pae-facts.md sections 1, 2, 4 and 6.
#include "mmcore/address_spaces.h"
#include "mmcore/bug.h"

namespace mmemu {

namespace {
// The binutils default load address of a non-PIE i386 executable (0x08048000).
constexpr uint64_t ELF_TEXT_START_32 = 0x08048000;
// Where the kernel image starts (CONFIG_PHYSICAL_START).
constexpr uint64_t PHYSICAL_START_32 = uint64_t{16} << 20;
} // namespace

void AddressSpaces::pick_format_32(bool pae) {
    fmt_ = pae ? PgtableFormat::make_pae() : PgtableFormat::make_2level();
    page_offset_ = cfg_.page_offset_32;
}

// paging_init() for a 32-bit kernel. swapper_pg_dir is one page in either format (on PAE its
// first 32 bytes are the 4-entry PDPT); the kernel's own tables (the PAE kernel PMDs, the PTE
// tables of the direct map's unaligned ends and of the fixmap) come from the image's brk area,
// the pages just below swapper_pg_dir, as alloc_low_page() takes them from the brk buffer.
//  - The direct map covers lowmem, [0, max_low_pfn), at PAGE_OFFSET: never highmem.
//  - split_mem_range(): the first PMD_SIZE in 4 KiB pages (the fixed MTRRs), then PMD_SIZE
//    pages (PSE: 4 MiB on 2-level, 2 MiB on PAE) up to the last PMD boundary, then 4 KiB pages.
//  - PAGE_KERNEL / PAGE_KERNEL_LARGE: global, supervisor, NX on PAE (no NX bit on 2-level);
//    the pages holding the kernel image (its text) are the _EXEC variants, without NX.
//  - On PAE, KPMDS = the PGD slots above PAGE_OFFSET (1 for 3G, 2 for 2G, 3 for 1G) get a PMD
//    each at boot (head_32.S's initial_pg_pmd); a process's PGD copies them (pgtable.cpp).
std::string AddressSpaces::paging_init_32(const BootLayout& layout) {
    const bool pae = fmt_.kind == PgtableFormat::pae;
    const uint64_t image_start = PHYSICAL_START_32;
    const uint64_t image_end = image_start + cfg_.kernel_image_bytes;
    PhysAddr next_table{swapper_pg_dir_.value - PAGE_SIZE};
    auto alloc_low_page = [&]() -> std::optional<PhysAddr> {
        if (next_table.value < image_start + 2 * PAGE_SIZE) return std::nullopt;
        const PhysAddr t = next_table;
        ram_.fill(t, 0, PAGE_SIZE);
        next_table = PhysAddr{next_table.value - PAGE_SIZE};
        return t;
    };
    const char* too_small = "the kernel image is too small for the boot page tables";
    if (pae) {
        for (unsigned i = kernel_pgd_boundary_; i < 4; i++) {
            const auto pmd = alloc_low_page();
            if (!pmd) return too_small;
            set_entry(entry_at(swapper_pg_dir_, i), pmd->value | _PAGE_PRESENT);
        }
    }
    // The entry of the PMD level (the PGD on 2-level) for a kernel address, and the PTE table
    // below it, made on first use.
    auto pmd_entry = [&](uint64_t va) {
        PhysAddr table = swapper_pg_dir_;
        if (pae) table = table_of(get_entry(entry_at(swapper_pg_dir_, fmt_.index(va, 0))));
        return entry_at(table, fmt_.index(va, fmt_.pmd_level()));
    };
    auto pte_table = [&](uint64_t va) -> std::optional<PhysAddr> {
        const PhysAddr e = pmd_entry(va);
        pteval_t v = get_entry(e);
        if (!(v & _PAGE_PRESENT)) {
            const auto t = alloc_low_page();
            if (!t) return std::nullopt;
            v = t->value | _KERNPG_TABLE;
            set_entry(e, v);
        }
        return table_of(v);
    };
    const uint64_t pmd_size = fmt_.pmd_size();
    const uint64_t low_end = layout.max_low_pfn * PAGE_SIZE;
    auto prot = [&](uint64_t pa, uint64_t len) {
        const bool text = pa < image_end && pa + len > image_start;
        return fmt_.supported(text ? __PAGE_KERNEL & ~_PAGE_NX : __PAGE_KERNEL);
    };
    const uint64_t big_from = pmd_size, big_to = low_end & ~(pmd_size - 1);
    for (uint64_t pa = 0; pa < low_end;) {
        const uint64_t va = page_offset_ + pa;
        if (pa >= big_from && pa < big_to) {
            set_entry(pmd_entry(va), pa | prot(pa, pmd_size) | _PAGE_PSE);
            pa += pmd_size;
            continue;
        }
        const auto t = pte_table(va);
        if (!t) return too_small;
        set_entry(entry_at(*t, fmt_.index(va, fmt_.pte_level())), pa | prot(pa, PAGE_SIZE));
        pa += PAGE_SIZE;
    }
    // The fixmap's PTE table (its top PMD_SIZE, which holds every kmap_local slot).
    const auto fix = pte_table(FIXADDR_TOP_32);
    if (!fix) return too_small;
    kmap_pte_table_ = *fix;

    task_size_ = page_offset_; // TASK_SIZE = TASK_SIZE_MAX = PAGE_OFFSET
    map_window_ = task_size_;
    stack_top_ = page_offset_; // STACK_TOP = TASK_SIZE
    elf_text_start_ = ELF_TEXT_START_32;

    // Every CPU in protected mode with paging on swapper_pg_dir: CR4.PSE and PGE (and PAE with
    // EFER.NXE on PAE, as head_32.S sets it when the CPU has NX), then CR0.PG with WP. There is
    // no PCID on 32-bit (X86_DISABLED_FEATURE_PCID): every switch to another mm flushes.
    const uint64_t cr4 = CR4_PSE | CR4_PGE | (pae ? CR4_PAE : 0);
    for (unsigned c = 0; c < machine_.nr_cpus(); c++) {
        Mmu& mmu = machine_.mmu(c);
        Fault f = mmu.write_cr4(cr4);
        if (!f.raised() && pae) f = mmu.write_efer(EFER_NXE);
        if (!f.raised()) f = mmu.write_cr3(swapper_pg_dir_.value);
        if (!f.raised()) f = mmu.write_cr0(CR0_PE | CR0_PG | CR0_WP);
        if (f.raised()) return "CPU " + std::to_string(c) + " refused the kernel's paging mode";
        tlbstate_[c].ctxs[0].ctx_id = INIT_MM_CTX_ID;
    }
    pcid_ = false;
    return {};
}

} // namespace mmemu
