// The cycle cost model (documented in docs/cpu-model.md; every value can be overridden from a
// scenario's "costs" section). Defaults: an L1 TLB hit is folded into the load (Intel's
// top-down model charges nothing for it); an STLB hit costs 9 cycles (Mem_STLB_Hit_Cost for
// Skylake in pmu-tools skl_client_ratios.py); each paging-structure entry read costs an
// L1D-hit-like 5 cycles and a paging-structure-cache hit 1; an A/D write-back (a locked update of
// the entry) 20; #PF delivery and return about 1000 (exception entry plus IRET on current
// cores); the flush costs are estimates of the instructions' microcode.
#pragma once

#include <cstdint>

namespace mmemu {

struct CostModel {
    uint32_t l1_tlb_hit = 0;
    uint32_t stlb_hit = 9;
    uint32_t walk_mem_ref = 5;
    uint32_t psc_hit = 1;
    uint32_t ad_writeback = 20;
    uint32_t fault_delivery = 1000;
    uint32_t invlpg = 100;
    uint32_t invpcid = 150;
    uint32_t mov_cr3 = 50; // plus nothing extra for the flush itself
    uint32_t mov_cr4 = 100;
    uint32_t mov_cr0 = 100;
    // The kernel's paths, charged by the emulated kernel to the CPU that runs them (estimates,
    // docs/cpu-model.md): a system call's entry and exit, the software side of a page fault
    // (handle_mm_fault), zeroing and copying a 4 KiB page, a context switch, a TLB-flush IPI
    // sent (and waited for) and received, and one PTE copied by fork.
    uint32_t syscall = 250;
    uint32_t fault_handling = 2000;
    uint32_t clear_page = 400;
    uint32_t copy_page = 800;
    uint32_t context_switch = 2000;
    uint32_t ipi_send = 1000;
    uint32_t ipi_receive = 1500;
    uint32_t pte_copy = 30;
    // ksmd's work (mm/ksm.c), on its own clock (ksm/ksmd.h): a wake-up of the thread (its
    // mutex, the schedule in and out), a page visited by the scan (the rmap_item found or made,
    // the page looked up), a checksum of a page (xxhash of 4 KiB), a comparison of two pages
    // (memcmp, which mostly stops early), and a merge (a PTE write-protected and flushed, and
    // replaced when the page joins a KSM page).
    uint32_t ksm_batch = 2000;
    uint32_t ksm_scan_page = 1000;
    uint32_t ksm_checksum = 1500;
    uint32_t ksm_memcmp = 300;
    uint32_t ksm_merge = 6000;
};

} // namespace mmemu
