// `mmemu sweep`: the command (workloads/sweep.h holds the grid and its points).
#pragma once

#include <boost/program_options.hpp>

namespace mmemu::cli {

boost::program_options::options_description sweep_options();
int cmd_sweep(int argc, char** argv);

} // namespace mmemu::cli
