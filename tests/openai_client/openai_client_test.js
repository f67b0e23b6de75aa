// The official OpenAI client library (npm `openai`, under node) against the real `stipple serve`
// on the bundled model: POST /v1/images/generations and POST /v1/images/edits as the library
// sends them, unchanged but for the base URL.
//
//   node openai_client_test.js --stipple BIN --model-dir DIR
//
// b64_json (the default) and url answers, stipple's own fields passed through, and errors that
// the library turns into its typed errors (400 with the field as `param`, 401, 429 from the
// tenant quota). images.edit: an image and a mask (PNG files, multipart/form-data), answered as
// b64_json and as url; an image read from a file stream (sent as image[] by the library); bad
// images and masks refused naming the field. Exit status 0 on success.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs, startServer: startStipple, stopServer } = require('../support/stipple_server');
const { rgbaPng } = require('../support/png');

let OpenAI;
let toFile;
try {
  ({ OpenAI, toFile } = require('openai'));
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

function assertPng(bytes, width, height) {
  assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG');
  if (width) assert.deepEqual([bytes.readUInt32BE(16), bytes.readUInt32BE(20)], [width, height]);
}

// images.edit: errors first (they need nothing but the gateway), then edits that run.
async function checkEdits(client, server, dataDir) {
  // A 32x32 picture: blue sky over green grass. The mask is clear (alpha 0) over the top half:
  // OpenAI's way of saying "repaint the sky".
  const image = rgbaPng(32, 32, (x, y) => (y < 16 ? [90, 150, 230, 255] : [40, 160, 60, 255]));
  const mask = rgbaPng(32, 32, (x, y) => [0, 0, 0, y < 16 ? 0 : 255]);
  const png = (bytes, name) => toFile(bytes, name, { type: 'image/png' });

  log('edit: bad inputs are BadRequestErrors naming the field');
  const refused = async (body, param, message) => {
    await assert.rejects(client.images.edit(body), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, String(e));
      assert.equal(e.status, 400);
      assert.equal(e.param, param, e.message);
      assert.match(e.message, message);
      return true;
    });
  };
  await refused({ image: await toFile(Buffer.from('not an image'), 'a.txt'), prompt: 'sky' },
                'image', /PNG, JPEG or WebP/);
  await refused({ image: await png(image, 'a.png'), mask: await png(rgbaPng(16, 16, () => [0, 0, 0, 0]), 'm.png'),
                  prompt: 'sky' }, 'mask', /same size/);
  await refused({ image: await png(image, 'a.png'), mask: await png(image, 'm.png'), prompt: 'sky' },
                'mask', /nothing to edit/);
  await refused({ image: await png(image, 'a.png'), prompt: 'sky', n: 99 }, 'n', /./);
  await refused({ image: await png(image, 'a.png'), prompt: 'sky', response_format: 'png' },
                'response_format', /b64_json or url/);

  log('edit: image and mask, b64_json');
  const edited = await client.images.edit({
    image: await png(image, 'scene.png'), mask: await png(mask, 'mask.png'),
    prompt: 'a big red circle', n: 2, size: '32x32', response_format: 'b64_json', steps: 6, seed: 3,
  });
  assert.equal(typeof edited.created, 'number');
  assert.equal(edited.data.length, 2);
  for (const d of edited.data) assertPng(Buffer.from(d.b64_json, 'base64'), 32, 32);

  log('edit: url');
  const byUrl = await client.images.edit({
    image: await png(image, 'scene.png'), mask: await png(mask, 'mask.png'),
    prompt: 'a big red circle', response_format: 'url', steps: 4,
  });
  const fetched = await fetch(byUrl.data[0].url, { headers: { Authorization: 'Bearer key-a' } });
  assert.equal(fetched.status, 200);
  assertPng(Buffer.from(await fetched.arrayBuffer()), 32, 32);

  log('edit: a file stream as image[] (the image\'s own transparency as the mask), strength');
  const file = path.join(dataDir, 'clear-top.png');
  fs.writeFileSync(file, rgbaPng(32, 32, (x, y) => [90, 150, 230, y < 16 ? 0 : 255]));
  const streamed = await client.images.edit({
    image: [fs.createReadStream(file)], prompt: 'a green triangle', steps: 4, strength: 0.5,
  });
  assertPng(Buffer.from(streamed.data[0].b64_json, 'base64'), 32, 32);
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

    await checkEdits(client, server, dataDir);

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
