// exec's address-space layout (fs/binfmt_elf.c: load_elf_binary, elf_load; fs/exec.c:
// setup_arg_pages), Linux 6.18, for a static non-PIE binary (x86_64 or i386) with ASLR off. Without
// a page cache the text and data are anonymous memory filled at exec (Linux maps them from the
// file: RssFile there, RssAnon here; docs/model.md says how the numbers differ).
#include <cstring>

#include "mmcore/address_spaces.h"
#include "mmcore/bug.h"

namespace mmemu {

namespace {
// splitmix64: the content stream of the loaded pages (deterministic for a seed).
uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
} // namespace

bool AddressSpaces::load_pages(mm_struct* mm, uint64_t start, uint64_t end, uint64_t seed,
                               unsigned cpu) {
    for (uint64_t a = start; a < end; a += PAGE_SIZE) {
        vm_area_struct* vma = find_vma(mm, a);
        if (handle_mm_fault(mm, vma, a, true, cpu) != vm_fault::ok) return false;
        // The file's bytes copied in, through the kernel's mapping of the frame (a kmap_local
        // slot for a highmem frame).
        const Pfn pfn = pte_pfn(lookup_pte(mm, a));
        const uint64_t kaddr = kmap_local_pfn(pfn, cpu);
        uint8_t* f = kmap_bytes(pfn);
        charge(cpu, &CostModel::copy_page);
        for (unsigned i = 0; i < PAGE_SIZE; i += 8) {
            const uint64_t v = mix(seed ^ (a + i));
            std::memcpy(f + i, &v, 8);
        }
        ram_.written(pfn);
        kunmap_local(kaddr, cpu);
    }
    return true;
}

int AddressSpaces::exec_layout(task_struct* t, const ExecLayout& l, uint64_t content_seed) {
    mm_struct* mm = t->mm;
    const unsigned cpu = t->cpu;
    mm_percall::cpu = cpu;
    // The exec runs in the task's context: its memory policy (kept across execve) places the
    // new image's pages and tables.
    const mm_percall::PolicyTaskScope as_task(t);
    // The loader's vm_mmap()s and setup_arg_pages() each take the new mm's mmap_lock for
    // writing; here one hold covers the whole layout.
    const WriteGuard locked(mm->mmap_lock);
    const unsigned fixed = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
    const uint64_t image = l.image_seed ? *l.image_seed : content_seed;
    uint64_t at = elf_text_start_;
    mm->start_code = mm->end_code = at;
    if (l.code) {
        const int64_t r = do_mmap(mm, at, PAGE_ALIGN(l.code), PROT_READ | PROT_EXEC, fixed, cpu);
        if (r < 0) return int(r);
        if (!load_pages(mm, at, at + PAGE_ALIGN(l.code), image, cpu)) return -ENOMEM;
        mm->end_code = at + l.code;
        at += PAGE_ALIGN(l.code);
    }
    // Data and bss: one private writable anonymous VMA here (two VMAs in Linux, where data is
    // a file mapping); the data part loaded, the bss part demand-zero.
    mm->start_data = at;
    mm->end_data = at + l.data;
    const uint64_t rw = PAGE_ALIGN(l.data + l.bss);
    if (rw) {
        const int64_t r = do_mmap(mm, at, rw, PROT_READ | PROT_WRITE, fixed, cpu);
        if (r < 0) return int(r);
        if (!load_pages(mm, at, at + PAGE_ALIGN(l.data), image + 1, cpu)) return -ENOMEM;
    }
    // start_brk = brk = ELF_PAGEALIGN(end of bss), no gap with ASLR off.
    mm->start_brk = mm->brk = at + rw;
    // The stack: create_init_stack_vma() then setup_arg_pages() leave [stack_top_ - size,
    // stack_top_) with VM_STACK_FLAGS; the top page holds argv and envp.
    const uint64_t stack = PAGE_ALIGN(l.stack);
    const int64_t r =
        do_mmap(mm, stack_top_ - stack, stack, PROT_READ | PROT_WRITE, fixed | MAP_GROWSDOWN, cpu);
    if (r < 0) return int(r);
    if (!load_pages(mm, stack_top_ - PAGE_SIZE, stack_top_, content_seed + 2, cpu)) return -ENOMEM;
    mm->start_stack = stack_top_ - PAGE_SIZE;
    mm->arg_start = mm->arg_end = mm->env_start = mm->env_end = stack_top_ - PAGE_SIZE;
    return 0;
}

// do_execve() -> begin_new_exec(): de_thread() kills the other threads of the process;
// exec_mmap() puts a new mm (mm_alloc) in place, loads it on the task's CPU (activate_mm) and
// drops the old one (mmput); then the ELF layout is built in it. A failure after the point of no
// return kills the process (SIGSEGV in Linux).
int AddressSpaces::do_execve(task_struct* t, const ExecLayout& l, uint64_t content_seed) {
    if (!t->is_leader()) throw KernelBug("do_execve: mmemu execs from a process's leader only");
    const unsigned cpu = t->cpu;
    mm_percall::cpu = cpu;
    const mm_percall::PolicyTaskScope as_task(t);
    mm_struct* mm = mm_alloc(cpu); // bprm_mm_init()
    if (!mm) return -ENOMEM;
    // mm_init(): MMF_INIT_MASK carries MMF_VM_MERGE_ANY over from the old mm, and ksm_execve()
    // registers the new one with KSM.
    mm->mmf_vm_merge_any = t->mm->mmf_vm_merge_any;
    if (ksm_ && mm->mmf_vm_merge_any && ksm_->ksm_execve(mm)) {
        mmput(mm, cpu);
        return -ENOMEM;
    }
    for (const auto& o : tasks_)
        if (o.get() != t && o->group_leader == t && !o->exited)
            task_exit(o.get(), "SIGKILL (exec)");
    mm_struct* old = t->mm;
    t->mm = mm;
    for (unsigned c = 0; c < current_.size(); c++)
        if (current_[c] == t) switch_mm(c, mm);
    mmput(old, cpu);
    if (const int e = exec_layout(t, l, content_seed); e) {
        task_exit(t, "SIGSEGV (exec failed after the point of no return)");
        return e;
    }
    return 0;
}

} // namespace mmemu
