// The stipple binary's subcommands: one table of {name, one-line help, function}. A new command
// is one entry in Commands() (commands.cc) and a function declared here, usually in its own file.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace stipple::app {

// A command's function gets the words after its name and returns the process exit code
// (kExitOk, kExitFailure, kExitUsage from common_options.h).
using CommandFunction = int (*)(std::span<const std::string> args);

struct Command {
  std::string_view name;
  std::string_view help;  // one line, lower case, no full stop
  CommandFunction run;
};

// Every command, in the order `stipple help` lists them.
std::span<const Command> Commands();

// Runs the command named by args[0] (argv without the program name) and returns its exit code.
// No command, or an unknown one, prints the usage to stderr and returns kExitUsage.
int RunCommandLine(std::span<const std::string> args);

// "0.1.0": the CMake project version.
std::string_view Version();

// The commands.
int RunHelp(std::span<const std::string> args);
int RunVersion(std::span<const std::string> args);
int RunGenerate(std::span<const std::string> args);  // generate.cc
int RunTrain(std::span<const std::string> args);     // train.cc
int RunEval(std::span<const std::string> args);      // eval.cc
int RunServe(std::span<const std::string> args);     // serve.cc
int RunGateway(std::span<const std::string> args);   // serve.cc
int RunWorker(std::span<const std::string> args);    // worker.cc
int RunBench(std::span<const std::string> args);     // bench.cc
// The client commands (client_commands.cc).
int RunStatus(std::span<const std::string> args);
int RunWait(std::span<const std::string> args);
int RunCancel(std::span<const std::string> args);
int RunEvents(std::span<const std::string> args);
int RunList(std::span<const std::string> args);
int RunModels(std::span<const std::string> args);
int RunQueue(std::span<const std::string> args);
int RunWorkers(std::span<const std::string> args);

}  // namespace stipple::app
