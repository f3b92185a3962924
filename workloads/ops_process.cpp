// The process op family: for each op its fields, parse and validation, and what it does, side
// by side. Every access a process makes goes through its CPU at CPL 3 (segmentation off in
// 64-bit mode, the TLBs, the page walk, the kernel's fault handler), so the statistics count
// what the hardware and the kernel did.
#include "workloads/ops_process.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <set>

#include "mmcore/bug.h"
#include "mmcore/kernel.h"
#include "system/system.h"
#include "workloads/results.h"
#include "workloads/shadow_memory.h"

namespace mmemu {

// The errno name of -e ("EINVAL"), or "errno".
const char* errno_name(int64_t e) {
    switch (-e) {
    case EPERM: return "EPERM";
    case EINTR: return "EINTR";
    case ECHILD: return "ECHILD";
    case EFAULT: return "EFAULT";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EEXIST: return "EEXIST";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case EBUSY: return "EBUSY";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    }
    return "errno";
}

namespace {

// A static bound on a region's bytes: PAGE_ALIGN, but saturating instead of wrapping.
uint64_t page_align(uint64_t len) {
    return len > UINT64_MAX - (PAGE_SIZE - 1) ? PAGE_MASK : PAGE_ALIGN(len);
}

// Bounds that keep a scenario's run time finite: one event moves at most 1 TiB, a scenario at
// most 4 TiB (a read of untouched memory costs a zero-page fault per 4 KiB).
constexpr uint64_t MAX_EVENT_BYTES = uint64_t{1} << 40;
constexpr uint64_t MAX_SCENARIO_BYTES = uint64_t{4} << 40;
constexpr size_t MAX_PROCESSES = 1 << 16;

// The image sizes of spawn and exec.
const FieldSpec F_CODE{"code",
                       FieldKind::size,
                       false,
                       0,
                       0,
                       {},
                       "text bytes at 0x400000 (0x08048000 on i386 and PAE), loaded (default 0)"};
const FieldSpec F_DATA{
    "data", FieldKind::size, false, 0, 0, {}, "data bytes after the text, loaded"};
const FieldSpec F_BSS{
    "bss", FieldKind::size, false, 0, 0, {}, "bss bytes after the data, demand-zero"};
const FieldSpec F_STACK{
    "stack", FieldKind::size, false, 0, 0, {}, "stack bytes below STACK_TOP (132 KiB)"};
const FieldSpec F_IMAGE{"image",
                        FieldKind::string,
                        false,
                        0,
                        0,
                        {},
                        "a name: the same text and data bytes wherever it is used (default: "
                        "the process's own)"};
const FieldSpec F_PROCESS{"process", FieldKind::string, true, 0, 0, {}, "the process's name"};
const FieldSpec F_REGION{"region", FieldKind::string, true, 0, 0, {}, "a region's name"};
const FieldSpec F_KEY{"key",
                      FieldKind::string,
                      false,
                      0,
                      0,
                      {},
                      "every page the key's page (identical wherever the key is used)"};
const FieldSpec F_BELOW{"below",
                        FieldKind::size,
                        false,
                        0,
                        0,
                        {},
                        "start this many bytes under the region (a stack growing down)"};
const FieldSpec F_DISTINCT{"distinct",
                           FieldKind::integer,
                           false,
                           1,
                           int64_t{1} << 40,
                           {},
                           "with key: page n holds variant n mod distinct"};
const FieldSpec F_OFFSET{"offset", FieldKind::size, false, 0, 0, {}, "from the region's start"};
const FieldSpec F_LENGTH{
    "length", FieldKind::size, false, 0, 0, {}, "bytes (default: to the region's end)"};

ProcessNames& names(OpParser& p) {
    if (!p.state.process_names) p.state.process_names = std::make_shared<ProcessNames>();
    return *p.state.process_names;
}

// A machine a kernel can run processes on: a 32-bit kernel has NR_CPUS of at most 8
// (arch/x86/Kconfig), so it cannot bring up more CPUs.
bool processes_supported(OpParser& p) {
    const MachineConfig& m = *p.state.machine;
    if (!arch_is_32bit(m.arch) || m.nr_cpus <= 8) return true;
    p.error("op", "processes on an i386 or PAE machine need at most 8 CPUs (a 32-bit kernel's "
                  "NR_CPUS is at most 8), this machine has " +
                      std::to_string(m.nr_cpus));
    return false;
}

// A process named by an earlier spawn that has not exited.
std::optional<uint32_t> process_ref(OpParser& p) {
    auto name = p.string("process", std::nullopt);
    if (!name) return std::nullopt;
    ProcessNames& n = names(p);
    auto it = n.procs.find(*name);
    if (it == n.procs.end()) {
        p.error("process", "expected a process spawned by an earlier event, got \"" + *name + "\"");
        return std::nullopt;
    }
    if (it->second.exited) {
        p.error("process", "process \"" + *name + "\" exited at event " +
                               std::to_string(it->second.exit_event));
        return std::nullopt;
    }
    p.run_cpu = n.cpu_of[it->second.slot];
    return it->second.slot;
}

std::optional<uint32_t> region_ref(OpParser& p, uint32_t proc, const char* field = "region") {
    auto name = p.string(field, std::nullopt);
    if (!name) return std::nullopt;
    ProcessNames& n = names(p);
    proc = n.owner[proc];
    auto it = n.regions.find({proc, *name});
    if (it == n.regions.end()) {
        p.error(field, "expected a region of process \"" + n.proc_names[proc] +
                           "\" (an earlier mmap's, or code, data, stack from spawn), got \"" +
                           *name + "\"");
        return std::nullopt;
    }
    return it->second;
}

// The region names of a process slot go (the map is ordered by slot, then name).
void forget_regions(ProcessNames& n, uint32_t slot) {
    n.regions.erase(n.regions.lower_bound({slot, std::string()}),
                    n.regions.lower_bound({slot + 1, std::string()}));
}

// The slot of a process name starting now (a name used before, and exited, keeps its slot).
uint32_t new_process(OpParser& p, ProcessNames& n, const std::string& name, uint16_t cpu) {
    auto it = n.procs.find(name);
    uint32_t slot = 0;
    if (it != n.procs.end()) {
        slot = it->second.slot;
    } else if (n.proc_names.size() >= MAX_PROCESSES) {
        p.error("op", "expected at most " + std::to_string(MAX_PROCESSES) + " process names");
    } else {
        n.proc_names.push_back(name);
        slot = uint32_t(n.proc_names.size() - 1);
    }
    n.procs[name] = {slot, false, 0};
    if (n.owner.size() <= slot) n.owner.resize(slot + 1);
    n.owner[slot] = slot;
    if (n.cpu_of.size() <= slot) n.cpu_of.resize(slot + 1);
    n.cpu_of[slot] = cpu;
    // A name used again is a new process: the regions of the one before are not its own.
    forget_regions(n, slot);
    return slot;
}

// A region name of a process (a name mapped again points to the new mapping); `len` bounds the
// bytes an event without a length may move there (the largest mapping the name ever had).
uint32_t define_region(ProcessNames& n, uint32_t proc, const std::string& name, uint64_t len) {
    proc = n.owner[proc];
    uint32_t slot = 0;
    if (auto it = n.regions.find({proc, name}); it != n.regions.end()) {
        slot = it->second;
    } else {
        n.region_names.push_back(name);
        n.region_len.push_back(0);
        slot = uint32_t(n.region_names.size() - 1);
        n.regions[{proc, name}] = slot;
    }
    n.region_len[slot] = std::max(n.region_len[slot], len);
    return slot;
}

// "A|B" flag names of one table; 0 for "0" or "PROT_NONE".
unsigned parse_flag_names(OpParser& p, const char* field, const char* dflt,
                          std::initializer_list<std::pair<const char*, unsigned>> table,
                          const std::vector<std::pair<const char*, const char*>>& refused) {
    const std::string s = p.string(field, std::string(dflt)).value_or(dflt);
    unsigned flags = 0;
    std::string cur;
    for (char c : s + "|") {
        if (c == ' ') continue;
        if (c != '|') {
            cur += c;
            continue;
        }
        bool known = cur == "0";
        for (const auto& [name, bit] : table)
            if (cur == name) flags |= bit, known = true;
        for (const auto& [name, why] : refused)
            if (cur == name) {
                p.error(field, std::string(name) + " " + why);
                known = true;
            }
        if (!known) {
            std::string all;
            for (const auto& [name, bit] : table)
                all += std::string(all.empty() ? "" : ", ") + name;
            p.error(field, "unknown flag '" + cur + "' (expected " + all + ")");
        }
        cur.clear();
    }
    return flags;
}

AddressSpaces& spaces(RunContext& cx) {
    return cx.sys.kernel().spaces;
}
const std::string& proc_name(RunContext& cx, uint32_t slot) {
    return cx.procs->names->proc_names[slot];
}

// The CPU runs the process's own code for one access; in the concurrent mode a thread waiting
// for this CPU (ksmd shares CPU 0) may have it first (cond_resched()).
template <class Access> MemoryAccess in_user_mode(RunContext& cx, unsigned cpu, Access&& access) {
    cx.sys.kernel().machine.smp().cond_resched(cpu);
    return access();
}

// The shadow memory's verdict on an access the CPU completed: a difference from its prediction
// is a bug in mmemu (exit 70).
void shadow_verdict(RunContext& cx, const Op& op, uint32_t slot, const std::string& e) {
    if (!e.empty())
        throw KernelBug("invariant check failed at event " + std::to_string(op.event) + " (" +
                        op.name() + " by process \"" + proc_name(cx, slot) + "\"): " + e);
}

// spawn / exec: the shadow memory starts from the image as loaded.
void shadow_new_image(RunContext& cx, const mm_struct* mm) {
    if (cx.shadow && mm) cx.shadow->new_image(mm, spaces(cx), cx.sys.machine().ram());
}

// The live task of a process slot, or nullptr with the event recorded as skipped (ESRCH): the
// process was killed earlier in the run, or never created (its spawn or fork failed).
// (In the concurrent mode a process whose group exit waits for the barrier is dying: its tasks
// run no more events, as if it had exited.)
task_struct* live_task(RunContext& cx, const Op& op, uint32_t slot) {
    task_struct* t = cx.procs->tasks[slot];
    if (t && !t->exited && !AddressSpaces::group_exiting(t)) return t;
    const std::string why = !t          ? std::string()
                            : t->exited ? t->exit_reason
                                        : t->group_leader->group_exit_reason;
    cx.results.process_failure(op.event, op.name(), proc_name(cx, slot),
                               t ? "ESRCH: the process was killed (" + why + ")"
                                 : std::string("ESRCH: the process was never created (its "
                                               "spawn or fork failed or did not run)"));
    return nullptr;
}

// The process's exit after the fatal signal that claimed it: at once, or, on a CPU's thread in
// the concurrent mode, at the next barrier (tasks exit only while every CPU is idle there: no
// other CPU's OOM killer, rmap walk or thread of the process meets a task or mm going away).
void group_exit(RunContext& cx, task_struct* t) {
    AddressSpaces& as = spaces(cx);
    if (cx.on_cpu >= 0)
        as.defer_group_exit(t);
    else
        as.do_group_exit(t, t->group_leader->group_exit_reason);
}

// The SIGKILL of a task that has one pending (the OOM killer's, or a fault that found no
// memory): the process dies, its memory returns, and the signal is a result.
void deliver_sigkill(RunContext& cx, uint32_t event, task_struct* t) {
    if (!spaces(cx).claim_group_exit(t, t->oom_victim ? "SIGKILL (the OOM killer)"
                                                      : "SIGKILL (out of memory)"))
        return; // the process is exiting already
    SignalRecord r;
    r.event = event;
    r.process = t->comm;
    r.pid = t->pid;
    r.signal = "SIGKILL";
    r.reason = t->kill_reason;
    cx.results.signals.push_back(r);
    group_exit(cx, t);
}

// A process whose access failed: the kernel delivered SIGSEGV (or SIGKILL for memory it could
// not get); the process dies, its memory returns, and the signal is a result.
void deliver_fatal(RunContext& cx, const Op& op, uint32_t slot, task_struct* t,
                   const MemoryAccess& a) {
    if (t->sigkill_pending) return deliver_sigkill(cx, op.event, t);
    SignalRecord r;
    r.event = op.event;
    r.process = proc_name(cx, slot);
    r.pid = t->pid;
    r.signal = t->segv && t->segv->sigbus ? "SIGBUS" : "SIGSEGV";
    if (t->segv && t->segv->sigbus) {
        r.si_code = "BUS_ADRERR";
        r.addr = t->segv->addr;
        r.error_code = t->segv->error_code;
        r.reason = t->segv->reason;
    } else if (t->segv) {
        r.si_code = t->segv->si_code == SEGV_MAPERR ? "SEGV_MAPERR" : "SEGV_ACCERR";
        r.addr = t->segv->addr;
        r.error_code = t->segv->error_code;
        r.reason = t->segv->reason;
    } else {
        // Not a page fault (a #GP for a non-canonical address): do_general_protection() sends
        // SIGSEGV with si_code SI_KERNEL and no address.
        r.si_code = "SI_KERNEL";
        r.error_code = a.fault.error_code;
        r.reason = fault_message(a.fault);
    }
    // A fatal signal ends the whole process, unless it is exiting already.
    if (!spaces(cx).claim_group_exit(t, r.signal)) return;
    cx.results.signals.push_back(r);
    group_exit(cx, t);
}

unsigned parse_prot(OpParser& p, const char* dflt);

// ---- spawn / exit --------------------------------------------------------------------------

// The code, data and stack regions exec defines (their slots), and where they are once the
// image is loaded.
std::vector<uint32_t> exec_regions(ProcessNames& n, uint32_t slot,
                                   const AddressSpaces::ExecLayout& l) {
    std::vector<uint32_t> slots;
    const uint64_t lens[] = {l.code, l.data + l.bss, l.stack};
    for (int i = 0; i < 3; i++)
        slots.push_back(
            define_region(n, slot, std::array{"code", "data", "stack"}[i], page_align(lens[i])));
    return slots;
}

void set_exec_regions(RunContext& cx, const mm_struct* mm, const AddressSpaces::ExecLayout& l,
                      const std::vector<uint32_t>& slots) {
    auto& r = cx.procs->regions;
    r[slots[0]] = {mm->start_code, mm->start_data - mm->start_code, l.code != 0};
    r[slots[1]] = {mm->start_data, mm->start_brk - mm->start_data, mm->start_brk != mm->start_data};
    // The stack VMA ends at STACK_TOP; its top page (start_stack's) holds argv and envp.
    const uint64_t stack = PAGE_ALIGN(l.stack), top = mm->start_stack + PAGE_SIZE;
    r[slots[2]] = {top - stack, stack, true};
}

uint64_t mix(uint64_t x);
uint64_t name_hash(const std::string& s);

// The image sizes of spawn and exec, and the image's name: processes of one image load the
// same text and data bytes (a function of the name and the scenario's seed).
AddressSpaces::ExecLayout parse_layout(OpParser& p) {
    AddressSpaces::ExecLayout l;
    if (p.has("image"))
        if (auto img = p.string("image", std::nullopt))
            l.image_seed = mix(name_hash(*img) ^ mix(p.state.seed ^ 0x1a3e));
    auto sz = [&](const char* f, uint64_t dflt, uint64_t max) {
        const uint64_t v = p.size(f, dflt).value_or(dflt);
        if (v > max)
            p.error(f, "expected at most " + std::to_string(max >> 20) + " MiB, got " +
                           std::to_string(v) + " bytes");
        return v;
    };
    l.code = sz("code", 0, uint64_t{1} << 30);
    l.data = sz("data", 0, uint64_t{1} << 30);
    l.bss = sz("bss", 0, uint64_t{1} << 30);
    l.stack = sz("stack", 132 * 1024, uint64_t{8} << 20);
    if (l.stack < PAGE_SIZE) p.error("stack", "expected at least one page (4096 bytes)");
    return l;
}

struct Spawn final : Op {
    uint32_t slot = 0;
    uint16_t cpu = 0;
    int16_t oom_score_adj = 0;
    AddressSpaces::ExecLayout layout;
    std::vector<uint32_t> region_slots; // code, data, stack
    const char* name() const override { return "spawn"; }
    void run(RunContext& cx) const override {
        AddressSpaces& as = spaces(cx);
        task_struct* t = as.task_create(proc_name(cx, slot), cpu);
        if (!t) {
            cx.results.process_failure(event, name(), proc_name(cx, slot),
                                       "fork: ENOMEM (no memory for the task or its mm)");
            return;
        }
        cx.procs->tasks[slot] = t;
        t->oom_score_adj = oom_score_adj;
        if (const int e = as.exec_layout(t, layout, uint64_t(t->pid) << 32); e) {
            cx.results.process_failure(event, name(), proc_name(cx, slot),
                                       std::string("exec: ") + errno_name(e));
            as.task_exit(t, "exec failed");
            return;
        }
        set_exec_regions(cx, t->mm, layout, region_slots);
        shadow_new_image(cx, t->mm);
    }
};

std::unique_ptr<Op> parse_spawn(OpParser& p) {
    auto op = std::make_unique<Spawn>();
    processes_supported(p);
    ProcessNames& n = names(p);
    auto name = p.string("process", std::nullopt);
    op->cpu = p.cpu();
    op->oom_score_adj = int16_t(p.integer("oom_score_adj", 0).value_or(0));
    op->layout = parse_layout(p);
    if (!name) return op;
    auto it = n.procs.find(*name);
    if (it != n.procs.end() && !it->second.exited) {
        p.error("process", "process \"" + *name +
                               "\" is already running (spawned at an earlier "
                               "event); exit it first or use another name");
        return op;
    }
    const uint32_t slot = new_process(p, n, *name, op->cpu);
    op->slot = slot;
    op->region_slots = exec_regions(n, slot, op->layout);
    return op;
}

struct Fork final : Op {
    uint32_t parent = 0, child = 0;
    std::optional<uint16_t> cpu;
    std::vector<std::pair<uint32_t, uint32_t>> regions; // (parent's slot, child's slot)
    const char* name() const override { return "fork"; }
    void run(RunContext& cx) const override {
        task_struct* t = live_task(cx, *this, parent);
        if (!t) return;
        AddressSpaces& as = spaces(cx);
        as.set_current(t->cpu, t);
        as.charge(t->cpu, &CostModel::syscall);
        int err = 0;
        task_struct* c = as.do_fork(t, proc_name(cx, child), cpu.value_or(uint16_t(t->cpu)), err);
        if (!c) {
            cx.results.process_failure(event, name(), proc_name(cx, parent),
                                       std::string("fork: ") + errno_name(err));
            return;
        }
        cx.procs->tasks[child] = c;
        if (cx.shadow) cx.shadow->fork(t->mm, c->mm);
        for (const auto& [from, to] : regions) cx.procs->regions[to] = cx.procs->regions[from];
    }
};

std::unique_ptr<Op> parse_fork(OpParser& p) {
    auto op = std::make_unique<Fork>();
    ProcessNames& n = names(p);
    auto parent = process_ref(p);
    if (p.has("cpu")) op->cpu = p.cpu();
    auto name = p.string("child", std::nullopt);
    if (!parent || !name) return op;
    op->parent = *parent;
    if (auto it = n.procs.find(*name); it != n.procs.end() && !it->second.exited) {
        p.error("child", "process \"" + *name +
                             "\" is already running; exit it first or use "
                             "another name");
        return op;
    }
    op->child = new_process(p, n, *name, op->cpu.value_or(n.cpu_of[*parent]));
    // The child's regions are the parent's, at the same addresses.
    std::vector<std::pair<std::string, uint32_t>> mine;
    const uint32_t owner = n.owner[*parent];
    for (auto it = n.regions.lower_bound({owner, std::string()});
         it != n.regions.end() && it->first.first == owner; ++it)
        mine.emplace_back(it->first.second, it->second);
    for (const auto& [rname, slot] : mine)
        op->regions.emplace_back(slot, define_region(n, op->child, rname, n.region_len[slot]));
    return op;
}

// The process names a static exit ends: a thread alone, or a process with all its threads.
void mark_exited(ProcessNames& n, uint32_t slot, uint32_t event, bool with_threads) {
    for (auto& [pname, proc] : n.procs) {
        if (proc.exited) continue;
        if (proc.slot == slot || (with_threads && n.owner[proc.slot] == slot)) {
            proc.exited = true;
            proc.exit_event = event;
        }
    }
}

struct Exit final : Op {
    uint32_t slot = 0;
    const char* name() const override { return "exit"; }
    void run(RunContext& cx) const override {
        if (task_struct* t = live_task(cx, *this, slot)) {
            spaces(cx).set_current(t->cpu, t);
            spaces(cx).charge(t->cpu, &CostModel::syscall);
            spaces(cx).task_exit(t, "exit");
        }
    }
};

std::unique_ptr<Op> parse_exit(OpParser& p) {
    auto op = std::make_unique<Exit>();
    if (auto s = process_ref(p)) {
        op->slot = *s;
        ProcessNames& n = names(p);
        mark_exited(n, *s, p.index, n.owner[*s] == *s);
    }
    return op;
}

// ---- clone_thread / exec / wait -----------------------------------------------------------

struct CloneThread final : Op {
    uint32_t parent = 0, thread = 0;
    std::optional<uint16_t> cpu;
    const char* name() const override { return "clone_thread"; }
    void run(RunContext& cx) const override {
        task_struct* t = live_task(cx, *this, parent);
        if (!t) return;
        spaces(cx).set_current(t->cpu, t);
        spaces(cx).charge(t->cpu, &CostModel::syscall);
        int err = 0;
        task_struct* c =
            spaces(cx).clone_thread(t, proc_name(cx, thread), cpu.value_or(uint16_t(t->cpu)), err);
        if (!c) {
            cx.results.process_failure(event, name(), proc_name(cx, parent),
                                       std::string("clone: ") + errno_name(err));
            return;
        }
        cx.procs->tasks[thread] = c;
    }
};

std::unique_ptr<Op> parse_clone_thread(OpParser& p) {
    auto op = std::make_unique<CloneThread>();
    ProcessNames& n = names(p);
    auto parent = process_ref(p);
    if (p.has("cpu")) op->cpu = p.cpu();
    auto name = p.string("thread", std::nullopt);
    if (!parent || !name) return op;
    op->parent = *parent;
    if (auto it = n.procs.find(*name); it != n.procs.end() && !it->second.exited) {
        p.error("thread", "\"" + *name + "\" is already running; use another name");
        return op;
    }
    const uint32_t owner = n.owner[*parent];
    op->thread = new_process(p, n, *name, op->cpu.value_or(n.cpu_of[*parent]));
    n.owner[op->thread] = owner;
    return op;
}

struct Wait final : Op {
    uint32_t parent = 0;
    std::optional<uint32_t> child;
    const char* name() const override { return "wait"; }
    void run(RunContext& cx) const override {
        task_struct* t = live_task(cx, *this, parent);
        if (!t) return;
        spaces(cx).set_current(t->cpu, t);
        spaces(cx).charge(t->cpu, &CostModel::syscall);
        task_struct* c = child ? cx.procs->tasks[*child] : nullptr;
        if (child && !c) {
            cx.results.process_failure(event, name(), proc_name(cx, parent),
                                       "wait: ECHILD (the child was never created)");
            return;
        }
        const int r = spaces(cx).do_wait(t, c);
        if (r < 0)
            cx.results.process_failure(event, name(), proc_name(cx, parent),
                                       std::string("wait: ") + errno_name(r));
        else if (r == 0)
            cx.results.process_failure(event, name(), proc_name(cx, parent),
                                       "wait: 0 (WNOHANG: no child has exited yet)");
    }
};

std::unique_ptr<Op> parse_wait(OpParser& p) {
    auto op = std::make_unique<Wait>();
    ProcessNames& n = names(p);
    if (auto s = process_ref(p)) op->parent = *s;
    if (p.has("child")) {
        if (auto c = p.string("child", std::nullopt)) {
            auto it = n.procs.find(*c);
            if (it == n.procs.end())
                p.error("child",
                        "expected a process forked by an earlier event, got \"" + *c + "\"");
            else
                op->child = it->second.slot;
        }
    }
    return op;
}

struct Exec final : Op {
    uint32_t slot = 0;
    AddressSpaces::ExecLayout layout;
    std::vector<uint32_t> region_slots; // code, data, stack
    const char* name() const override { return "exec"; }
    void run(RunContext& cx) const override;
};

void Exec::run(RunContext& cx) const {
    task_struct* t = live_task(cx, *this, slot);
    if (!t) return;
    AddressSpaces& as = spaces(cx);
    as.set_current(t->cpu, t);
    as.charge(t->cpu, &CostModel::syscall);
    const mm_struct* old = t->mm;
    const int e = as.do_execve(t, layout, uint64_t(t->pid) << 32 | 0x8000);
    if (t->mm != old) shadow_new_image(cx, t->mm); // past the point of no return
    if (e) {
        cx.results.process_failure(event, name(), proc_name(cx, slot),
                                   std::string("exec: ") + errno_name(e));
        return;
    }
    set_exec_regions(cx, t->mm, layout, region_slots);
}

std::unique_ptr<Op> parse_exec(OpParser& p) {
    auto op = std::make_unique<Exec>();
    processes_supported(p);
    ProcessNames& n = names(p);
    auto s = process_ref(p);
    op->layout = parse_layout(p);
    if (!s) return op;
    op->slot = *s;
    if (n.owner[*s] != *s) {
        p.error("process", "exec from a thread is not modelled: exec in the process (\"" +
                               n.proc_names[n.owner[*s]] + "\"), which ends its threads");
        return op;
    }
    mark_exited(n, *s, p.index, true);        // de_thread(): the threads die...
    n.procs[n.proc_names[*s]].exited = false; // ...the process goes on, with new regions
    forget_regions(n, *s);
    op->region_slots = exec_regions(n, *s, op->layout);
    return op;
}

// ---- mmap / munmap ------------------------------------------------------------------------

struct Mmap final : Op {
    bool runs_on_its_cpu() const override { return true; }
    uint32_t slot = 0, region = 0;
    uint64_t addr = 0, length = 0;
    unsigned prot = 0, flags = 0;
    const char* name() const override { return "mmap"; }
    void run(RunContext& cx) const override {
        task_struct* t = live_task(cx, *this, slot);
        if (!t) return;
        AddressSpaces& as = spaces(cx);
        as.set_current(t->cpu, t);
        as.charge(t->cpu, &CostModel::syscall);
        const int64_t r = as.vm_mmap(t->mm, addr, length, prot, flags, t->cpu);
        auto& reg = cx.procs->regions[region];
        if (r < 0) {
            reg.mapped = false;
            cx.results.process_failure(event, name(), proc_name(cx, slot),
                                       std::string("mmap: ") + errno_name(r));
            // MAP_FIXED unmaps what was there before it can fail.
            if (cx.shadow && (flags & MAP_FIXED) && !(flags & MAP_FIXED_NOREPLACE))
                cx.shadow->unknown(t->mm, addr, length);
            return;
        }
        reg = {uint64_t(r), PAGE_ALIGN(length), true};
        if (cx.shadow)
            cx.shadow->mmap(t->mm, uint64_t(r), PAGE_ALIGN(length), flags & MAP_SHARED,
                            flags & MAP_GROWSDOWN);
    }
};

std::unique_ptr<Op> parse_mmap(OpParser& p) {
    auto op = std::make_unique<Mmap>();
    processes_supported(p);
    auto proc = process_ref(p);
    auto rname = p.string("region", std::nullopt);
    op->length = p.size("length", std::nullopt).value_or(0);
    op->addr = p.number("addr", 0).value_or(0);
    op->prot = parse_prot(p, "PROT_READ|PROT_WRITE");
    op->flags = parse_flag_names(p, "flags", "MAP_PRIVATE|MAP_ANONYMOUS",
                                 {{"MAP_PRIVATE", MAP_PRIVATE},
                                  {"MAP_SHARED", MAP_SHARED},
                                  {"MAP_ANONYMOUS", MAP_ANONYMOUS},
                                  {"MAP_FIXED", MAP_FIXED},
                                  {"MAP_FIXED_NOREPLACE", MAP_FIXED_NOREPLACE},
                                  {"MAP_POPULATE", MAP_POPULATE},
                                  {"MAP_NORESERVE", MAP_NORESERVE},
                                  {"MAP_LOCKED", MAP_LOCKED},
                                  {"MAP_GROWSDOWN", MAP_GROWSDOWN}},
                                 {});
    if (!(op->flags & MAP_ANONYMOUS))
        p.error("flags", "expected MAP_ANONYMOUS (there is no page cache: file mappings are not "
                         "built)");
    const unsigned type = op->flags & (MAP_PRIVATE | MAP_SHARED);
    if (type != MAP_PRIVATE && type != MAP_SHARED)
        p.error("flags", "expected one of MAP_PRIVATE and MAP_SHARED");
    if (!proc || !rname) return op;
    op->slot = *proc;
    op->region = define_region(names(p), *proc, *rname, page_align(op->length));
    return op;
}

// An op on part of a region: [offset, offset + length) of it (by default to its end).
struct RegionOp : Op {
    bool runs_on_its_cpu() const override { return true; }
    uint32_t slot = 0, region = 0;
    uint64_t offset = 0;
    uint64_t below = 0; // accesses: the range starts this many bytes under the region
    std::optional<uint64_t> length;
    struct Target {
        task_struct* t;
        uint64_t addr, len;
    };
    // The live task, made current on its CPU, and the range; nullopt with the event recorded
    // as skipped when the process is gone or the region's mmap failed. A system call's entry
    // and exit are charged to the CPU unless `syscall` is false (plain memory accesses).
    std::optional<Target> target(RunContext& cx, bool syscall = true) const {
        task_struct* t = live_task(cx, *this, slot);
        if (!t) return std::nullopt;
        const auto& reg = cx.procs->regions[region];
        if (!reg.mapped) {
            cx.results.process_failure(event, name(), proc_name(cx, slot),
                                       "the region was never mapped (its mmap failed)");
            return std::nullopt;
        }
        spaces(cx).set_current(t->cpu, t);
        if (syscall) spaces(cx).charge(t->cpu, &CostModel::syscall);
        return Target{t, reg.addr + offset - below,
                      length.value_or((reg.len > offset ? reg.len - offset : 0) + below)};
    }
};

// process, region, offset and length of a RegionOp; false if the process is not a live one.
bool parse_range(OpParser& p, RegionOp& op) {
    const auto proc = process_ref(p);
    if (proc) {
        op.slot = *proc;
        if (auto r = region_ref(p, *proc)) op.region = *r;
    }
    op.offset = p.size("offset", 0).value_or(0);
    if (p.has("length")) op.length = p.size("length", std::nullopt);
    return proc.has_value();
}

struct Munmap final : RegionOp {
    const char* name() const override { return "munmap"; }
    void run(RunContext& cx) const override {
        const auto g = target(cx);
        if (!g) return;
        task_struct* t = g->t;
        AddressSpaces& as = spaces(cx);
        if (const int e = as.vm_munmap(t->mm, g->addr, g->len, t->cpu); e)
            cx.results.process_failure(event, name(), proc_name(cx, slot),
                                       std::string("munmap: ") + errno_name(e));
        else if (cx.shadow)
            cx.shadow->munmap(t->mm, g->addr, g->len);
    }
};

std::unique_ptr<Op> parse_munmap(OpParser& p) {
    auto op = std::make_unique<Munmap>();
    parse_range(p, *op);
    return op;
}

struct Brk final : Op {
    bool runs_on_its_cpu() const override { return true; }
    uint32_t slot = 0, region = 0;
    uint64_t size = 0;
    const char* name() const override { return "brk"; }
    void run(RunContext& cx) const override {
        task_struct* t = live_task(cx, *this, slot);
        if (!t) return;
        AddressSpaces& as = spaces(cx);
        as.set_current(t->cpu, t);
        as.charge(t->cpu, &CostModel::syscall);
        mm_struct* mm = t->mm;
        const uint64_t old_end = PAGE_ALIGN(mm->brk);
        const uint64_t want = mm->start_brk + size;
        const uint64_t got = want < mm->start_brk ? mm->brk : as.sys_brk(mm, want, t->cpu);
        if (got != want)
            cx.results.process_failure(event, name(), proc_name(cx, slot),
                                       "brk: refused, the break stays at " + hex(got));
        const uint64_t end = PAGE_ALIGN(mm->brk);
        if (cx.shadow) cx.shadow->brk(mm, old_end, end);
        cx.procs->regions[region] = {mm->start_brk, end - mm->start_brk, end > mm->start_brk};
    }
};

std::unique_ptr<Op> parse_brk(OpParser& p) {
    auto op = std::make_unique<Brk>();
    op->size = p.size("size", std::nullopt).value_or(0);
    if (auto proc = process_ref(p)) {
        op->slot = *proc;
        op->region = define_region(names(p), *proc, "brk", page_align(op->size));
    }
    return op;
}

constexpr const char* ADVICE_NAMES[] = {"MADV_DONTNEED", "MADV_WILLNEED",   "MADV_DONTFORK",
                                        "MADV_DOFORK",   "MADV_WIPEONFORK", "MADV_KEEPONFORK",
                                        "MADV_FREE",     "MADV_MERGEABLE",  "MADV_UNMERGEABLE"};
constexpr int ADVICE_VALUES[] = {MADV_DONTNEED, MADV_WILLNEED,   MADV_DONTFORK,
                                 MADV_DOFORK,   MADV_WIPEONFORK, MADV_KEEPONFORK,
                                 MADV_FREE,     MADV_MERGEABLE,  MADV_UNMERGEABLE};

struct Madvise final : RegionOp {
    unsigned advice = 0; // index in ADVICE_NAMES
    const char* name() const override { return "madvise"; }
    void run(RunContext& cx) const override {
        const auto g = target(cx);
        if (!g) return;
        task_struct* t = g->t;
        AddressSpaces& as = spaces(cx);
        const int e = as.do_madvise(t->mm, g->addr, g->len, ADVICE_VALUES[advice], t->cpu);
        if (e)
            cx.results.process_failure(event, name(), proc_name(cx, slot),
                                       std::string("madvise(") + ADVICE_NAMES[advice] +
                                           "): " + errno_name(e));
        if (cx.shadow) cx.shadow->madvise(t->mm, g->addr, g->len, ADVICE_VALUES[advice], e);
    }
};

std::unique_ptr<Op> parse_madvise(OpParser& p) {
    auto op = std::make_unique<Madvise>();
    parse_range(p, *op);
    op->advice = p.choice("advice", std::nullopt).value_or(0);
    return op;
}

// A system call's entry: the event's live task made current on its CPU, the syscall charged;
// nullptr (a skipped event) when the task is gone.
task_struct* enter_syscall(RunContext& cx, const Op& op, uint32_t slot) {
    task_struct* t = live_task(cx, op, slot);
    if (!t) return nullptr;
    AddressSpaces& as = spaces(cx);
    as.set_current(t->cpu, t);
    as.charge(t->cpu, &CostModel::syscall);
    return t;
}

// A system call's return value `r` for `call` ("prctl(PR_GET_MEMORY_MERGE)"): an error is a
// failure row, and with `expect` a different value is a failed expectation.
void syscall_result(RunContext& cx, const Op& op, uint32_t slot, const std::string& call, int64_t r,
                    const std::optional<int64_t>& expect) {
    if (r < 0)
        cx.results.process_failure(op.event, op.name(), proc_name(cx, slot),
                                   call + ": " + errno_name(r));
    if (expect)
        cx.results.expectation(op.event, r == *expect
                                             ? std::string()
                                             : call + " returned " + std::to_string(r) +
                                                   ", expected " + std::to_string(*expect));
}

// prctl(PR_SET_MEMORY_MERGE / PR_GET_MEMORY_MERGE) (kernel/sys.c, Linux 6.18): SET with arg2
// non-zero makes every VMA KSM can merge mergeable, now and later (MMF_VM_MERGE_ANY, kept
// through fork and exec), 0 undoes it (unmerging); GET returns the flag, with arg2 0 (else
// EINVAL). A kernel without KSM returns EINVAL.
struct Prctl final : Op {
    bool runs_on_its_cpu() const override { return true; }
    uint32_t slot = 0;
    bool get = false;
    uint64_t arg2 = 0;
    std::optional<int64_t> expect;
    const char* name() const override { return "prctl"; }
    void run(RunContext& cx) const override {
        task_struct* t = enter_syscall(cx, *this, slot);
        if (!t) return;
        Ksm* ksm = cx.sys.ksm();
        const char* opt = get ? "PR_GET_MEMORY_MERGE" : "PR_SET_MEMORY_MERGE";
        int64_t r = -EINVAL;
        if (ksm && !get) r = ksm->prctl_set_memory_merge(t->mm, arg2 != 0, t->cpu);
        if (ksm && get && arg2 == 0) r = ksm->prctl_get_memory_merge(t->mm);
        syscall_result(cx, *this, slot, std::string("prctl(") + opt + ")", r, expect);
    }
};

std::unique_ptr<Op> parse_prctl(OpParser& p) {
    auto op = std::make_unique<Prctl>();
    if (auto s = process_ref(p)) op->slot = *s;
    op->get = p.choice("option", std::nullopt).value_or(0) == 1;
    op->arg2 = p.number("arg2", uint64_t{0}).value_or(0);
    if (p.has("expect")) op->expect = p.integer("expect", std::nullopt);
    return op;
}

// set_mempolicy(2) (mm/mempolicy.c, Linux 6.18): the task's memory policy, which its later
// page allocations follow (mmcore/mempolicy_alloc.cpp). An invalid mode, flag or nodemask is
// EINVAL, a failure row; with `expect`, the return value is an expectation.
struct SetMempolicy final : Op {
    bool runs_on_its_cpu() const override { return true; }
    uint32_t slot = 0;
    MpolMode mode = MpolMode::DEFAULT;
    unsigned flags = 0;
    uint64_t nodes = 0;
    std::optional<int64_t> expect;
    const char* name() const override { return "set_mempolicy"; }
    void run(RunContext& cx) const override {
        task_struct* t = enter_syscall(cx, *this, slot);
        if (!t) return;
        const int r = spaces(cx).set_mempolicy(t, mode, flags, nodes);
        syscall_result(cx, *this, slot, std::string("set_mempolicy(") + mpol_mode_name(mode) + ")",
                       r, expect);
    }
};

std::unique_ptr<Op> parse_set_mempolicy(OpParser& p) {
    auto op = std::make_unique<SetMempolicy>();
    if (auto s = process_ref(p)) op->slot = *s;
    if (auto m = p.choice("mode", std::nullopt)) op->mode = MpolMode(*m);
    op->flags = parse_flag_names(p, "flags", "0",
                                 {{"MPOL_F_STATIC_NODES", MPOL_F_STATIC_NODES},
                                  {"MPOL_F_RELATIVE_NODES", MPOL_F_RELATIVE_NODES},
                                  {"MPOL_F_NUMA_BALANCING", MPOL_F_NUMA_BALANCING}},
                                 {});
    // The nodemask: node numbers below 64 (MAX_NUMNODES here); nodes the machine does not have
    // are left out by the kernel (mpol_set_nodemask()), and an empty result is EINVAL.
    if (const json* v = p.raw("nodes")) {
        if (!v->is_array()) {
            p.error("nodes", "expected an array of node numbers, got " + type_name(*v));
        } else {
            for (size_t i = 0; i < v->size(); i++) {
                const json& n = (*v)[i];
                if (!n.is_number_integer() || n.get<int64_t>() < 0 || n.get<int64_t>() > 63)
                    p.ck.error(p.field_path("nodes") + "/" + std::to_string(i),
                               "expected a node number from 0 to 63, got " + n.dump());
                else
                    op->nodes |= uint64_t{1} << n.get<int64_t>();
            }
        }
    }
    if (p.has("expect")) op->expect = p.integer("expect", std::nullopt);
    return op;
}

struct Mprotect final : RegionOp {
    unsigned prot = 0;
    const char* name() const override { return "mprotect"; }
    void run(RunContext& cx) const override {
        const auto g = target(cx);
        if (!g) return;
        task_struct* t = g->t;
        AddressSpaces& as = spaces(cx);
        if (const int e = as.do_mprotect(t->mm, g->addr, g->len, prot, t->cpu); e)
            cx.results.process_failure(event, name(), proc_name(cx, slot),
                                       std::string("mprotect: ") + errno_name(e));
    }
};

unsigned parse_prot(OpParser& p, const char* dflt) {
    return parse_flag_names(p, "prot", dflt,
                            {{"PROT_READ", PROT_READ},
                             {"PROT_WRITE", PROT_WRITE},
                             {"PROT_EXEC", PROT_EXEC},
                             {"PROT_NONE", 0}},
                            {});
}

std::unique_ptr<Op> parse_mprotect(OpParser& p) {
    auto op = std::make_unique<Mprotect>();
    parse_range(p, *op);
    op->prot = parse_prot(p, "PROT_NONE");
    return op;
}

// ---- mlock / munlock / mlockall / munlockall / mremap --------------------------------------

struct Mlock final : RegionOp {
    bool lock = true, onfault = false;
    const char* name() const override { return lock ? "mlock" : "munlock"; }
    void run(RunContext& cx) const override {
        const auto g = target(cx);
        if (!g) return;
        task_struct* t = g->t;
        AddressSpaces& as = spaces(cx);
        const int e = lock ? as.do_mlock(t->mm, g->addr, g->len, onfault, t->cpu)
                           : as.do_munlock(t->mm, g->addr, g->len, t->cpu);
        if (e)
            cx.results.process_failure(event, name(), proc_name(cx, slot),
                                       std::string(name()) + ": " + errno_name(e));
    }
};

std::unique_ptr<Op> parse_mlock(OpParser& p) {
    auto op = std::make_unique<Mlock>();
    parse_range(p, *op);
    op->onfault = p.boolean("onfault", false).value_or(false);
    return op;
}

std::unique_ptr<Op> parse_munlock(OpParser& p) {
    auto op = std::make_unique<Mlock>();
    op->lock = false;
    parse_range(p, *op);
    return op;
}

struct Mlockall final : Op {
    bool runs_on_its_cpu() const override { return true; }
    uint32_t slot = 0;
    int flags = 0; // 0: munlockall
    const char* name() const override { return flags ? "mlockall" : "munlockall"; }
    void run(RunContext& cx) const override {
        task_struct* t = live_task(cx, *this, slot);
        if (!t) return;
        AddressSpaces& as = spaces(cx);
        as.set_current(t->cpu, t);
        as.charge(t->cpu, &CostModel::syscall);
        if (const int e = as.do_mlockall(t->mm, flags, t->cpu); e)
            cx.results.process_failure(event, name(), proc_name(cx, slot),
                                       std::string(name()) + ": " + errno_name(e));
    }
};

std::unique_ptr<Op> parse_mlockall(OpParser& p) {
    auto op = std::make_unique<Mlockall>();
    if (auto s = process_ref(p)) op->slot = *s;
    op->flags = int(parse_flag_names(
        p, "flags", "MCL_CURRENT",
        {{"MCL_CURRENT", MCL_CURRENT}, {"MCL_FUTURE", MCL_FUTURE}, {"MCL_ONFAULT", MCL_ONFAULT}},
        {}));
    if (op->flags == 0) p.error("flags", "expected MCL_CURRENT, MCL_FUTURE or both");
    return op;
}

std::unique_ptr<Op> parse_munlockall(OpParser& p) {
    auto op = std::make_unique<Mlockall>();
    if (auto s = process_ref(p)) op->slot = *s;
    return op;
}

struct Mremap final : RegionOp {
    uint64_t new_length = 0, new_addr = 0;
    unsigned flags = 0;
    uint32_t new_region = 0; // the region that names the result
    const char* name() const override { return "mremap"; }
    void run(RunContext& cx) const override {
        const auto g = target(cx);
        if (!g) return;
        task_struct* t = g->t;
        AddressSpaces& as = spaces(cx);
        const int64_t r = as.do_mremap(t->mm, g->addr, g->len, new_length, flags, new_addr, t->cpu);
        if (r < 0) {
            cx.results.process_failure(event, name(), proc_name(cx, slot),
                                       std::string("mremap: ") + errno_name(r));
            // A move to a new address may have unmapped there, and shrunk the old range,
            // before it failed.
            if (cx.shadow && (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP))) {
                cx.shadow->unknown(t->mm, g->addr, g->len);
                if (flags & MREMAP_FIXED) cx.shadow->unknown(t->mm, new_addr, new_length);
            }
            return;
        }
        cx.procs->regions[new_region] = {uint64_t(r), PAGE_ALIGN(new_length), true};
        if (cx.shadow) cx.shadow->mremap(t->mm, g->addr, g->len, uint64_t(r), new_length, flags);
    }
};

std::unique_ptr<Op> parse_mremap(OpParser& p) {
    auto op = std::make_unique<Mremap>();
    parse_range(p, *op);
    op->new_length = p.size("new_length", std::nullopt).value_or(0);
    op->new_addr = p.number("new_addr", 0).value_or(0);
    op->flags = parse_flag_names(p, "flags", "0",
                                 {{"MREMAP_MAYMOVE", MREMAP_MAYMOVE},
                                  {"MREMAP_FIXED", MREMAP_FIXED},
                                  {"MREMAP_DONTUNMAP", MREMAP_DONTUNMAP}},
                                 {});
    ProcessNames& n = names(p);
    const auto pname = p.string("process", std::nullopt);
    if (auto it = pname ? n.procs.find(*pname) : n.procs.end();
        it != n.procs.end() && !it->second.exited) {
        const uint32_t proc = it->second.slot;
        const auto rname =
            p.has("new_region") ? p.string("new_region", std::nullopt) : std::nullopt;
        const std::string target =
            rname ? *rname : (op->region < n.region_names.size() ? n.region_names[op->region] : "");
        op->new_region = define_region(n, proc, target, page_align(op->new_length));
    }
    return op;
}

// ---- pagemap --------------------------------------------------------------------------------

// At most this many pages per pagemap event (a 256 MiB range: 64 K entries, ~1.5 MB of JSON).
constexpr uint64_t MAX_PAGEMAP_PAGES = 65536;
constexpr uint64_t MAX_SCENARIO_PAGEMAP_PAGES = 64 * MAX_PAGEMAP_PAGES;

struct Pagemap final : RegionOp {
    std::optional<bool> duplicates; // expected: two present pages share a frame
    const char* name() const override { return "pagemap"; }
    void run(RunContext& cx) const override {
        const auto g = target(cx);
        if (!g) return;
        const uint64_t start = g->addr & PAGE_MASK;
        const uint64_t pages =
            std::min(MAX_PAGEMAP_PAGES,
                     ((g->addr + g->len + PAGE_SIZE - 1) >> PAGE_SHIFT) - (start >> PAGE_SHIFT));
        PagemapRecord r;
        r.event = event;
        r.process = proc_name(cx, slot);
        r.region = cx.procs->names->region_names[region];
        r.addr = start;
        if (start + pages * PAGE_SIZE > start)
            r.entries = spaces(cx).pagemap(g->t->mm, start, start + pages * PAGE_SIZE);
        if (duplicates) {
            // The selftests' range_maps_duplicates(): bit 63 is "present", bits 0-54 the PFN.
            std::set<uint64_t> seen;
            bool dup = false;
            for (uint64_t e : r.entries)
                if (e >> 63) dup |= !seen.insert(e & ((uint64_t{1} << 55) - 1)).second;
            cx.results.expectation(
                event, dup == *duplicates
                           ? std::string()
                           : std::string("the range ") + (dup ? "maps" : "does not map") +
                                 " two pages to the same frame (\"duplicates\": " +
                                 (*duplicates ? "true" : "false") + " expected)");
        }
        cx.results.pagemaps.push_back(std::move(r));
    }
};

std::unique_ptr<Op> parse_pagemap(OpParser& p) {
    auto op = std::make_unique<Pagemap>();
    parse_range(p, *op);
    if (p.has("duplicates")) op->duplicates = p.boolean("duplicates", false);
    ProcessNames& n = names(p);
    const uint64_t most = op->region < n.region_len.size() ? n.region_len[op->region] : 0;
    const uint64_t len = op->length.value_or(most > op->offset ? most - op->offset : 0);
    if (len > MAX_PAGEMAP_PAGES * PAGE_SIZE)
        p.error(op->length ? "length" : "region",
                "expected at most " + std::to_string(MAX_PAGEMAP_PAGES) +
                    " pages (256 MiB) in one pagemap; give a smaller length");
    // Every entry is kept for the statistics: the whole scenario is bounded too.
    else if ((n.pagemap_pages += (len + PAGE_SIZE - 1) / PAGE_SIZE) > MAX_SCENARIO_PAGEMAP_PAGES)
        p.error(op->length ? "length" : "region",
                "expected at most " + std::to_string(MAX_SCENARIO_PAGEMAP_PAGES) +
                    " pagemap pages in the whole scenario (each entry is kept for the "
                    "statistics)");
    return op;
}

// ---- write / read / touch -----------------------------------------------------------------

// splitmix64's finaliser: the generators' hash.
uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// FNV-1a of a key's name.
uint64_t name_hash(const std::string& s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    return h;
}

// What a write stores, or a read expects, at each byte of a region (the content generators):
//  - byte: every byte the same (a memset);
//  - seed: a pseudo-random stream, a function of the seed and the byte's offset in the region,
//    so the same seed at the same offsets gives the same bytes in any region or process;
//  - key: every page holds the 4 KiB page named by the key (a pseudo-random page from the name
//    and the scenario's seed), identical wherever the key is used; with `distinct` N, the
//    region's page n holds the key's variant n mod N, so a range has N different pages, each
//    repeated. Keys make pages KSM can merge.
struct Content {
    enum class Kind : uint8_t { none, byte, stream, key } kind = Kind::none;
    uint8_t byte = 0;
    uint64_t base = 0;     // stream, key: the hash the words start from
    uint64_t distinct = 0; // key: the number of page variants (0: one)
    // The 8-byte word holding region offset `off`.
    uint64_t word(uint64_t off) const {
        if (kind == Kind::stream) return mix(base + (off >> 3));
        const uint64_t page = off >> PAGE_SHIFT;
        const uint64_t variant = distinct ? page % distinct : 0;
        return mix(base + variant * (PAGE_SIZE / 8) + ((off & (PAGE_SIZE - 1)) >> 3));
    }
    uint8_t at(uint64_t off) const {
        if (kind == Kind::byte) return byte;
        return uint8_t(word(off) >> ((off & 7) * 8));
    }
    // The bytes of region offsets [off, off + n).
    void generate(uint8_t* buf, uint64_t off, uint64_t n) const {
        if (kind == Kind::byte) {
            std::memset(buf, byte, n);
            return;
        }
        uint64_t i = 0;
        for (; i < n && ((off + i) & 7); i++) buf[i] = at(off + i);
        for (; i + 8 <= n; i += 8) {
            const uint64_t w = word(off + i);
            std::memcpy(buf + i, &w, 8); // little-endian, as at() reads it
        }
        for (; i < n; i++) buf[i] = at(off + i);
    }
};

// The generator fields of a write or read: byte, seed, or key with distinct (at most one).
Content parse_content(OpParser& p, bool allow_key) {
    Content c;
    unsigned given = 0;
    if (p.has("byte")) {
        given++;
        c.kind = Content::Kind::byte;
        if (auto b = p.integer("byte", std::nullopt)) c.byte = uint8_t(*b);
    }
    if (p.has("seed")) {
        given++;
        c.kind = Content::Kind::stream;
        if (auto s = p.number("seed", std::nullopt)) c.base = mix(*s);
    }
    if (allow_key && p.has("key")) {
        given++;
        c.kind = Content::Kind::key;
        if (auto k = p.string("key", std::nullopt)) c.base = mix(mix(p.state.seed) ^ name_hash(*k));
        if (p.has("distinct")) c.distinct = p.integer("distinct", std::nullopt).value_or(0);
    } else if (allow_key && p.has("distinct")) {
        p.error("distinct", "distinct counts the variants of a key: give a key too");
    }
    if (given > 1)
        p.error(p.has("byte") ? "byte" : "seed", "give one of byte, seed and key, not several");
    return c;
}

// `below`: an access that starts under the region (a stack's growth: the process touches the
// page under its stack VMA), with `offset` counted from there.
void parse_below(OpParser& p, RegionOp& op) {
    op.below = p.size("below", 0).value_or(0);
    if (op.below > MAX_EVENT_BYTES) p.error("below", "expected at most 1 TiB");
}

// The bytes this event may move: the length given, else the most the region can hold after the
// offset (its largest mapping, as the events before it define it); bounded per event and per
// scenario.
void count_bytes(OpParser& p, const RegionOp& op, bool pages_only) {
    ProcessNames& n = names(p);
    const uint64_t most = op.region < n.region_len.size() ? n.region_len[op.region] : 0;
    const uint64_t bytes = op.length.value_or((most > op.offset ? most - op.offset : 0) + op.below);
    if (op.length && *op.length > MAX_EVENT_BYTES)
        p.error("length", "expected at most 1 TiB in one event");
    n.bytes_accessed += pages_only ? bytes / PAGE_SIZE : bytes;
    if (n.bytes_accessed > MAX_SCENARIO_BYTES)
        p.error("length", "expected at most 4 TiB read, written or touched in the whole scenario "
                          "(counting a region's largest mapping where no length is given)");
}

struct Access final : RegionOp {
    enum class Kind : uint8_t { write, read, touch } kind = Kind::write;
    Content content;        // write: what is stored; read: what is expected (none: nothing)
    uint8_t touch_byte = 1; // touch: the byte written
    bool touch_write = true;
    const char* name() const override {
        return kind == Kind::write ? "write" : kind == Kind::read ? "read" : "touch";
    }
    void run(RunContext& cx) const override {
        const auto g = target(cx, false);
        if (!g) return;
        task_struct* t = g->t;
        Cpu& cpu = cx.sys.machine().cpu(t->cpu);
        const AccessMode user{3, false};
        const uint64_t len = g->len, start = g->addr;
        const bool expect = content.kind != Content::Kind::none;
        std::string mismatch;
        uint8_t buf[PAGE_SIZE], want[PAGE_SIZE];
        for (uint64_t done = 0; done < len;) {
            const uint64_t la = start + done;
            const uint64_t chunk = std::min(len - done, PAGE_SIZE - (la & (PAGE_SIZE - 1)));
            MemoryAccess a;
            uint8_t v = touch_byte;
            if (kind == Kind::touch) {
                a = in_user_mode(cx, t->cpu, [&] {
                    return touch_write ? cpu.write_linear(LinearAddr{la}, &v, 1, user)
                                       : cpu.read_linear(LinearAddr{la}, &v, 1, user);
                });
            } else if (kind == Kind::write) {
                if (content.kind == Content::Kind::stream || content.kind == Content::Kind::key) {
                    content.generate(buf, offset - below + done, chunk);
                    a = in_user_mode(cx, t->cpu, [&] {
                        return cpu.write_linear(LinearAddr{la}, buf, chunk, user);
                    });
                } else {
                    a = in_user_mode(cx, t->cpu, [&] {
                        return cpu.fill_linear(LinearAddr{la}, content.byte, chunk, user);
                    });
                }
            } else {
                a = in_user_mode(cx, t->cpu,
                                 [&] { return cpu.read_linear(LinearAddr{la}, buf, chunk, user); });
                if (a.ok() && mismatch.empty() && expect) {
                    content.generate(want, offset - below + done, chunk);
                    if (std::memcmp(buf, want, chunk) != 0) {
                        uint64_t i = 0;
                        while (buf[i] == want[i]) i++;
                        mismatch =
                            "read: byte " + std::to_string(int64_t(offset - below + done + i)) +
                            " of region \"" + cx.procs->names->region_names[region] + "\" is " +
                            std::to_string(buf[i]) + ", expected " + std::to_string(want[i]);
                    }
                }
            }
            if (!a.ok()) {
                deliver_fatal(cx, *this, slot, t, a);
                return;
            }
            if (cx.shadow) shadow_verdict(cx, *this, slot, shadow_step(cx, t, la, chunk, v, buf));
            done += chunk;
        }
        if (kind == Kind::read && expect) cx.results.expectation(event, mismatch);
    }
    // What the shadow memory makes of a completed chunk.
    std::string shadow_step(RunContext& cx, const task_struct* t, uint64_t la, uint64_t chunk,
                            uint8_t v, const uint8_t* buf) const {
        ShadowMemory& sh = *cx.shadow;
        if (kind == Kind::touch)
            return touch_write ? sh.write(t->mm, la, &v, 1) : sh.check_read(t->mm, la, &v, 1);
        if (kind == Kind::read) return sh.check_read(t->mm, la, buf, chunk);
        if (content.kind == Content::Kind::stream || content.kind == Content::Kind::key)
            return sh.write(t->mm, la, buf, chunk);
        return sh.fill(t->mm, la, content.byte, chunk);
    }
};

std::unique_ptr<Op> parse_access(OpParser& p, Access::Kind kind) {
    auto op = std::make_unique<Access>();
    op->kind = kind;
    parse_range(p, *op);
    parse_below(p, *op);
    if (kind == Access::Kind::touch) {
        if (p.has("byte")) op->touch_byte = uint8_t(p.integer("byte", std::nullopt).value_or(1));
        op->touch_write = p.boolean("write", true).value_or(true);
    } else {
        op->content = parse_content(p, true);
        if (kind == Access::Kind::write && op->content.kind == Content::Kind::none)
            op->content.kind = Content::Kind::byte; // zeros
    }
    count_bytes(p, *op, kind == Access::Kind::touch);
    return op;
}
std::unique_ptr<Op> parse_write(OpParser& p) {
    return parse_access(p, Access::Kind::write);
}
std::unique_ptr<Op> parse_read(OpParser& p) {
    return parse_access(p, Access::Kind::read);
}
std::unique_ptr<Op> parse_touch(OpParser& p) {
    return parse_access(p, Access::Kind::touch);
}
// fill: memset (rep stosb) of a range with one byte.
std::unique_ptr<Op> parse_fill(OpParser& p) {
    auto op = std::make_unique<Access>();
    op->kind = Access::Kind::write;
    parse_range(p, *op);
    parse_below(p, *op);
    op->content.kind = Content::Kind::byte;
    op->content.byte = uint8_t(p.integer("byte", 0).value_or(0));
    count_bytes(p, *op, false);
    return op;
}

// copy: memmove (rep movsb) within a process, from a range of one region to a range of
// another (or the same): the CPU reads the source and writes the destination, a chunk at a
// time within both pages, backwards when the destination overlaps the source from above, so
// overlapping ranges copy as memmove does.
struct Copy final : RegionOp {
    uint32_t from_region = 0;
    uint64_t from_offset = 0;
    const char* name() const override { return "copy"; }
    void run(RunContext& cx) const override {
        const auto g = target(cx, false);
        if (!g) return;
        const auto& src = cx.procs->regions[from_region];
        if (!src.mapped) {
            cx.results.process_failure(event, name(), proc_name(cx, slot),
                                       "the source region was never mapped (its mmap failed)");
            return;
        }
        task_struct* t = g->t;
        Cpu& cpu = cx.sys.machine().cpu(t->cpu);
        const AccessMode user{3, false};
        const uint64_t len = g->len, dst = g->addr, from = src.addr + from_offset;
        const bool backwards = dst > from && dst < from + len;
        uint8_t buf[PAGE_SIZE];
        for (uint64_t done = 0; done < len;) {
            // The next chunk within one source and one destination page, from the end when
            // copying backwards.
            uint64_t s, d, chunk;
            if (!backwards) {
                s = from + done, d = dst + done;
                chunk = std::min({len - done, PAGE_SIZE - (s & (PAGE_SIZE - 1)),
                                  PAGE_SIZE - (d & (PAGE_SIZE - 1))});
            } else {
                const uint64_t s_end = from + len - done, d_end = dst + len - done;
                chunk = std::min({len - done, ((s_end - 1) & (PAGE_SIZE - 1)) + 1,
                                  ((d_end - 1) & (PAGE_SIZE - 1)) + 1});
                s = s_end - chunk, d = d_end - chunk;
            }
            MemoryAccess a = in_user_mode(
                cx, t->cpu, [&] { return cpu.read_linear(LinearAddr{s}, buf, chunk, user); });
            if (a.ok() && cx.shadow)
                shadow_verdict(cx, *this, slot, cx.shadow->check_read(t->mm, s, buf, chunk));
            if (a.ok())
                a = in_user_mode(cx, t->cpu,
                                 [&] { return cpu.write_linear(LinearAddr{d}, buf, chunk, user); });
            if (!a.ok()) {
                deliver_fatal(cx, *this, slot, t, a);
                return;
            }
            if (cx.shadow) shadow_verdict(cx, *this, slot, cx.shadow->write(t->mm, d, buf, chunk));
            done += chunk;
        }
    }
};

std::unique_ptr<Op> parse_copy(OpParser& p) {
    auto op = std::make_unique<Copy>();
    if (parse_range(p, *op)) {
        if (auto r = region_ref(p, op->slot, "from")) op->from_region = *r;
    }
    op->from_offset = p.size("from_offset", 0).value_or(0);
    count_bytes(p, *op, false);
    return op;
}

} // namespace

void deliver_pending_kills(RunContext& cx, uint32_t event, int cpu) {
    AddressSpaces& as = spaces(cx);
    // (The kills are numbered at barriers in the concurrent mode, where a vCPU thread may be
    // in the OOM killer meanwhile.)
    if (cpu < 0)
        while (cx.results.oom_kill_events.size() < as.oom_kills().size())
            cx.results.oom_kill_events.push_back(event);
    if (!as.kills_pending()) return;
    for (const auto& t : as.tasks())
        if (t->sigkill_pending && !t->exited && (cpu < 0 || t->cpu == unsigned(cpu)))
            deliver_sigkill(cx, event, t.get());
    if (cpu < 0) as.clear_kills_pending();
}

const std::vector<OpSpec>& process_op_specs() {
    static const std::vector<OpSpec> specs = {
        {"spawn",
         OpMode::kernel,
         {F_PROCESS,
          {"cpu", FieldKind::integer, false, 0, 63, {}, "the CPU the process runs on (default 0)"},
          F_CODE,
          F_DATA,
          F_BSS,
          F_STACK,
          F_IMAGE,
          {"oom_score_adj",
           FieldKind::integer,
           false,
           -1000,
           1000,
           {},
           "/proc/PID/oom_score_adj (default 0; -1000: never OOM-killed); fork copies it"}},
         parse_spawn,
         "a new process with the layout exec gives a static non-PIE binary"},
        {"fork",
         OpMode::kernel,
         {F_PROCESS,
          {"child", FieldKind::string, true, 0, 0, {}, "the child's name"},
          {"cpu", FieldKind::integer, false, 0, 63, {}, "the child's CPU (default: the parent's)"}},
         parse_fork,
         "fork(2): the child's memory is a copy-on-write copy of the parent's"},
        {"exit",
         OpMode::kernel,
         {F_PROCESS},
         parse_exit,
         "a process exits with all its threads (exit_group), a thread alone (exit)"},
        {"clone_thread",
         OpMode::kernel,
         {F_PROCESS,
          {"thread", FieldKind::string, true, 0, 0, {}, "the new thread's name"},
          {"cpu", FieldKind::integer, false, 0, 63, {}, "its CPU (default: the creator's)"}},
         parse_clone_thread,
         "clone(CLONE_VM | CLONE_THREAD ...): a thread sharing the process's memory and regions"},
        {"exec",
         OpMode::kernel,
         {F_PROCESS, F_CODE, F_DATA, F_BSS, F_STACK, F_IMAGE},
         parse_exec,
         "execve(2) of a new image: the threads end, a new address space replaces the old"},
        {"wait",
         OpMode::kernel,
         {F_PROCESS, {"child", FieldKind::string, false, 0, 0, {}, "the child (default: any)"}},
         parse_wait,
         "wait4(2) with WNOHANG: reap a child that has exited (a zombie until then)"},
        {"mmap",
         OpMode::kernel,
         {F_PROCESS,
          {"region", FieldKind::string, true, 0, 0, {}, "names the mapping for later events"},
          {"length", FieldKind::size, true, 0, 0, {}, "bytes"},
          {"prot", FieldKind::string, false, 0, 0, {}, "PROT_* names joined by |"},
          {"flags", FieldKind::string, false, 0, 0, {}, "MAP_* names joined by |"},
          {"addr", FieldKind::number, false, 0, 0, {}, "the address hint (MAP_FIXED: the place)"}},
         parse_mmap,
         "mmap(2) of anonymous private memory; an error is a result"},
        {"munmap",
         OpMode::kernel,
         {F_PROCESS, F_REGION, F_OFFSET, F_LENGTH},
         parse_munmap,
         "munmap(2) of a region or part of it"},
        {"brk",
         OpMode::kernel,
         {F_PROCESS,
          {"size",
           FieldKind::size,
           true,
           0,
           0,
           {},
           "the heap's size: the break is start_brk + size"}},
         parse_brk,
         "brk(2): the heap grows or shrinks; region \"brk\" is the heap"},
        {"madvise",
         OpMode::kernel,
         {F_PROCESS,
          F_REGION,
          F_OFFSET,
          F_LENGTH,
          {"advice",
           FieldKind::enumeration,
           true,
           0,
           0,
           {"MADV_DONTNEED", "MADV_WILLNEED", "MADV_DONTFORK", "MADV_DOFORK", "MADV_WIPEONFORK",
            "MADV_KEEPONFORK", "MADV_FREE", "MADV_MERGEABLE", "MADV_UNMERGEABLE"},
           "the advice (MADV_COLD, MADV_PAGEOUT, MADV_HUGEPAGE and the rest are not built)"}},
         parse_madvise,
         "madvise(2) of a region or part of it"},
        {"prctl",
         OpMode::kernel,
         {F_PROCESS,
          {"option",
           FieldKind::enumeration,
           true,
           0,
           0,
           {"PR_SET_MEMORY_MERGE", "PR_GET_MEMORY_MERGE"},
           "the prctl"},
          {"arg2", FieldKind::number, false, 0, 0, {}, "SET: 1 on, 0 off; GET: must be 0"},
          {"expect",
           FieldKind::integer,
           false,
           -4095,
           1,
           {},
           "the return value expected (0 or 1, or -errno); a difference fails the run"}},
         parse_prctl,
         "prctl(2) of KSM: PR_SET_MEMORY_MERGE or PR_GET_MEMORY_MERGE"},
        {"set_mempolicy",
         OpMode::kernel,
         {F_PROCESS,
          {"mode",
           FieldKind::enumeration,
           true,
           0,
           0,
           {"MPOL_DEFAULT", "MPOL_PREFERRED", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_LOCAL",
            "MPOL_PREFERRED_MANY", "MPOL_WEIGHTED_INTERLEAVE"},
           "the policy's mode"},
          {"nodes", FieldKind::numbers, false, 0, 0, {}, "the nodemask: node numbers (0 to 63)"},
          {"flags",
           FieldKind::string,
           false,
           0,
           0,
           {},
           "MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES, MPOL_F_NUMA_BALANCING joined by | "
           "(default 0)"},
          {"expect",
           FieldKind::integer,
           false,
           -4095,
           0,
           {},
           "the return value expected (0 or -errno); a difference fails the run"}},
         parse_set_mempolicy,
         "set_mempolicy(2): the task's memory policy for its later allocations"},
        {"mprotect",
         OpMode::kernel,
         {F_PROCESS,
          F_REGION,
          F_OFFSET,
          F_LENGTH,
          {"prot", FieldKind::string, true, 0, 0, {}, "PROT_* names joined by |"}},
         parse_mprotect,
         "mprotect(2) of a region or part of it: VMAs split and merge as Linux's do"},
        {"mlock",
         OpMode::kernel,
         {F_PROCESS,
          F_REGION,
          F_OFFSET,
          F_LENGTH,
          {"onfault",
           FieldKind::boolean,
           false,
           0,
           0,
           {},
           "mlock2(MLOCK_ONFAULT): lock, do not fault in"}},
         parse_mlock,
         "mlock(2) / mlock2(2) of a region or part of it: locked and faulted in"},
        {"munlock",
         OpMode::kernel,
         {F_PROCESS, F_REGION, F_OFFSET, F_LENGTH},
         parse_munlock,
         "munlock(2) of a region or part of it"},
        {"mlockall",
         OpMode::kernel,
         {F_PROCESS,
          {"flags", FieldKind::string, false, 0, 0, {}, "MCL_* names joined by | (MCL_CURRENT)"}},
         parse_mlockall,
         "mlockall(2): lock the process's current and/or future mappings"},
        {"munlockall", OpMode::kernel, {F_PROCESS}, parse_munlockall, "munlockall(2)"},
        {"mremap",
         OpMode::kernel,
         {F_PROCESS,
          F_REGION,
          F_OFFSET,
          {"length", FieldKind::size, false, 0, 0, {}, "old_len (default: to the region's end)"},
          {"new_length", FieldKind::size, true, 0, 0, {}, "new_len"},
          {"flags", FieldKind::string, false, 0, 0, {}, "MREMAP_* names joined by | (default 0)"},
          {"new_addr", FieldKind::number, false, 0, 0, {}, "with MREMAP_FIXED or MREMAP_DONTUNMAP"},
          {"new_region", FieldKind::string, false, 0, 0, {}, "names the result (default: region)"}},
         parse_mremap,
         "mremap(2): grow, shrink or move a mapping; the region then names the result"},
        {"pagemap",
         OpMode::kernel,
         {F_PROCESS,
          F_REGION,
          F_OFFSET,
          F_LENGTH,
          {"duplicates",
           FieldKind::boolean,
           false,
           0,
           0,
           {},
           "expected: two present pages of the range share a frame (the selftests' "
           "range_maps_duplicates)"}},
         parse_pagemap,
         "the range's /proc/PID/pagemap entries (present, PFN, exclusive) into results.pagemaps"},
        {"write",
         OpMode::kernel,
         {F_PROCESS,
          F_REGION,
          F_OFFSET,
          F_LENGTH,
          F_BELOW,
          {"byte", FieldKind::integer, false, 0, 255, {}, "every byte this one (default 0)"},
          {"seed", FieldKind::number, false, 0, 0, {}, "a pseudo-random stream instead"},
          F_KEY,
          F_DISTINCT},
         parse_write,
         "the process writes bytes (page by page, as rep stos / rep movs)"},
        {"fill",
         OpMode::kernel,
         {F_PROCESS,
          F_REGION,
          F_OFFSET,
          F_LENGTH,
          F_BELOW,
          {"byte", FieldKind::integer, false, 0, 255, {}, "the byte stored (default 0)"}},
         parse_fill,
         "memset(3) of a range: every byte one value (rep stosb)"},
        {"copy",
         OpMode::kernel,
         {F_PROCESS,
          F_REGION,
          F_OFFSET,
          F_LENGTH,
          {"from", FieldKind::string, true, 0, 0, {}, "the source region (of the same process)"},
          {"from_offset", FieldKind::size, false, 0, 0, {}, "the source's offset in it"}},
         parse_copy,
         "memmove(3) within a process: the CPU reads the source and writes the destination"},
        {"read",
         OpMode::kernel,
         {F_PROCESS,
          F_REGION,
          F_OFFSET,
          F_LENGTH,
          F_BELOW,
          {"byte", FieldKind::integer, false, 0, 255, {}, "expect every byte to be this"},
          {"seed", FieldKind::number, false, 0, 0, {}, "expect the stream a write with it wrote"},
          F_KEY,
          F_DISTINCT},
         parse_read,
         "the process reads bytes; with a generator (byte, seed or key), an expectation"},
        {"touch",
         OpMode::kernel,
         {F_PROCESS,
          F_REGION,
          F_OFFSET,
          F_LENGTH,
          F_BELOW,
          {"write", FieldKind::boolean, false, 0, 0, {}, "write (default) or read"},
          {"byte", FieldKind::integer, false, 0, 255, {}, "the byte written (default 1)"}},
         parse_touch,
         "one access per page: the first byte of each page of the range"},
    };
    return specs;
}

} // namespace mmemu
