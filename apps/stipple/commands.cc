#include "commands.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "common_options.h"

namespace stipple::app {
namespace {

const Command* FindCommand(std::string_view name) {
  for (const Command& command : Commands()) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

std::string Usage() {
  std::string out = "stipple " + std::string(Version()) +
                    ": serves text-to-image diffusion models over HTTP\n\n"
                    "usage: stipple COMMAND [OPTIONS]\n\ncommands:\n";
  size_t width = 0;
  for (const Command& command : Commands()) width = std::max(width, command.name.size());
  for (const Command& command : Commands()) {
    out += "  " + std::string(command.name) + std::string(width - command.name.size() + 3, ' ') +
           std::string(command.help) + "\n";
  }
  out += "\n'stipple COMMAND --help' lists the options of a command.\n";
  return out;
}

}  // namespace

std::span<const Command> Commands() {
  static constexpr Command kCommands[] = {
      {"help", "list the commands, or show the options of one: help [COMMAND]", RunHelp},
      {"version", "print the version", RunVersion},
      {"serve", "the all-in-one server: HTTP API, task store, workers on the bundled model",
       RunServe},
      {"gateway", "the HTTP API and task store alone; worker processes connect to it", RunGateway},
      {"worker", "a worker process: runs tasks for a gateway (--gateway URL --token TOKEN)",
       RunWorker},
      {"generate", "generate images from a prompt, through a server or in this process (--local)",
       RunGenerate},
      {"train", "train the shipped shapes-32 model (resumable)", RunTrain},
      {"eval", "measure how well a model follows prompts (colour, shape, size, position)", RunEval},
      {"status", "show tasks on a server: status TASK_ID...", RunStatus},
      {"wait", "wait for tasks to end: wait TASK_ID... [--timeout S]", RunWait},
      {"cancel", "cancel tasks: cancel TASK_ID...", RunCancel},
      {"events", "follow tasks' events as they happen: events TASK_ID...", RunEvents},
      {"list", "list your tasks on a server, newest first", RunList},
      {"models", "list the models a server can run", RunModels},
      {"queue", "show a server's queue figures", RunQueue},
      {"workers", "list a server's workers and the models each runs", RunWorkers},
      {"bench", "load a server open-loop and report latency, queue wait and lost tasks (--plot)",
       RunBench},
  };
  return kCommands;
}

std::string_view Version() { return STIPPLE_VERSION; }

int RunCommandLine(std::span<const std::string> args) {
  if (args.empty()) {
    std::fputs(Usage().c_str(), stderr);
    return kExitUsage;
  }
  const std::string& name = args[0];
  if (name == "--help" || name == "-h") return RunHelp({});
  if (name == "--version") return RunVersion({});
  const Command* command = FindCommand(name);
  if (command == nullptr) {
    std::fprintf(stderr, "stipple: unknown command '%s'; 'stipple help' lists the commands\n",
                 name.c_str());
    return kExitUsage;
  }
  return command->run(args.subspan(1));
}

int RunHelp(std::span<const std::string> args) {
  if (args.empty()) {
    std::fputs(Usage().c_str(), stdout);
    return kExitOk;
  }
  // `stipple help CMD` is `stipple CMD --help`.
  const Command* command = FindCommand(args[0]);
  if (command == nullptr) {
    std::fprintf(stderr, "stipple: unknown command '%s'; 'stipple help' lists the commands\n",
                 args[0].c_str());
    return kExitUsage;
  }
  const std::vector<std::string> help_flag = {"--help"};
  return command->run(help_flag);
}

int RunVersion(std::span<const std::string> args) {
  ParsedOptions parsed = ParseCommandOptions("stipple version", {}, args);
  if (!parsed.config) return parsed.exit_code;
  std::printf("stipple %s\n", std::string(Version()).c_str());
  return kExitOk;
}

}  // namespace stipple::app
