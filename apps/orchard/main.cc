// orchard: the command-line front end. The commands, flags and exit codes are
// orchard::cli::RunCommand's (cli.h), shared with the Python package's `orchard` command.
#include "cli.h"

int main(int argc, char** argv) { return orchard::cli::Main(argc, argv, ORCHARD_DEFAULT_MODEL); }
