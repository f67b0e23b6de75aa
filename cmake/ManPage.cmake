# Writes OUTPUT: stipple(1), a man page made from the binary's own help — `stipple help` for the
# command list and `stipple COMMAND --help` for each command's options — so it cannot drift from
# the option tables. Run as a build step:
#   cmake -DSTIPPLE=path/to/stipple -DVERSION=0.1.0 -DOUTPUT=stipple.1 -P ManPage.cmake

foreach(var STIPPLE VERSION OUTPUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "ManPage.cmake: ${var} is not set")
  endif()
endforeach()

# Roff text: backslashes doubled, a leading dot or quote escaped, '-' kept literal.
function(roff_escape text out)
  string(REPLACE "\\" "\\e" text "${text}")
  string(REPLACE "-" "\\-" text "${text}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

function(run_help out)
  execute_process(COMMAND ${STIPPLE} ${ARGN} OUTPUT_VARIABLE text RESULT_VARIABLE rc
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "ManPage.cmake: '${STIPPLE} ${ARGN}' failed (${rc}): ${err}")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

run_help(usage help)
string(REGEX MATCHALL "\n  [a-z]+  " lines "${usage}")
set(commands "")
foreach(line IN LISTS lines)
  string(STRIP "${line}" name)
  # `help` is the command list above; `stipple help --help` is not a thing.
  if(NOT name STREQUAL "help")
    list(APPEND commands "${name}")
  endif()
endforeach()
if(NOT commands)
  message(FATAL_ERROR "ManPage.cmake: no commands in the output of 'stipple help'")
endif()

string(TIMESTAMP date "%Y-%m-%d" UTC)
roff_escape("${usage}" usage_roff)
set(page ".TH STIPPLE 1 \"${date}\" \"stipple ${VERSION}\" \"User Commands\"
.SH NAME
stipple \\- serves text\\-to\\-image diffusion models over HTTP
.SH SYNOPSIS
.B stipple
.I COMMAND
[\\fIOPTIONS\\fR]
.SH DESCRIPTION
.nf
${usage_roff}.fi
.PP
Every option is also read from the environment (STIPPLE_ and the option's name in capitals,
dashes as underscores) and from a config file (\\-\\-config FILE or STIPPLE_CONFIG); a flag wins
over the environment, which wins over the file.
.PP
Without \\-\\-model\\-dir, serve, gateway, worker, generate \\-\\-local and eval run on the bundled
shapes\\-32 model, installed in share/stipple/models beside the binary's bin/ directory.
.SH COMMANDS
")
foreach(name IN LISTS commands)
  run_help(text ${name} --help)
  roff_escape("${text}" text_roff)
  string(APPEND page ".SS ${name}\n.nf\n${text_roff}.fi\n")
endforeach()
string(APPEND page ".SH FILES
.TP
.I share/stipple/models/shapes\\-32
the bundled model (under the installation prefix)
.TP
.I lib/systemd/system/stipple\\-gateway.service, stipple\\-worker@.service
systemd units for a gateway and its workers
.TP
.I share/doc/stipple
the documentation; examples/ holds the environment files and Kubernetes manifests
")
file(WRITE "${OUTPUT}" "${page}")
