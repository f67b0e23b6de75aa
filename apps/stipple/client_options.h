// What the client commands (generate without --local, status, wait, cancel, events, list, models,
// queue) share: the server options (--server, --api-key, --json, --retries), the client they
// make, and how an error or a task's final state becomes a one-line message and an exit code
// (docs/cli.md).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "client/client.h"
#include "common/config.h"
#include "common_options.h"
#include "core/task_state.h"

namespace stipple::app {

// --server URL (STIPPLE_SERVER, or STIPPLE_URL), --api-key KEY (STIPPLE_API_KEY), --json,
// --retries N.
std::span<const OptionSpec> ClientOptionSpecs();

// ParseCommandOptions over `specs` + ClientOptionSpecs(), with STIPPLE_URL read as the server
// URL when STIPPLE_SERVER is not set.
ParsedOptions ParseClientCommandOptions(std::string_view usage, std::span<const OptionSpec> specs,
                                        std::span<const std::string> args);

// The client the options describe; kInvalidArgument names a bad --server or --retries.
Result<std::unique_ptr<client::Client>> MakeClient(const Config& config);

bool WantsJson(const Config& config);

// The exit code for a failed call: kExitUsage (the server refused the request as invalid),
// kExitUnauthorized, kExitNotFound, kExitUnreachable, kExitFailure for the rest.
int ExitCodeFor(const Status& status);
// The exit code for a task's state: kExitOk (succeeded), kExitFailure (failed), kExitCanceled,
// kExitExpired, kExitTimeout (still queued or running).
int ExitCodeForState(TaskState state);

// Prints "stipple COMMAND: MESSAGE" to stderr, the message worded for a person (an unreachable
// server names its URL and the options that set it; a refused key says how to give one), and
// returns ExitCodeFor(status).
int ReportError(std::string_view command, const Status& status, const Config& config);

}  // namespace stipple::app
