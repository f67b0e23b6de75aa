// The node tests' side of a real `stipple serve`: command-line arguments, and starting and
// stopping the server on a free port.
'use strict';

const { spawn } = require('node:child_process');
const readline = require('node:readline');

// "--name value" pairs → {name: value}.
function parseArgs(argv) {
  const args = {};
  for (let i = 2; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1];
  return args;
}

// `stipple serve` on a free port of 127.0.0.1 over `dataDir`, one worker on one thread, plus
// `extra` arguments. Resolves with {process, base: 'http://127.0.0.1:PORT'} once it prints its
// address; rejects when it exits first or says nothing within `waitMs`.
function startServer({ stipple, modelDir, dataDir, extra = [], waitMs }) {
  const child = spawn(stipple, [
    'serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--model-dir', modelDir,
    '--threads', '1', '--workers', '1', '--log-level', 'warn', ...extra,
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('stipple serve did not print its address')), waitMs);
    child.on('exit', (code) => reject(new Error(`stipple serve exited early (${code})`)));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = line.match(/http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ process: child, base: `http://127.0.0.1:${m[1]}` });
      }
    });
  });
}

// SIGTERM (a drain), SIGKILL after 30 s; resolves once it exited. A server without a process
// (one the test did not start) is left alone.
function stopServer(server) {
  if (!server || !server.process || server.process.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    server.process.removeAllListeners('exit');
    server.process.on('exit', resolve);
    server.process.kill('SIGTERM');
    setTimeout(() => server.process.kill('SIGKILL'), 30_000).unref();
  });
}

module.exports = { parseArgs, startServer, stopServer };
