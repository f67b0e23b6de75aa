// The web page in a real browser: Debian's Chromium, headless, driven by playwright-core,
// against the real `stipple serve` on the bundled model (a free port, a temporary data dir).
//
//   node web_page_test.js --stipple BIN --model-dir DIR --artifacts DIR
//                         [--scenario open|keys|models|image|image_result]
//                         [--url URL]   (a fresh server already running, instead of starting one)
//
// open: load the page; a bad setting is refused in plain words and creates nothing; submit a
//   prompt from the keyboard and see live progress with previews, then the final image, and
//   download it; submit a long second task and cancel it; reload and find both in the gallery.
// keys: the server has an API key file: the page asks for a key, keeps it in the browser's
//   storage, and then makes an image (events and images are fetched with the key).
// image: a start image dropped on the page, a mask stroke painted over it, the strength slider
//   moved: the request the page sends carries init_image (the file's bytes), mask_image (a PNG
//   of the image's size, white where painted) and strength; the mask can be cleared and the
//   image removed.
// image_result: the same edit runs through and its image appears.
// Screenshots of every stage go to --artifacts. Exit status 0 on success.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs, startServer: startStipple, stopServer } = require('../support/stipple_server');

let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch {
  console.error('playwright-core is missing: run scripts/install-deps.sh (npm install in tests/)');
  process.exit(1);
}

const args = parseArgs(process.argv);
for (const need of ['stipple', 'model-dir', 'artifacts']) {
  if (!args[need]) {
    console.error('usage: node web_page_test.js --stipple BIN --model-dir DIR --artifacts DIR ' +
                  '[--scenario open|keys|models|image|image_result]');
    process.exit(2);
  }
}
const scenario = args.scenario || 'open';
const artifacts = path.join(args.artifacts, scenario);
fs.rmSync(artifacts, { recursive: true, force: true });
fs.mkdirSync(artifacts, { recursive: true });

// Generous: a loaded 2-core machine runs this too. Nothing here asserts a duration.
const WAIT = 120_000;

// `stipple serve` for this test; {process, url} with the page's URL.
async function startServer(dataDir, extra) {
  const server = await startStipple({ stipple: args.stipple, modelDir: args['model-dir'], dataDir, extra, waitMs: WAIT });
  return { process: server.process, url: `${server.base}/` };
}

function log(...parts) {
  console.log(`[web_page_test ${scenario}]`, ...parts);
}

async function shot(page, name) {
  const file = path.join(artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  log('screenshot', file);
}

// Every state the page showed for the current task, recorded in the page as it happens (a task
// on a fast machine may pass through its steps between two polls of the test).
function recordProgress(page) {
  return page.evaluate(() => {
    window.__seen = { steps: [], previews: 0, statuses: [] };
    const note = () => {
      const step = document.getElementById('current-step').textContent;
      if (step && window.__seen.steps.at(-1) !== step) window.__seen.steps.push(step);
      const status = document.getElementById('current').dataset.status;
      if (status && window.__seen.statuses.at(-1) !== status) window.__seen.statuses.push(status);
      if (document.querySelector('#current-images img.preview[src^="data:image/png"]')) window.__seen.previews++;
    };
    new MutationObserver(note).observe(document.getElementById('current'),
      { subtree: true, childList: true, attributes: true, characterData: true });
  });
}

// Waits until every <img> matched by `selector` has loaded a 32×32 picture.
async function waitForImages(page, selector, count) {
  await page.waitForFunction(([sel, n]) => {
    const imgs = [...document.querySelectorAll(sel)];
    return imgs.length >= n && imgs.every((i) => i.complete && i.naturalWidth === 32 && i.naturalHeight === 32);
  }, [selector, count], { timeout: WAIT });
}

async function checkServedFiles(base) {
  const page = await fetch(base);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  const etag = page.headers.get('etag');
  assert.ok(etag, 'the page has an ETag');
  assert.equal((await fetch(base, { headers: { 'If-None-Match': etag } })).status, 304);
  const js = await fetch(new URL('assets/app.js', base));
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  const css = await fetch(new URL('assets/style.css', base));
  assert.match(css.headers.get('content-type'), /^text\/css/);
  assert.equal((await fetch(new URL('assets/nope.js', base))).status, 404);
}

async function openScenario(page, base) {
  await page.goto(base);
  await page.waitForSelector('#model option', { state: 'attached', timeout: WAIT });
  await page.waitForSelector('#gallery-empty:not([hidden])', { timeout: WAIT });
  await page.waitForFunction(() => /Queue: \d+ waiting/.test(document.getElementById('queue').textContent),
                             null, { timeout: WAIT });
  await shot(page, '01-loaded');

  // A setting out of range: the server's answer, in plain words, naming the field; no task.
  await page.fill('#prompt', 'a big red circle on the left');
  await page.fill('#steps', '500');
  await page.click('#submit');
  await page.waitForSelector('#error:not([hidden])', { timeout: WAIT });
  assert.match(await page.textContent('#error-text'), /Steps: must be between 1 and 150/);
  assert.equal(await page.getAttribute('#steps', 'aria-invalid'), 'true');
  await shot(page, '02-bad-setting');
  assert.equal(await page.locator('#gallery .card').count(), 0);

  // First task, from the keyboard: settings, then Ctrl+Enter in the prompt.
  await page.fill('#steps', '60');
  await page.fill('#seed', '7');
  await recordProgress(page);
  await page.focus('#prompt');
  await page.keyboard.press('Control+Enter');
  await page.waitForSelector('#current[data-id]', { timeout: WAIT });
  assert.equal(await page.isHidden('#error'), true, 'the error went away');
  const first = await page.getAttribute('#current', 'data-id');
  assert.match(first, /^tsk_/);
  log('first task', first);
  // A screenshot while it runs, when the page is fast enough to show one.
  try {
    await page.waitForSelector('#current[data-status="running"] #current-images img.preview', { timeout: 20_000 });
    await shot(page, '03-progress');
  } catch {
    log('the first task finished before a mid-run screenshot could be taken');
  }
  await page.waitForSelector('#current[data-status="succeeded"]', { timeout: WAIT });
  await waitForImages(page, '#current-images img.output', 1);
  const seen = await page.evaluate(() => window.__seen);
  log('the page showed', JSON.stringify(seen));
  assert.ok(seen.steps.some((s) => /^step ([1-9]|[1-5]\d) \/ 60$/.test(s)),
            'progress between the first and the last step was shown');
  assert.ok(seen.previews > 0, 'a preview image was shown');
  assert.equal(await page.textContent('#current-step'), 'step 60 / 60');
  assert.match(await page.textContent('#current-prompt'), /a big red circle on the left/);
  assert.match(await page.textContent('#current-settings'), /Seed\s*7/);
  const rendering = await page.$eval('#current-images img.output', (img) => getComputedStyle(img).imageRendering);
  assert.equal(rendering, 'pixelated');
  const width = await page.$eval('#current-images img.output', (img) => img.getBoundingClientRect().width);
  assert.ok(width >= 128, `the 32×32 image is shown scaled up (${width} px)`);
  await shot(page, '04-done');

  // Download the image.
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: WAIT }),
    page.click('#current-actions button.download'),
  ]);
  const saved = path.join(artifacts, download.suggestedFilename());
  await download.saveAs(saved);
  assert.equal(fs.readFileSync(saved).subarray(1, 4).toString(), 'PNG');
  assert.equal(download.suggestedFilename(), `stipple-${first}-0.png`);

  // Second task: long (one worker, many steps and images), then cancel it.
  await page.fill('#prompt', 'a small blue square at the top');
  await page.fill('#steps', '150');
  await page.fill('#num_images', '8');
  await page.fill('#seed', '');
  await page.click('#submit');
  await page.waitForFunction((id) => {
    const c = document.getElementById('current');
    return c.dataset.id !== id && ['queued', 'running'].includes(c.dataset.status);
  }, first, { timeout: WAIT });
  const second = await page.getAttribute('#current', 'data-id');
  log('second task', second);
  await page.waitForSelector(`.card[data-id="${second}"] button.cancel`, { timeout: WAIT });
  await shot(page, '05-second-task');
  await page.focus('#current-actions button.cancel');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#current[data-status="canceled"]', { timeout: WAIT });
  await page.waitForSelector(`.card[data-id="${second}"][data-status="canceled"]`, { timeout: WAIT });
  assert.equal(await page.locator('#current-actions button.cancel').count(), 0);
  await shot(page, '06-canceled');

  // Reload: both are in the gallery, the first with its image.
  await page.reload();
  await page.waitForSelector(`.card[data-id="${first}"][data-status="succeeded"]`, { timeout: WAIT });
  await page.waitForSelector(`.card[data-id="${second}"][data-status="canceled"]`, { timeout: WAIT });
  await waitForImages(page, `.card[data-id="${first}"] img.output`, 1);
  assert.equal(await page.locator('#gallery .card').count(), 2);
  assert.match(await page.textContent(`.card[data-id="${first}"] .prompt`), /a big red circle/);
  assert.match(await page.textContent(`.card[data-id="${first}"] .settings-line`), /60 steps.*seed 7/);
  assert.match(await page.textContent(`.card[data-id="${second}"] .badge`), /canceled/);
  // Newest first.
  const order = await page.$$eval('#gallery .card', (cards) => cards.map((c) => c.dataset.id));
  assert.deepEqual(order, [second, first]);
  await shot(page, '07-reloaded');
}

async function keysScenario(page, base) {
  await page.goto(base);
  await page.waitForSelector('#key-panel:not([hidden])', { timeout: WAIT });
  assert.match(await page.textContent('#error-text'), /needs an API key/);
  await shot(page, '01-key-asked');
  await page.fill('#api-key', 'wrong-key');
  await page.press('#api-key', 'Enter');
  await page.waitForFunction(() => /did not accept this API key/.test(document.getElementById('error-text').textContent),
                             null, { timeout: WAIT });
  await page.fill('#api-key', 'sk-browser-test');
  await page.press('#api-key', 'Enter');
  await page.waitForSelector('#model option', { state: 'attached', timeout: WAIT });
  await page.waitForSelector('#key-panel', { state: 'hidden', timeout: WAIT });
  assert.equal(await page.evaluate(() => localStorage.getItem('stipple.apiKey')), 'sk-browser-test');
  // Not an admin key: the queue figures say so instead of failing.
  await page.waitForFunction(() => /admin key/.test(document.getElementById('queue').textContent),
                             null, { timeout: WAIT });
  await recordProgress(page);
  await page.fill('#prompt', 'a green triangle in the middle');
  await page.fill('#steps', '12');
  await page.click('#submit');
  await page.waitForSelector('#current[data-status="succeeded"]', { timeout: WAIT });
  await waitForImages(page, '#current-images img.output', 1);
  const seen = await page.evaluate(() => window.__seen);
  log('the page showed', JSON.stringify(seen));
  assert.ok(seen.steps.some((s) => / \/ 12$/.test(s)), 'progress came through the keyed event stream');
  // The key is remembered: a reload needs no typing.
  await page.reload();
  const card = '#gallery .card[data-status="succeeded"]';
  await page.waitForSelector(card, { timeout: WAIT });
  await waitForImages(page, `${card} img.output`, 1);
  assert.equal(await page.isHidden('#key-panel'), true);
  await shot(page, '02-keyed-image');
}

// A folder of Stable Diffusion models: the model select lists each, the size select offers the
// sizes the chosen model's size rule allows (not just its native size), and a generation at
// another aspect ratio answers an image of that size.
async function modelsScenario(page, base) {
  await page.goto(base);
  await page.waitForSelector('#model option', { state: 'attached', timeout: WAIT });
  const models = await page.$$eval('#model option', (os) => os.map((o) => o.value));
  assert.deepEqual(models, ['sd1-inpaint-tiny', 'sd1-tiny', 'sd2v-tiny', 'sdxl-tiny']);
  await page.selectOption('#model', 'sd2v-tiny');
  await page.click('summary');  // "More settings", where the size is
  const sizes = await page.$$eval('#size option', (os) => os.map((o) => [o.value, o.textContent]));
  log('sizes offered', JSON.stringify(sizes));
  assert.deepEqual(sizes[0], ['64x64', '64×64 (native)']);
  const values = sizes.map(([v]) => v);
  for (const v of ['72x56', '56x72', '88x48', '32x32']) assert.ok(values.includes(v), `offers ${v}`);
  for (const v of values) {
    const [w, h] = v.split('x').map(Number);
    assert.ok(w % 8 === 0 && h % 8 === 0 && w <= 128 && h <= 128, `${v} follows the size rule`);
  }
  await shot(page, '01-sizes');
  await page.selectOption('#size', '88x48');
  await page.fill('#prompt', 'a lighthouse at dusk');
  await page.fill('#steps', '2');
  await page.click('#submit');
  await page.waitForSelector('#current[data-status="succeeded"]', { timeout: WAIT });
  await page.waitForFunction(() => {
    const img = document.querySelector('#current-images img.output');
    return img && img.complete && img.naturalWidth === 88 && img.naturalHeight === 48;
  }, null, { timeout: WAIT });
  // Shown in its own aspect ratio, not stretched to a square.
  const shown = await page.$eval('#current-images img.output', (img) => {
    const r = img.getBoundingClientRect();
    return { fit: getComputedStyle(img).objectFit, w: r.width, h: r.height };
  });
  assert.equal(shown.fit, 'contain', 'the image keeps its aspect ratio');
  await shot(page, '02-wide-image');
}

// Drops a 32x32 PNG (blue left half, yellow right half, drawn by the browser) on the drop zone;
// returns the file's bytes as base64.
async function dropStartImage(page) {
  const file = await page.evaluateHandle(async () => {
    const c = document.createElement('canvas');
    c.width = c.height = 32;
    const g = c.getContext('2d');
    g.fillStyle = '#2a6fdb';
    g.fillRect(0, 0, 16, 32);
    g.fillStyle = '#f5c518';
    g.fillRect(16, 0, 16, 32);
    const blob = await new Promise((resolve) => c.toBlob(resolve, 'image/png'));
    return new File([blob], 'start.png', { type: 'image/png' });
  });
  const bytes = await page.evaluate(async (f) => {
    const b = new Uint8Array(await f.arrayBuffer());
    return btoa(String.fromCharCode(...b));
  }, file);
  const dataTransfer = await page.evaluateHandle((f) => {
    const dt = new DataTransfer();
    dt.items.add(f);
    return dt;
  }, file);
  await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer });
  await page.waitForSelector('#image-editor:not([hidden])', { timeout: WAIT });
  return bytes;
}

// A horizontal stroke across the middle of the mask, from a quarter to three quarters of the width.
async function paintStroke(page) {
  const box = await page.locator('#mask-canvas').boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width / 4, y);
  await page.mouse.down();
  await page.mouse.move(box.x + (3 * box.width) / 4, y, { steps: 8 });
  await page.mouse.up();
}

// The start image, a stroke and strength 0.6 on the form; returns the image's bytes (base64).
async function fillImageForm(page, base) {
  await page.goto(base);
  await page.waitForSelector('#model option', { state: 'attached', timeout: WAIT });
  await page.fill('#prompt', 'a big red circle on the left');
  await page.fill('#steps', '8');
  assert.equal(await page.isVisible('#strength'), false, 'no strength slider without an image');
  await shot(page, '00-drop-zone');
  const bytes = await dropStartImage(page);
  assert.equal(await page.isVisible('#strength'), true, 'the strength slider shows with an image');
  assert.equal(await page.isDisabled('#size'), true, 'the image gives the size');
  assert.match(await page.textContent('#mask-state'), /Nothing painted/);
  await paintStroke(page);
  assert.match(await page.textContent('#mask-state'), /Only the painted area/);
  await page.focus('#strength');
  for (let i = 0; i < 4; ++i) await page.keyboard.press('ArrowLeft');
  assert.equal(await page.textContent('#strength-value'), '0.60');
  return bytes;
}

// The mask PNG of a data: URL as rows of 0/1 (white), decoded by the browser.
function maskRows(page, dataUrl) {
  return page.evaluate(async (url) => {
    const img = new Image();
    img.src = url;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    const rows = [];
    for (let y = 0; y < c.height; ++y) {
      let row = '';
      for (let x = 0; x < c.width; ++x) {
        const i = 4 * (y * c.width + x);
        const grey = d[i] === d[i + 1] && d[i + 1] === d[i + 2] && d[i + 3] === 255;
        row += !grey ? '?' : d[i] === 255 ? '1' : d[i] === 0 ? '0' : '?';
      }
      rows.push(row);
    }
    return rows;
  }, dataUrl);
}

async function imageScenario(page, base) {
  const bytes = await fillImageForm(page, base);
  await shot(page, '01-image-and-mask');
  let sent = null;
  await page.route('**/v1/tasks', (route) => {
    if (route.request().method() === 'POST') sent = route.request().postDataJSON();
    route.continue();
  });
  await page.click('#submit');
  await page.waitForFunction(() => document.getElementById('current').dataset.id, null, { timeout: WAIT });
  assert.ok(sent, 'the page sent POST /v1/tasks');
  assert.equal(sent.init_image, `data:image/png;base64,${bytes}`, 'init_image is the file, unchanged');
  assert.equal(sent.strength, 0.6);
  assert.equal(sent.width, undefined, 'no size: the image gives it');
  assert.match(sent.mask_image, /^data:image\/png;base64,/);
  const rows = await maskRows(page, sent.mask_image);
  log('mask sent:\n' + rows.join('\n'));
  assert.equal(rows.length, 32);
  assert.ok(rows.every((r) => r.length === 32 && /^[01]+$/.test(r)), 'black and white, 32x32');
  assert.equal(rows[16][16], '1', 'white where painted');
  assert.equal(rows[16][4], '0', 'black left of the stroke');
  assert.equal(rows[16][28], '0', 'black right of the stroke');
  assert.equal(rows[2][16], '0', 'black above the stroke');
  assert.ok(rows[16].slice(9, 23) === '1'.repeat(14), 'the stroke spans the middle');
  assert.match(await page.textContent('#current-settings'), /Start image\s*with a mask/);
  assert.match(await page.textContent('#current-settings'), /Strength\s*0\.6/);
  await shot(page, '02-submitted');

  // Clear the mask: the next request has no mask_image; remove the image: none at all.
  await page.click('#mask-clear');
  assert.match(await page.textContent('#mask-state'), /Nothing painted/);
  const first = await page.getAttribute('#current', 'data-id');
  sent = null;
  await page.click('#submit');
  await page.waitForFunction((id) => document.getElementById('current').dataset.id !== id, first,
                             { timeout: WAIT });
  assert.equal(sent.mask_image, undefined, 'no mask once cleared');
  assert.equal(sent.init_image, `data:image/png;base64,${bytes}`);
  await page.click('#image-remove');
  assert.equal(await page.isVisible('#drop-zone'), true);
  assert.equal(await page.isDisabled('#size'), false);
  assert.equal(await page.isVisible('#strength'), false);
}

// Expected to pass once the gateway resolves image inputs: the edit runs and its image shows.
async function imageResultScenario(page, base) {
  await fillImageForm(page, base);
  await page.click('#submit');
  await page.waitForSelector('#current[data-status="succeeded"]', { timeout: WAIT });
  await waitForImages(page, '#current-images img.output', 1);
  await shot(page, '01-edited');
}

async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `stipple-web-${scenario}-`));
  let server;
  let browser;
  let page;
  const pageErrors = [];
  try {
    const extra = [];
    if (scenario === 'keys') {
      const keys = path.join(dataDir, 'keys.txt');
      fs.writeFileSync(keys, 'browser sk-browser-test\n');
      extra.push('--api-keys', keys);
    }
    // --url: a server already running (while working on the page); it must be fresh and open.
    server = args.url ? { url: args.url, process: null } : await startServer(path.join(dataDir, 'data'), extra);
    log('server', server.url);
    if (scenario === 'open' && !args.url) await checkServedFiles(server.url);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      // The browser logs every non-2xx answer; the page handles those itself.
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) pageErrors.push(m.text());
    });
    if (scenario === 'open') await openScenario(page, server.url);
    else if (scenario === 'keys') await keysScenario(page, server.url);
    else if (scenario === 'models') await modelsScenario(page, server.url);
    else if (scenario === 'image') await imageScenario(page, server.url);
    else if (scenario === 'image_result') await imageResultScenario(page, server.url);
    else throw new Error(`unknown scenario ${scenario}`);
    assert.deepEqual(pageErrors, [], 'no script errors in the page');
    log('PASS');
  } catch (e) {
    console.error(`[web_page_test ${scenario}] FAIL:`, e && e.stack ? e.stack : e);
    if (pageErrors.length) console.error('page errors:', pageErrors);
    if (page) await shot(page, 'failure').catch(() => {});
    process.exitCode = 1;
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stopServer(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main();
