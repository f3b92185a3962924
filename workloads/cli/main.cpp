// mmemu: the command line. Exit codes (README.md):
//   0  success
//   1  an expectation of the scenario did not hold (the statistics say which); compare: the
//      two runs differ beyond what is allowed
//   2  bad input or usage (malformed or invalid scenario, unknown option, missing file)
//   3  the statistics could not be written
//   4  the emulated kernel hit a BUG the scenario caused (a slab's free list overwritten by
//      write_object): the run stopped there; the statistics (results.kernel_bug) say where
//   5  the run reached a limit checked while it runs (ksmd's work): it stopped there; the
//      statistics (results.limit_reached) say where
//   70 internal error: a bug in mmemu (an invariant of the emulated kernel broken)
#include <sys/stat.h>
#include <unistd.h>

#include <boost/program_options.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "emulator/host_memory.h"
#include "mmcore/bug.h"
#include "mmemu_version.h"
#include "workloads/cli/exit_codes.h"
#include "workloads/cli/options.h"
#include "workloads/cli/sweep_cmd.h"
#include "workloads/compare.h"
#include "workloads/driver.h"
#include "workloads/explain.h"
#include "workloads/input_file.h"
#include "workloads/json_reader.h"
#include "workloads/json_rows.h"
#include "workloads/show.h"
#include "workloads/statistics.h"

namespace po = boost::program_options;
using namespace mmemu;

namespace {

using namespace mmemu::cli;

const char* kUsage =
    "usage: mmemu <command> [options]\n"
    "\n"
    "commands:\n"
    "  run SCENARIO       run a scenario and print its statistics (JSON)\n"
    "  validate SCENARIO  check a scenario without running it; reports every error\n"
    "  explain ADDRESS    show a linear-address translation step by step\n"
    "  compare BASE NEW   compare two statistics files (exit 1 on differences beyond tolerance)\n"
    "  show STATS [SECTION...]  print a statistics file's state as the kernel's /proc files\n"
    "  sweep GRID -o DIR  run a grid of --set values and seeds, one statistics file per point\n"
    "  help [COMMAND]     show help for run, validate, explain, compare, show or sweep\n"
    "  help statistics    the reference of every statistic (markdown)\n"
    "\n"
    "options:\n"
    "  --help             show help\n"
    "  --version          print the version\n"
    "\n"
    "Exit codes: 0 success, 1 an expectation failed (compare: the runs differ), 2 bad input or "
    "usage, 3 output not written,\n"
    "4 the emulated kernel hit a BUG the scenario caused, 5 a run limit reached (ksmd's work),\n"
    "70 internal error (a bug in mmemu).\n"
    "Docs: docs/scenario-format.md, docs/statistics-format.md.\n";

// Reads and compiles the scenario, printing every diagnostic; nullopt on error.
std::optional<Scenario> load(const std::string& path, const std::vector<std::string>& sets) {
    std::string text, error;
    if (!read_scenario_file(path, text, error)) {
        std::cerr << "mmemu: " << path << ": " << error << "\n";
        return std::nullopt;
    }
    CompileResult r = compile_scenario(path, text, sets);
    for (const auto& d : r.errors) std::cerr << format_diagnostic(path, d) << "\n";
    if (!r.errors.empty()) {
        std::cerr << "mmemu: " << path << ": " << r.errors.size() << " error"
                  << (r.errors.size() == 1 ? "" : "s") << "\n";
        return std::nullopt;
    }
    return std::move(r.scenario);
}

// A number on the command line: decimal or 0x hex, as in scenario files (no octal, no sign).
std::optional<uint64_t> cli_number(const std::string& text) {
    return Checker::number(json(text));
}

po::options_description run_options() {
    po::options_description d("mmemu run SCENARIO [options]");
    d.add_options()("help,h", "show this help")("output,o", po::value<std::string>(),
                                                "write the statistics to FILE instead of stdout")(
        "set", po::value<std::vector<std::string>>()->composing(),
        "override a scenario field before validation, e.g. --set machine.memory=2GiB "
        "(repeatable; the value is parsed as JSON, else taken as a string)")(
        "seed", po::value<std::string>(),
        "the seed of content generators and anything random (overrides the scenario's seed)")(
        "sections", po::value<std::string>(),
        "the top-level sections to write, comma-separated (manifest, scenario, machine, boot, "
        "checkpoints, timeseries, final, results, host), or all but some: -host,-boot; mmemu_stats "
        "is "
        "always written")(
        "no-audit",
        "skip the invariant checker (the frame audit and the shadow memory at checkpoints and at "
        "the end, every read checked, every frame back when all processes exit)")(
        "concurrent",
        "the concurrent mode: a host thread per vCPU and ksmd running beside them, for stress "
        "testing (the numbers move from run to run; the invariant checker must hold)")(
        "quiet,q", "no progress line on stderr (it is drawn only when stderr is a terminal)")(
        "trace", po::value<std::string>(),
        "write the run's timeline to FILE: Chrome trace-event JSON in virtual time, for "
        "ui.perfetto.dev (docs/trace.md)")(
        "trace-limit", po::value<std::string>(),
        "at most N events in the trace (default 2000000); the rest are counted, not written")(
        "compact", "print the JSON on one line (by default it is indented, with each /proc-style "
                   "row on one line)");
    return d;
}

po::options_description validate_options() {
    po::options_description d("mmemu validate SCENARIO [options]");
    d.add_options()("help,h", "show this help")(
        "set", po::value<std::vector<std::string>>()->composing(), "override a scenario field")(
        "seed", po::value<std::string>(), "override the scenario's seed");
    return d;
}

// Parses a command's options and its one positional argument (`positional`: "scenario" or
// "address"). Returns 0 to go on, -1 after printing --help, or an exit code.
int parse(int argc, char** argv, const po::options_description& desc, po::variables_map& vm,
          std::string& value, const char* missing = "a scenario file is required") {
    std::vector<std::string> args;
    if (int rc = parse_command_line(argc, argv, desc, vm, args); rc) return rc;
    if (args.empty()) {
        std::cerr << "mmemu: " << missing << "\n\n" << desc;
        return EXIT_BAD_INPUT;
    }
    if (args.size() > 1) {
        std::cerr << "mmemu: one argument expected, got also \"" << args[1] << "\"\n\n" << desc;
        return EXIT_BAD_INPUT;
    }
    value = args[0];
    return EXIT_OK;
}

// The overrides: every --set, then --seed as seed=N. nullopt (after a message) on a bad --seed.
std::optional<std::vector<std::string>> sets_of(const po::variables_map& vm) {
    std::vector<std::string> sets =
        vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
    if (vm.count("seed")) {
        const std::string text = vm["seed"].as<std::string>();
        const auto seed = cli_number(text);
        if (!seed) {
            std::cerr << "mmemu: --seed expects a non-negative integer below 2^64 (decimal or "
                         "0x hex), got \""
                      << text << "\"\n";
            return std::nullopt;
        }
        sets.push_back("seed=" + std::to_string(*seed));
    }
    return sets;
}

const char* const kSections[] = {"manifest",    "scenario", "machine", "boot",
                                 "checkpoints", "final",    "results", "host"};

// --sections: which top-level sections to keep; false (after a message) on a bad list.
bool parse_sections(const std::string& list, std::vector<std::string>& keep) {
    std::vector<std::string> names;
    size_t start = 0;
    while (true) {
        const size_t comma = list.find(',', start);
        names.push_back(list.substr(start, comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    const bool exclude = !names.empty() && !names[0].empty() && names[0][0] == '-';
    std::vector<std::string> chosen;
    for (auto n : names) {
        const bool minus = !n.empty() && n[0] == '-';
        if (minus != exclude) {
            std::cerr << "mmemu: --sections: give the sections to write (final,results) or those "
                         "to leave out (-host,-boot), not both\n";
            return false;
        }
        if (minus) n = n.substr(1);
        bool known = false;
        for (const char* s : kSections) known |= n == s;
        if (!known) {
            std::cerr << "mmemu: --sections: unknown section \"" << n
                      << "\" (the sections: manifest, scenario, machine, boot, checkpoints, "
                         "timeseries, final, results, host)\n";
            return false;
        }
        chosen.push_back(n);
    }
    keep.clear();
    for (const char* s : kSections) {
        const bool listed = std::find(chosen.begin(), chosen.end(), s) != chosen.end();
        if (listed != exclude) keep.push_back(s);
    }
    return true;
}

po::options_description explain_options() {
    po::options_description d("mmemu explain ADDRESS [options]");
    d.add_options()("help,h", "show this help")(
        "arch", po::value<std::string>()->default_value("i386"),
        "paging mode for demonstration tables: i386, pae, x86_64 or la57")(
        "scenario", po::value<std::string>(),
        "explain on the page tables and registers of this bare-machine scenario instead")(
        "checkpoint", po::value<std::string>(), "with --scenario: the state after this checkpoint")(
        "cpu", po::value<std::string>()->default_value("0"), "with --scenario: the CPU")(
        "type", po::value<std::string>()->default_value("read"), "read, write or fetch")(
        "cpl", po::value<std::string>()->default_value("3"), "0 (supervisor) or 3 (user)")(
        "implicit", "an implicit supervisor access (descriptor-table read)");
    return d;
}

int cmd_explain(int argc, char** argv) {
    const auto desc = explain_options();
    po::variables_map vm;
    std::string address;
    if (int rc = parse(argc, argv, desc, vm, address,
                       "explain needs a linear address such as 0x08048568");
        rc)
        return rc < 0 ? EXIT_OK : rc;
    const auto parsed = cli_number(address);
    if (!parsed) {
        std::cerr << "mmemu: \"" << address
                  << "\" is not an address (expected 0x and hex digits, such as 0x08048568, or "
                     "decimal digits)\n";
        return EXIT_BAD_INPUT;
    }
    const uint64_t la = *parsed;
    if (vm.count("checkpoint") && !vm.count("scenario")) {
        std::cerr << "mmemu: --checkpoint needs --scenario (the checkpoint of which scenario?)\n";
        return EXIT_BAD_INPUT;
    }
    if (!vm["cpu"].defaulted() && !vm.count("scenario")) {
        std::cerr << "mmemu: --cpu needs --scenario (the demonstration tables have one CPU)\n";
        return EXIT_BAD_INPUT;
    }
    AccessRequest req;
    req.la = LinearAddr{la};
    const std::string type = vm["type"].as<std::string>();
    if (type == "read")
        req.type = AccessType::read;
    else if (type == "write")
        req.type = AccessType::write;
    else if (type == "fetch")
        req.type = AccessType::fetch;
    else {
        std::cerr << "mmemu: --type expects read, write or fetch, got \"" << type << "\"\n";
        return EXIT_BAD_INPUT;
    }
    const std::string cpl_text = vm["cpl"].as<std::string>();
    if (cpl_text != "0" && cpl_text != "3") {
        std::cerr << "mmemu: --cpl expects 0 or 3, got \"" << cpl_text << "\"\n";
        return EXIT_BAD_INPUT;
    }
    const unsigned cpl = cpl_text == "3" ? 3 : 0;
    req.user = cpl == 3;
    req.implicit = vm.count("implicit") > 0;

    if (vm.count("scenario")) {
        const std::string path = vm["scenario"].as<std::string>();
        auto sc = load(path, {});
        if (!sc) return EXIT_BAD_INPUT;
        if (!sc->bare) {
            std::cerr << "mmemu: " << path
                      << ": explain needs a bare-machine scenario (\"mode\": \"bare\"); kernel "
                         "scenarios have no page tables yet\n";
            return EXIT_BAD_INPUT;
        }
        const std::string cpu_text = vm["cpu"].as<std::string>();
        const auto cpu = cli_number(cpu_text);
        if (!cpu || *cpu >= sc->machine.nr_cpus) {
            std::cerr << "mmemu: --cpu expects a CPU of the scenario's machine (0 to "
                      << sc->machine.nr_cpus - 1 << "), got \"" << cpu_text << "\"\n";
            return EXIT_BAD_INPUT;
        }
        std::string error;
        auto d = Driver::boot(*sc, RunOptions{}, error);
        if (!d) {
            std::cerr << "mmemu: " << path << ": the machine cannot boot: " << error << "\n";
            return EXIT_BAD_INPUT;
        }
        if (vm.count("checkpoint")) {
            const std::string name = vm["checkpoint"].as<std::string>();
            if (!d->run_until_checkpoint(name)) {
                std::cerr << "mmemu: " << path << ": no checkpoint named \"" << name << "\"\n";
                return EXIT_BAD_INPUT;
            }
        } else {
            d->run();
        }
        Machine& m = d->system().machine();
        Mmu& mmu = m.mmu(unsigned(*cpu));
        std::cout << explain_translation(mmu.regs(), mmu.pdptes(), m.ram(), req);
        return EXIT_OK;
    }
    const std::string arch = vm["arch"].as<std::string>();
    PagingMode mode;
    MachineConfig mc;
    mc.memory_bytes = uint64_t{64} << 20;
    if (arch == "i386")
        mode = PagingMode::bits32, mc.arch = Arch::i386;
    else if (arch == "pae")
        mode = PagingMode::pae, mc.arch = Arch::pae;
    else if (arch == "x86_64")
        mode = PagingMode::level4, mc.arch = Arch::x86_64;
    else if (arch == "la57")
        mode = PagingMode::level5, mc.arch = Arch::x86_64;
    else {
        std::cerr << "mmemu: --arch expects i386, pae, x86_64 or la57, got \"" << arch << "\"\n";
        return EXIT_BAD_INPUT;
    }
    if ((mode == PagingMode::bits32 || mode == PagingMode::pae) && la > 0xffffffffull) {
        std::cerr << "mmemu: " << arch << " linear addresses are 32 bits\n";
        return EXIT_BAD_INPUT;
    }
    BootResult booted = System::boot(SystemConfig{mc, std::nullopt});
    if (!booted.ok()) {
        std::cerr << "mmemu: internal error: the demonstration machine cannot be built: "
                  << booted.error << "\n";
        return EXIT_INTERNAL;
    }
    Machine& m = booted.system->machine();
    CpuRegs regs;
    regs.maxphyaddr = m.config().maxphyaddr;
    PdpteRegs pdptes;
    if (!is_canonical(
            [&] {
                CpuRegs r = regs;
                r.cr0 = CR0_PE | CR0_PG;
                r.cr4 = CR4_PAE | (mode == PagingMode::level5 ? CR4_LA57 : 0);
                r.efer = (mode == PagingMode::level4 || mode == PagingMode::level5)
                             ? EFER_LME | EFER_LMA
                             : 0;
                return r;
            }(),
            LinearAddr{la})) {
        std::cerr << "mmemu: " << address << " is not canonical for " << arch << "\n";
        return EXIT_BAD_INPUT;
    }
    std::cout << build_demo_tables(mode, la, m.ram(), regs, pdptes);
    std::cout << explain_translation(regs, pdptes, m.ram(), req);
    return EXIT_OK;
}

// The largest statistics file compare reads (its JSON tree takes several times this in memory).
constexpr uint64_t MAX_STATISTICS_BYTES = uint64_t{256} << 20;

po::options_description compare_options() {
    po::options_description d("mmemu compare BASE.json NEW.json [options]");
    d.add_options()("help,h", "show this help")(
        "tolerance", po::value<std::vector<std::string>>()->composing(),
        "PATH=rel:FRACTION or PATH=abs:AMOUNT: numbers under PATH may differ by that much "
        "(repeatable; the first that covers a value applies). PATH is dot-separated keys and "
        "array indices; * is any one, ** any number of them: processes.*.Pss")(
        "ignore", po::value<std::vector<std::string>>()->composing(),
        "skip the values under PATH (repeatable)")(
        "format", po::value<std::string>()->default_value("text"), "text (a table) or json")(
        "with-manifest", "compare the manifest too (skipped by default; host is always skipped)");
    return d;
}

// Reads and parses one statistics file; nullopt after a message.
std::optional<ojson> load_statistics(const std::string& path) {
    std::string text, error;
    if (!read_input_file(path, MAX_STATISTICS_BYTES, "statistics",
                         "compare selected sections: mmemu run --sections", text, error)) {
        std::cerr << "mmemu: " << path << ": " << error << "\n";
        return std::nullopt;
    }
    JsonReadResult r = read_json(text);
    if (!r.ok) {
        std::cerr << "mmemu: " << path << ":" << r.error_pos.line << ":" << r.error_pos.column
                  << ": malformed JSON: expected " << r.error << "\n";
        return std::nullopt;
    }
    // The strict reader checked it (duplicate keys, depth, numbers); the value keeps the file's
    // order of members, as compare's rows and show's /proc files follow it.
    return ojson::parse(text);
}

int cmd_compare(int argc, char** argv) {
    const auto desc = compare_options();
    po::variables_map vm;
    std::vector<std::string> files;
    if (int rc = parse_command_line(argc, argv, desc, vm, files); rc) return rc < 0 ? EXIT_OK : rc;
    if (files.size() != 2) {
        std::cerr << "mmemu: compare needs two statistics files, BASE and NEW (got " << files.size()
                  << ")\n\n"
                  << desc;
        return EXIT_BAD_INPUT;
    }
    const std::string format = vm["format"].as<std::string>();
    if (format != "text" && format != "json") {
        std::cerr << "mmemu: --format expects text or json, got \"" << format << "\"\n";
        return EXIT_BAD_INPUT;
    }
    CompareOptions opt;
    opt.with_manifest = vm.count("with-manifest") > 0;
    if (vm.count("tolerance"))
        for (const auto& spec : vm["tolerance"].as<std::vector<std::string>>()) {
            Tolerance t;
            std::string error;
            if (!parse_tolerance(spec, t, error)) {
                std::cerr << "mmemu: --tolerance " << spec << ": " << error << "\n";
                return EXIT_BAD_INPUT;
            }
            opt.tolerances.push_back(std::move(t));
        }
    if (vm.count("ignore"))
        for (const auto& p : vm["ignore"].as<std::vector<std::string>>()) {
            std::string error;
            if (!check_pattern(p, error)) {
                std::cerr << "mmemu: --ignore " << p << ": " << error << "\n";
                return EXIT_BAD_INPUT;
            }
            opt.ignores.push_back(p);
        }
    const auto base = load_statistics(files[0]);
    if (!base) return EXIT_BAD_INPUT;
    const auto now = load_statistics(files[1]);
    if (!now) return EXIT_BAD_INPUT;
    if (const auto why = check_comparable(*base, *now)) {
        std::cerr << "mmemu: " << files[0] << ", " << files[1] << ": " << *why << "\n";
        return EXIT_BAD_INPUT;
    }
    const CompareReport report = compare_statistics(*base, *now, opt);
    if (format == "json")
        std::cout << report_json(report).dump(2) << "\n";
    else
        std::cout << report_text(report);
    std::cout.flush();
    if (!std::cout) return EXIT_OUTPUT;
    return report.ok() ? EXIT_OK : EXIT_EXPECTATION;
}

po::options_description show_options() {
    po::options_description d(
        "mmemu show STATS.json [SECTION...] [options]\nsections: meminfo, "
        "vmstat, numastat, buddyinfo, pagetypeinfo, zoneinfo, slabinfo, status, "
        "smaps_rollup, ksm (all that the state has when none is named)");
    d.add_options()("help,h",
                    "show this help")("checkpoint", po::value<std::string>(),
                                      "the state after this checkpoint (default: the final state)");
    return d;
}

int cmd_show(int argc, char** argv) {
    const auto desc = show_options();
    po::variables_map vm;
    std::vector<std::string> args;
    if (int rc = parse_command_line(argc, argv, desc, vm, args); rc) return rc < 0 ? EXIT_OK : rc;
    if (args.empty()) {
        std::cerr << "mmemu: show needs a statistics file (from mmemu run -o)\n\n" << desc;
        return EXIT_BAD_INPUT;
    }
    const std::string file = args.front();
    args.erase(args.begin());
    const auto stats = load_statistics(file);
    if (!stats) return EXIT_BAD_INPUT;
    if (const auto why = check_comparable(*stats, *stats)) {
        std::cerr << "mmemu: " << file << ": " << *why << "\n";
        return EXIT_BAD_INPUT;
    }
    std::string error;
    const auto text = show_sections(
        *stats, args, vm.count("checkpoint") ? vm["checkpoint"].as<std::string>() : "", error);
    if (!text) {
        std::cerr << "mmemu: " << file << ": " << error << "\n";
        return EXIT_BAD_INPUT;
    }
    std::cout << *text;
    std::cout.flush();
    return std::cout ? EXIT_OK : EXIT_OUTPUT;
}

int cmd_validate(int argc, char** argv) {
    po::variables_map vm;
    std::string path;
    const auto desc = validate_options();
    if (int rc = parse(argc, argv, desc, vm, path); rc) return rc < 0 ? EXIT_OK : rc;
    const auto sets = sets_of(vm);
    if (!sets) return EXIT_BAD_INPUT;
    auto sc = load(path, *sets);
    if (!sc) return EXIT_BAD_INPUT;
    std::cout << path << ": valid (" << sc->ops.size() << " events)\n";
    return EXIT_OK;
}

// Whether two paths name one existing file.
bool same_file(const std::string& x, const std::string& y) {
    struct stat a {
    }, b{};
    return ::stat(x.c_str(), &a) == 0 && ::stat(y.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

int cmd_run(int argc, char** argv) {
    po::variables_map vm;
    std::string path;
    const auto desc = run_options();
    if (int rc = parse(argc, argv, desc, vm, path); rc) return rc < 0 ? EXIT_OK : rc;
    const auto sets = sets_of(vm);
    if (!sets) return EXIT_BAD_INPUT;
    std::vector<std::string> sections(std::begin(kSections), std::end(kSections));
    if (vm.count("sections") && !parse_sections(vm["sections"].as<std::string>(), sections))
        return EXIT_BAD_INPUT;
    auto sc = load(path, *sets);
    if (!sc) return EXIT_BAD_INPUT;
    // The output is checked before anything runs: a usage error writes nothing.
    std::string out_file;
    if (vm.count("output")) {
        out_file = vm["output"].as<std::string>();
        if (out_file.empty()) {
            std::cerr << "mmemu: -o/--output needs a file name (or leave it out for stdout)\n";
            return EXIT_BAD_INPUT;
        }
        if (same_file(out_file, path)) {
            std::cerr << "mmemu: -o " << out_file
                      << ": that is the scenario file; the statistics would overwrite it\n";
            return EXIT_BAD_INPUT;
        }
    }
    // The trace file, opened (and so checked) before anything runs too.
    std::unique_ptr<TraceWriter> trace;
    std::string trace_file;
    if (vm.count("trace-limit") && !vm.count("trace")) {
        std::cerr << "mmemu: --trace-limit goes with --trace FILE\n";
        return EXIT_BAD_INPUT;
    }
    if (vm.count("trace")) {
        trace_file = vm["trace"].as<std::string>();
        uint64_t limit = DEFAULT_TRACE_EVENTS;
        if (vm.count("trace-limit")) {
            const std::string s = vm["trace-limit"].as<std::string>();
            const auto r = std::from_chars(s.data(), s.data() + s.size(), limit);
            if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || limit == 0) {
                std::cerr << "mmemu: --trace-limit expects a number of events from 1 to "
                          << UINT64_MAX << ", got \"" << s << "\"\n";
                return EXIT_BAD_INPUT;
            }
        }
        if (trace_file.empty()) {
            std::cerr << "mmemu: --trace needs a file name\n";
            return EXIT_BAD_INPUT;
        }
        if (vm.count("concurrent")) {
            std::cerr << "mmemu: --trace needs the deterministic mode (the concurrent mode's "
                         "virtual times move from run to run); leave out --concurrent\n";
            return EXIT_BAD_INPUT;
        }
        if (same_file(trace_file, path)) {
            std::cerr << "mmemu: --trace " << trace_file
                      << ": that is the scenario file; the trace would overwrite it\n";
            return EXIT_BAD_INPUT;
        }
        struct stat so {
        }, t{};
        const bool is_stdout = out_file.empty() && ::fstat(STDOUT_FILENO, &so) == 0 &&
                               S_ISREG(so.st_mode) && ::stat(trace_file.c_str(), &t) == 0 &&
                               so.st_dev == t.st_dev && so.st_ino == t.st_ino;
        if (is_stdout ||
            (!out_file.empty() && (out_file == trace_file || same_file(out_file, trace_file)))) {
            std::cerr
                << "mmemu: --trace " << trace_file
                << ": the statistics go there too (-o or stdout); give the trace another file\n";
            return EXIT_BAD_INPUT;
        }
        std::string why;
        trace = TraceWriter::open(trace_file, limit, why);
        if (!trace) {
            std::cerr << "mmemu: --trace " << trace_file << ": " << why << "\n";
            return EXIT_OUTPUT;
        }
    }
    const auto t0 = std::chrono::steady_clock::now();
    RunOptions opt;
    opt.trace = trace.get();
    opt.audit = !vm.count("no-audit");
    // The progress line: on a terminal only, redrawn in place at most five times a second.
    const bool progress = !vm.count("quiet") && ::isatty(STDERR_FILENO);
    auto last_draw = t0 - std::chrono::seconds(1);
    bool drawn = false;
    if (progress)
        opt.progress = [&](size_t done, size_t total, uint64_t now_ns) {
            const auto now = std::chrono::steady_clock::now();
            if (done < total && now - last_draw < std::chrono::milliseconds(200)) return;
            last_draw = now;
            drawn = true;
            const double host = std::chrono::duration<double>(now - t0).count();
            char eta[32] = "?";
            if (done)
                std::snprintf(eta, sizeof eta, "%.1f s",
                              host * double(total - done) / double(done));
            std::fprintf(
                stderr,
                "\rmmemu: event %zu/%zu (%.0f%%), virtual %.3f s, host %.1f s, ETA %s\033[K", done,
                total, total ? 100.0 * double(done) / double(total) : 100.0, double(now_ns) / 1e9,
                host, eta);
            std::fflush(stderr);
        };
    opt.concurrent = vm.count("concurrent") > 0;
    if (opt.concurrent)
        if (const std::string why = concurrent_mode_refusal(*sc); !why.empty()) {
            std::cerr << "mmemu: " << path << ": " << why << "\n";
            return EXIT_BAD_INPUT;
        }
    std::string error;
    auto d = Driver::boot(*sc, opt, error);
    if (!d) {
        std::cerr << "mmemu: " << path << ": the machine cannot boot: " << error << "\n";
        return EXIT_BAD_INPUT;
    }
    try {
        d->run();
    } catch (const KernelBug& e) {
        if (drawn) std::fprintf(stderr, "\r\033[K");
        std::cerr << "mmemu: internal error: " << e.what() << "\n";
        return EXIT_INTERNAL;
    }
    if (drawn) std::fprintf(stderr, "\r\033[K"); // the line is erased once the run ends
    if (trace) {
        std::string why;
        if (!trace->finish(why)) {
            std::cerr << "mmemu: --trace " << trace_file << ": " << why << "\n";
            return EXIT_OUTPUT;
        }
        if (trace->events_dropped())
            std::cerr << "mmemu: --trace " << trace_file << ": the trace stops at its limit of "
                      << trace->events_written() << " events; " << trace->events_dropped()
                      << " more were left out (--trace-limit)\n";
    }
    const Results& res = d->results();
    HostInfo host;
    char name[256] = {};
    gethostname(name, sizeof name - 1);
    host.hostname = name;
    host.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    host.rss_bytes = host_rss_bytes();
    ojson st = d->statistics(&host);
    for (const char* s : kSections)
        if (std::find(sections.begin(), sections.end(), s) == sections.end()) st.erase(s);
    const std::string out = (vm.count("compact") ? st.dump() : dump_rows(st)) + "\n";
    if (!out_file.empty()) {
        std::ofstream f(out_file, std::ios::binary);
        f << out;
        f.close();
        if (!f) {
            std::cerr << "mmemu: " << out_file << ": cannot write the statistics\n";
            return EXIT_OUTPUT;
        }
    } else {
        std::cout << out;
        std::cout.flush();
        if (!std::cout) return EXIT_OUTPUT;
    }
    if (res.kernel_bug) {
        std::cerr << "mmemu: " << path << ": the emulated kernel hit a BUG at event "
                  << res.kernel_bug->event << " (" << res.kernel_bug->op
                  << "); the run stopped there: " << res.kernel_bug->message << "\n";
        return EXIT_KERNEL_BUG;
    }
    if (res.limit_reached) {
        std::cerr << "mmemu: " << path << ": a limit of mmemu's was reached after event "
                  << res.limit_reached->event << " (" << res.limit_reached->op
                  << "); the run stopped there: " << res.limit_reached->message << "\n";
        return EXIT_LIMIT;
    }
    if (res.expectations_failed()) {
        std::cerr << "mmemu: " << path << ": " << res.expectations_failed() << " expectation"
                  << (res.expectations_failed() == 1 ? "" : "s")
                  << " failed (see results.expectations)\n";
        return EXIT_EXPECTATION;
    }
    return EXIT_OK;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << kUsage;
        return EXIT_BAD_INPUT;
    }
    const std::string cmd = argv[1];
    if (cmd == "--help" || cmd == "-h") {
        std::cout << kUsage;
        return EXIT_OK;
    }
    if (cmd == "--version") {
        std::cout << "mmemu " << MMEMU_VERSION << "\n";
        return EXIT_OK;
    }
    if (cmd == "help") {
        const std::string topic = argc > 2 ? argv[2] : "";
        if (argc > 3) {
            std::cerr << "mmemu: help takes one topic\n\n" << kUsage;
            return EXIT_BAD_INPUT;
        }
        if (topic.empty())
            std::cout << kUsage;
        else if (topic == "run")
            std::cout << run_options();
        else if (topic == "validate")
            std::cout << validate_options();
        else if (topic == "explain")
            std::cout << explain_options();
        else if (topic == "compare")
            std::cout << compare_options();
        else if (topic == "show")
            std::cout << show_options();
        else if (topic == "sweep")
            std::cout << sweep_options();
        else if (topic == "statistics")
            std::cout << statistics_reference_markdown();
        else {
            std::cerr << "mmemu: no help on \"" << topic
                      << "\" (topics: run, validate, explain, compare, show, sweep, statistics)\n";
            return EXIT_BAD_INPUT;
        }
        return EXIT_OK;
    }
    try {
        if (cmd == "run") return cmd_run(argc - 1, argv + 1);
        if (cmd == "validate") return cmd_validate(argc - 1, argv + 1);
        if (cmd == "explain") return cmd_explain(argc - 1, argv + 1);
        if (cmd == "compare") return cmd_compare(argc - 1, argv + 1);
        if (cmd == "show") return cmd_show(argc - 1, argv + 1);
        if (cmd == "sweep") return cmd_sweep(argc - 1, argv + 1);
    } catch (const std::bad_alloc&) {
        std::cerr << "mmemu: the host ran out of memory\n";
        return EXIT_INTERNAL;
    } catch (const std::exception& e) {
        std::cerr << "mmemu: internal error: " << e.what() << "\n";
        return EXIT_INTERNAL;
    }
    std::cerr << "mmemu: unknown command \"" << cmd << "\"\n\n" << kUsage;
    return EXIT_BAD_INPUT;
}
