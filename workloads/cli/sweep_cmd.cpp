// mmemu sweep GRID.json -o DIR [--jobs N] [--emit parallel|slurm] [--summarize]
//  - runs every point of the grid as its own `mmemu run` (this executable), up to N at once, each
//    writing DIR/points/NNNN.json, then writes DIR/summary.csv;
//  - --emit parallel writes DIR/jobs.txt (a command per point, for GNU parallel) and runs
//    nothing; --emit slurm writes DIR/jobs.txt and DIR/sweep.sbatch (a Slurm job array that
//    runs line $SLURM_ARRAY_TASK_ID of jobs.txt);
//  - --summarize writes DIR/summary.csv from the point files already there (after a cluster ran
//    them).
#include "workloads/cli/sweep_cmd.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <fstream>
#include <iostream>
#include <map>

#include "workloads/cli/exit_codes.h"
#include "workloads/cli/options.h"
#include "workloads/input_file.h"
#include "workloads/json_reader.h"
#include "workloads/scenario.h"
#include "workloads/sweep.h"

namespace po = boost::program_options;

namespace mmemu::cli {

namespace {

constexpr uint64_t MAX_GRID_BYTES = uint64_t{1} << 20;

std::string self_exe() {
    char buf[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return "mmemu";
    return std::string(buf, size_t(n));
}

std::string absolute(const std::string& p) {
    if (!p.empty() && p[0] == '/') return p;
    char buf[PATH_MAX];
    if (!::getcwd(buf, sizeof buf)) return p;
    return std::string(buf) + "/" + p;
}

bool write_file(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    f.close();
    return bool(f);
}

// Runs the points, up to `jobs` at once; their exit codes (127: could not start).
std::vector<int> run_points(const std::string& exe,
                            const std::vector<std::vector<std::string>>& argvs, unsigned jobs) {
    std::vector<int> codes(argvs.size(), -1);
    std::map<pid_t, size_t> running;
    size_t next = 0;
    while (next < argvs.size() || !running.empty()) {
        while (next < argvs.size() && running.size() < jobs) {
            std::vector<char*> args;
            std::string prog = exe;
            args.push_back(prog.data());
            std::vector<std::string> copy = argvs[next];
            for (auto& a : copy) args.push_back(a.data());
            args.push_back(nullptr);
            const pid_t pid = ::fork();
            if (pid == 0) {
                ::execv(exe.c_str(), args.data());
                ::_exit(127);
            }
            if (pid < 0) {
                codes[next++] = 127;
                continue;
            }
            running[pid] = next++;
        }
        int status = 0;
        const pid_t done = ::waitpid(-1, &status, 0);
        if (done < 0) break;
        auto it = running.find(done);
        if (it == running.end()) continue;
        codes[it->second] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        running.erase(it);
    }
    return codes;
}

} // namespace

po::options_description sweep_options() {
    po::options_description d("mmemu sweep GRID.json -o DIR [options]");
    d.add_options()("help,h", "show this help")("output,o", po::value<std::string>(),
                                                "the folder for the points' statistics and "
                                                "summary.csv (created; required)")(
        "jobs,j", po::value<unsigned>(), "points run at once (default: the machine's cores)")(
        "emit", po::value<std::string>(),
        "parallel: write DIR/jobs.txt (a command per point, for GNU parallel) and run nothing; "
        "slurm: also DIR/sweep.sbatch, a Slurm job array running those commands")(
        "summarize", "only write DIR/summary.csv from the points' statistics already there");
    return d;
}

int cmd_sweep(int argc, char** argv) {
    const auto desc = sweep_options();
    po::variables_map vm;
    std::vector<std::string> grids;
    if (int rc = parse_command_line(argc, argv, desc, vm, grids); rc) return rc < 0 ? EXIT_OK : rc;
    if (grids.size() != 1) {
        std::cerr << "mmemu: sweep needs one grid file\n\n" << desc;
        return EXIT_BAD_INPUT;
    }
    if (!vm.count("output") || vm["output"].as<std::string>().empty()) {
        std::cerr << "mmemu: sweep needs -o DIR, the folder for its results\n\n" << desc;
        return EXIT_BAD_INPUT;
    }
    const std::string emit = vm.count("emit") ? vm["emit"].as<std::string>() : "";
    if (!emit.empty() && emit != "parallel" && emit != "slurm") {
        std::cerr << "mmemu: --emit expects parallel or slurm, got \"" << emit << "\"\n";
        return EXIT_BAD_INPUT;
    }
    if (!emit.empty() && vm.count("summarize")) {
        std::cerr << "mmemu: --emit and --summarize are two steps: emit the jobs, run them, then "
                     "summarize\n";
        return EXIT_BAD_INPUT;
    }
    unsigned jobs = std::max(1u, unsigned(::sysconf(_SC_NPROCESSORS_ONLN)));
    if (vm.count("jobs")) {
        jobs = vm["jobs"].as<unsigned>();
        if (jobs == 0 || jobs > 1024) {
            std::cerr << "mmemu: --jobs expects 1 to 1024\n";
            return EXIT_BAD_INPUT;
        }
    }
    const std::string grid_path = grids[0];
    std::string text, error;
    if (!read_input_file(grid_path, MAX_GRID_BYTES, "grid", "a grid lists values, not runs", text,
                         error)) {
        std::cerr << "mmemu: " << grid_path << ": " << error << "\n";
        return EXIT_BAD_INPUT;
    }
    const size_t slash = grid_path.rfind('/');
    const std::string dir = absolute(slash == std::string::npos ? "." : grid_path.substr(0, slash));
    std::vector<Diagnostic> errors;
    const auto grid = parse_sweep_grid(text, dir, errors);
    if (!grid) {
        for (const auto& d : errors) std::cerr << format_diagnostic(grid_path, d) << "\n";
        return EXIT_BAD_INPUT;
    }
    const std::vector<SweepPoint> points = sweep_points(*grid);
    // Every point must be a valid scenario before anything runs (or is emitted).
    std::string scenario_text;
    if (!read_scenario_file(grid->scenario, scenario_text, error)) {
        std::cerr << "mmemu: " << grid_path << ": the scenario " << grid->scenario << ": " << error
                  << "\n";
        return EXIT_BAD_INPUT;
    }
    for (const auto& p : points) {
        std::vector<std::string> sets = p.sets;
        if (p.seed) sets.push_back("seed=" + std::to_string(*p.seed));
        const CompileResult r = compile_scenario(grid->scenario, scenario_text, sets);
        if (!r.errors.empty()) {
            std::cerr << "mmemu: " << grid_path << ": point " << p.index
                      << " is not a valid scenario:\n";
            for (const auto& d : r.errors)
                std::cerr << "  " << format_diagnostic(grid->scenario, d) << "\n";
            return EXIT_BAD_INPUT;
        }
    }
    const std::string out = absolute(vm["output"].as<std::string>());
    ::mkdir(out.c_str(), 0777);
    ::mkdir((out + "/points").c_str(), 0777);
    struct stat st {};
    if (::stat((out + "/points").c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        std::cerr << "mmemu: " << out << ": cannot create the output folder\n";
        return EXIT_OUTPUT;
    }
    const std::string exe = self_exe();
    std::vector<std::vector<std::string>> argvs;
    for (const auto& p : points)
        argvs.push_back(
            sweep_run_args(*grid, p, out + "/" + sweep_point_file(p.index, points.size())));

    if (!emit.empty()) {
        std::string lines;
        for (const auto& a : argvs) lines += shell_command(exe, a) + "\n";
        if (!write_file(out + "/jobs.txt", lines)) {
            std::cerr << "mmemu: " << out << "/jobs.txt: cannot write it\n";
            return EXIT_OUTPUT;
        }
        std::cout << out << "/jobs.txt: " << points.size()
                  << " commands (run them with: parallel < " << out << "/jobs.txt)\n";
        if (emit == "slurm") {
            ::mkdir((out + "/logs").c_str(), 0777);
            const std::string sbatch =
                "#!/bin/bash\n"
                "# mmemu sweep: a Slurm job array, one task per point of " +
                grid_path +
                ".\n"
                "# Submit with: sbatch " +
                out +
                "/sweep.sbatch\n"
                "# then: " +
                shell_command(exe, {"sweep", absolute(grid_path), "-o", out, "--summarize"}) +
                "\n"
                "#SBATCH --job-name=mmemu-sweep\n"
                "#SBATCH --array=0-" +
                std::to_string(points.size() - 1) +
                "\n"
                "#SBATCH --ntasks=1\n"
                "#SBATCH --cpus-per-task=1\n"
                "#SBATCH --output=" +
                out +
                "/logs/%a.out\n"
                "set -euo pipefail\n"
                "line=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" " +
                out +
                "/jobs.txt)\n"
                "eval \"$line\"\n";
            if (!write_file(out + "/sweep.sbatch", sbatch)) {
                std::cerr << "mmemu: " << out << "/sweep.sbatch: cannot write it\n";
                return EXIT_OUTPUT;
            }
            std::cout << out << "/sweep.sbatch: a job array of " << points.size()
                      << " tasks (submit with: sbatch " << out << "/sweep.sbatch)\n";
        }
        return EXIT_OK;
    }

    std::vector<int> codes(points.size(), -1);
    if (!vm.count("summarize")) {
        // A point's statistics from an earlier sweep into this folder must not stand in for a
        // point that writes none now.
        for (size_t i = 0; i < points.size(); ++i)
            ::unlink((out + "/" + sweep_point_file(i, points.size())).c_str());
        codes = run_points(exe, argvs, jobs);
    }
    std::vector<nlohmann::ordered_json> stats(points.size());
    size_t failed = 0, missing = 0;
    for (size_t i = 0; i < points.size(); ++i) {
        const std::string f = out + "/" + sweep_point_file(i, points.size());
        std::string s;
        if (!read_input_file(f, uint64_t{256} << 20, "statistics", "", s, error) ||
            !read_json(s).ok) {
            ++missing;
            continue;
        }
        stats[i] = nlohmann::ordered_json::parse(s);
        if (codes[i] > 0) ++failed;
    }
    for (size_t i = 0; i < points.size(); ++i)
        if (codes[i] > 0 && stats[i].is_null()) ++failed;
    if (!write_file(out + "/summary.csv", sweep_summary_csv(*grid, points, stats, codes))) {
        std::cerr << "mmemu: " << out << "/summary.csv: cannot write it\n";
        return EXIT_OUTPUT;
    }
    std::cout << out << "/summary.csv: " << points.size() << " points";
    if (missing) std::cout << ", " << missing << " without statistics";
    if (failed) std::cout << ", " << failed << " exited non-zero";
    std::cout << "\n";
    return failed || missing ? EXIT_EXPECTATION : EXIT_OK;
}

} // namespace mmemu::cli
