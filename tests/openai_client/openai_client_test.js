// The official OpenAI client library (npm `openai`, under node) against the real `stipple serve`
// on the bundled model: POST /v1/images/generations as the library sends it, unchanged but for
// the base URL.
//
//   node openai_client_test.js --stipple BIN --model-dir DIR
//
// b64_json (the default) and url answers, stipple's own fields passed through, and errors that
// the library turns into its typed errors (400 with the field as `param`, 401, 429 from the
// tenant quota). Exit status 0 on success.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs, startServer: startStipple, stopServer } = require('../support/stipple_server');

let OpenAI;
try {
  ({ OpenAI } = require('openai'));
} catch {
  console.error('the openai package is missing: run scripts/install-deps.sh (npm install in tests/)');
  process.exit(1);
}

const args = parseArgs(process.argv);
if (!args.stipple || !args['model-dir']) {
  console.error('usage: node openai_client_test.js --stipple BIN --model-dir DIR');
  process.exit(2);
}

// Generous: a loaded 2-core machine runs this too. Nothing here asserts a duration.
const WAIT = 300_000;

function startServer(dataDir, extra) {
  return startStipple({ stipple: args.stipple, modelDir: args['model-dir'], dataDir, extra, waitMs: WAIT });
}

function log(...parts) {
  console.log('[openai_client_test]', ...parts);
}

function assertPng(bytes) {
  assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG');
}

async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stipple-openai-'));
  const keysFile = path.join(dataDir, 'keys.txt');
  let keys = 'alice key-a\nbob key-b\n';
  for (let i = 0; i < 10; ++i) keys += `tenant${i} key-${i}\n`;
  fs.writeFileSync(keysFile, keys);
  let server;
  try {
    server = await startServer(path.join(dataDir, 'data'), ['--api-keys', keysFile, '--tenant-max-queued', '1']);
    const client = new OpenAI({ apiKey: 'key-a', baseURL: `${server.base}/v1`, maxRetries: 0, timeout: WAIT });

    log('b64_json, two images, stipple fields passed through');
    const images = await client.images.generate({
      model: 'shapes-32', prompt: 'a big red circle on the left', n: 2, size: '32x32',
      response_format: 'b64_json', user: 'user-1', seed: 5, steps: 8,
    });
    assert.equal(typeof images.created, 'number');
    assert.equal(images.data.length, 2);
    for (const image of images.data) assertPng(Buffer.from(image.b64_json, 'base64'));

    log('b64_json is the default');
    const plain = await client.images.generate({ prompt: 'a small blue square', steps: 4 });
    assert.equal(plain.data.length, 1);
    assertPng(Buffer.from(plain.data[0].b64_json, 'base64'));

    log('url');
    const urls = await client.images.generate({ prompt: 'a green triangle', response_format: 'url', steps: 4 });
    const url = urls.data[0].url;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/v1\/tasks\/tsk_[0-9A-Z]{26}\/outputs\/0$/);
    const fetched = await fetch(url, { headers: { Authorization: 'Bearer key-a' } });
    assert.equal(fetched.status, 200);
    assert.equal(fetched.headers.get('content-type'), 'image/png');
    assertPng(Buffer.from(await fetched.arrayBuffer()));

    log('a bad field: BadRequestError naming it');
    await assert.rejects(client.images.generate({ prompt: 'a red circle', n: 99 }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, String(e));
      assert.equal(e.status, 400);
      assert.equal(e.param, 'n');
      assert.equal(e.type, 'invalid_request_error');
      return true;
    });
    await assert.rejects(client.images.generate({ prompt: 'a red circle', size: '1024x1024' }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, String(e));
      assert.equal(e.param, 'size');
      return true;
    });

    log('a wrong key: AuthenticationError');
    const stranger = new OpenAI({ apiKey: 'nobody', baseURL: `${server.base}/v1`, maxRetries: 0 });
    await assert.rejects(stranger.images.generate({ prompt: 'a red circle' }), (e) => {
      assert.ok(e instanceof OpenAI.AuthenticationError, String(e));
      assert.equal(e.code, 'invalid_api_key');
      return true;
    });

    log('the tenant quota: RateLimitError with Retry-After while bob has a task queued');
    // Ten other tenants queue a long task each (the quota is per tenant), then bob's one task
    // waits behind them, which fills his quota of 1 for a while.
    const submit = async (key, steps) => {
      const r = await fetch(`${server.base}/v1/tasks`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ prompt: 'a big red circle', steps, num_images: 8 }),
      });
      assert.equal(r.status, 202);
      return { key, id: (await r.json()).id };
    };
    const tasks = [];
    for (let i = 0; i < 10; ++i) tasks.push(await submit(`key-${i}`, 150 - i));  // not one batch
    tasks.push(await submit('key-b', 140));
    const bob = new OpenAI({ apiKey: 'key-b', baseURL: `${server.base}/v1`, maxRetries: 0 });
    await assert.rejects(bob.images.generate({ prompt: 'a red circle' }), (e) => {
      assert.ok(e instanceof OpenAI.RateLimitError, String(e));
      assert.ok(Number(e.headers.get('retry-after')) >= 1);
      return true;
    });
    for (const { key, id } of tasks) {
      await fetch(`${server.base}/v1/tasks/${id}/cancel`, { method: 'POST', headers: { Authorization: `Bearer ${key}` } });
    }
    log('ok');
  } finally {
    await stopServer(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
