// exec's address-space layout (fs/binfmt_elf.c: load_elf_binary, elf_load; fs/exec.c:
// setup_arg_pages), Linux 6.18, for a static non-PIE x86_64 binary with ASLR off. Without a
// page cache the text and data are anonymous memory filled at exec (Linux maps them from the
// file: RssFile there, RssAnon here; docs/model.md says how the numbers differ).
#include <cstring>

#include "mmcore/address_spaces.h"
#include "mmcore/bug.h"

namespace mmemu {

namespace {
constexpr uint64_t ELF_TEXT_START = 0x400000;  // binutils' default for x86_64 non-PIE
constexpr uint64_t STACK_TOP = 0x7ffffffff000; // STACK_TOP = TASK_SIZE_LOW, 4-level
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
        uint8_t* f = ram_.frame(pte_pfn(lookup_pte(mm, a)));
        charge(cpu, &CostModel::copy_page); // the file's bytes copied in
        for (unsigned i = 0; i < PAGE_SIZE; i += 8) {
            const uint64_t v = mix(seed ^ (a + i));
            std::memcpy(f + i, &v, 8);
        }
    }
    return true;
}

int AddressSpaces::exec_layout(task_struct* t, const ExecLayout& l, uint64_t content_seed) {
    mm_struct* mm = t->mm;
    const unsigned cpu = t->cpu;
    node_cpu_ = cpu;
    const unsigned fixed = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
    uint64_t at = ELF_TEXT_START;
    mm->start_code = mm->end_code = at;
    if (l.code) {
        const int64_t r = do_mmap(mm, at, PAGE_ALIGN(l.code), PROT_READ | PROT_EXEC, fixed, cpu);
        if (r < 0) return int(r);
        if (!load_pages(mm, at, at + PAGE_ALIGN(l.code), content_seed, cpu)) return -ENOMEM;
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
        if (!load_pages(mm, at, at + PAGE_ALIGN(l.data), content_seed + 1, cpu)) return -ENOMEM;
    }
    // start_brk = brk = ELF_PAGEALIGN(end of bss), no gap with ASLR off.
    mm->start_brk = mm->brk = at + rw;
    // The stack: create_init_stack_vma() then setup_arg_pages() leave [STACK_TOP - size,
    // STACK_TOP) with VM_STACK_FLAGS; the top page holds argv and envp.
    const uint64_t stack = PAGE_ALIGN(l.stack);
    const int64_t r =
        do_mmap(mm, STACK_TOP - stack, stack, PROT_READ | PROT_WRITE, fixed | MAP_GROWSDOWN, cpu);
    if (r < 0) return int(r);
    if (!load_pages(mm, STACK_TOP - PAGE_SIZE, STACK_TOP, content_seed + 2, cpu)) return -ENOMEM;
    mm->start_stack = STACK_TOP - PAGE_SIZE;
    mm->arg_start = mm->arg_end = mm->env_start = mm->env_end = STACK_TOP - PAGE_SIZE;
    return 0;
}

// do_execve() -> begin_new_exec(): de_thread() kills the other threads of the process;
// exec_mmap() puts a new mm (mm_alloc) in place, loads it on the task's CPU (activate_mm) and
// drops the old one (mmput); then the ELF layout is built in it. A failure after the point of no
// return kills the process (SIGSEGV in Linux).
int AddressSpaces::do_execve(task_struct* t, const ExecLayout& l, uint64_t content_seed) {
    if (!t->is_leader()) throw KernelBug("do_execve: mmemu execs from a process's leader only");
    const unsigned cpu = t->cpu;
    node_cpu_ = cpu;
    mm_struct* mm = mm_alloc(cpu); // bprm_mm_init()
    if (!mm) return -ENOMEM;
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
