// stipple's web page: plain JavaScript, no framework, no build step (docs/web.md).
//
// It talks to the HTTP API of the server that served it, with relative URLs (so it also works
// behind a reverse proxy under a path prefix). Every request carries the API key from the key
// field as `Authorization: Bearer` when one is set; that is why images are fetched as blobs
// and events are read with fetch() streaming rather than <img src> and EventSource, which
// cannot send headers.
import { ApiError, api, problemError, readEvents, readJson, session, FIELD_LABELS } from './api.js';
import { hasImage, imageFields, initImageInput } from './image_input.js';
import { el, errorText, offeredSizes, seconds, settingsLine, settingsList, statusText, stepText, when } from './view.js';

const KEY_STORAGE = 'stipple.apiKey';
const TERMINAL = new Set(['succeeded', 'failed', 'canceled', 'expired']);
const RANK = { queued: 0, running: 1, succeeded: 2, failed: 2, canceled: 2, expired: 2 };
const PAGE_SIZE = 24;
const FIELD_INPUTS = { width: 'size', height: 'size', init_image: 'drop-zone', mask_image: 'mask-canvas' };

const state = {
  keyRequired: false,
  ready: false,            // the models loaded: the key (if any) works
  models: [],
  tasks: new Map(),        // id → task, the gallery's tasks
  cursor: null,            // next_cursor after the oldest page loaded
  pagesLoaded: 0,
  current: null,           // id of the task in the "Current task" panel
  follow: null,            // {id, controller}: the event stream being read
  previews: new Map(),     // id → data: URL of the latest preview
  blobs: new Map(),        // output URL → Promise of an object URL
  queueForbidden: false,
  errorKind: null,         // 'connection' while the server cannot be reached
  timer: null,             // the next poll
  startTimer: null,        // the next try to reach the server
};

const $ = (id) => document.getElementById(id);

function readStoredKey() {
  try { return localStorage.getItem(KEY_STORAGE) || ''; } catch { return ''; }
}

// ---- errors -----------------------------------------------------------------------------------

function showError(error) {
  const message = error instanceof ApiError ? error.message : `Something went wrong: ${error.message || error}`;
  $('error-text').textContent = message;
  $('error').hidden = false;
  state.errorKind = error.kind || 'api';
}

function hideError() {
  $('error').hidden = true;
  state.errorKind = null;
}

function clearFieldErrors() {
  for (const node of document.querySelectorAll('[aria-invalid]')) node.removeAttribute('aria-invalid');
}

function markFields(fields) {
  let first = null;
  for (const f of fields) {
    const input = $(FIELD_INPUTS[f.field] || f.field);
    if (!input) continue;
    input.setAttribute('aria-invalid', 'true');
    if (input.closest('details')) input.closest('details').open = true;
    first = first || input;
  }
  if (first) first.focus();
}

// ---- API key ----------------------------------------------------------------------------------

function needKey() {
  state.keyRequired = true;
  $('queue').textContent = 'Queue: needs an API key';
  $('key-toggle').hidden = false;
  $('key-panel').hidden = false;
}

async function useKey(key) {
  session.key = key;
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key); else localStorage.removeItem(KEY_STORAGE);
  } catch { /* storage off: the key lasts until the page closes */ }
  // Another key may be another tenant: forget what the old one saw.
  stopFollow();
  for (const promise of state.blobs.values()) promise.then(URL.revokeObjectURL, () => {});
  state.blobs.clear();
  state.tasks.clear();
  state.previews.clear();
  state.cursor = null;
  state.pagesLoaded = 0;
  state.queueForbidden = false;
  state.current = null;
  $('gallery').replaceChildren();
  $('current-view').hidden = true;
  $('current-empty').hidden = false;
  delete $('current').dataset.id;
  delete $('current').dataset.status;
  await start();
}

// ---- models and the form ----------------------------------------------------------------------

function fillSelect(select, values, selected) {
  select.replaceChildren(...values.map(([value, label]) =>
    el('option', { value, selected: value === selected, text: label })));
}

function applyModel(model) {
  if (!model) return;
  fillSelect($('scheduler'), model.schedulers.map((s) => [s, s]), model.default_scheduler);
  fillSelect($('size'), offeredSizes(model), `${model.width}x${model.height}`);
  $('steps').max = model.max_steps;
  $('steps').value = model.default_steps;
  $('guidance_scale').value = model.default_guidance_scale;
}

async function loadModels() {
  const res = await api('v1/models');
  const body = await readJson(res);
  if (!res.ok) throw problemError(res, body, 'The models could not be listed');
  state.models = body.data || [];
  const def = state.models.find((m) => m.default) || state.models[0];
  fillSelect($('model'), state.models.map((m) => [m.id, m.id]), def && def.id);
  applyModel(def);
}

// The request from the form; null (with the fields marked) when something is plainly wrong.
function buildRequest() {
  const request = { prompt: $('prompt').value.trim() };
  const problems = [];
  if (!request.prompt) problems.push({ field: 'prompt', message: 'write what the image should show' });
  for (const name of ['steps', 'guidance_scale', 'seed', 'num_images']) {
    const input = $(name);
    if (input.validity.badInput) problems.push({ field: name, message: 'must be a number' });
    else if (input.value !== '') request[name] = Number(input.value);
  }
  const negative = $('negative_prompt').value.trim();
  if (negative) request.negative_prompt = negative;
  if ($('model').value) request.model = $('model').value;
  if ($('scheduler').value) request.scheduler = $('scheduler').value;
  // With a start image the image's own size is the size.
  if ($('size').value && !hasImage()) [request.width, request.height] = $('size').value.split('x').map(Number);
  Object.assign(request, imageFields());
  request.priority = $('priority').value;
  if (problems.length) {
    markFields(problems);
    showError(new ApiError(problems.map((f) => `${FIELD_LABELS[f.field]}: ${f.message}`).join('\n')));
    return null;
  }
  return request;
}

function newIdempotencyKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return 'web-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function submitTask(event) {
  event.preventDefault();
  clearFieldErrors();
  const request = buildRequest();
  if (!request) return;
  const button = $('submit');
  button.disabled = true;
  try {
    const res = await api('v1/tasks', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': newIdempotencyKey() },
      body: JSON.stringify(request),
    });
    const body = await readJson(res);
    if (!res.ok) {
      const error = problemError(res, body, 'The task was not created');
      markFields(error.fields);
      throw error;
    }
    hideError();
    const task = mergeTask(body);
    showCurrent(task.id);
    schedule(500);
  } catch (e) {
    showError(e);
  } finally {
    button.disabled = false;
  }
}

// ---- tasks ------------------------------------------------------------------------------------

// Takes a newer view of a task (from a poll, an event or an answer) and redraws it. A view older
// than the one held is ignored, except after a retry (the attempt count went up).
function mergeTask(task) {
  const old = state.tasks.get(task.id);
  if (old && RANK[old.status] > RANK[task.status] && !(task.attempts > old.attempts)) return old;
  if (old && old.progress && old.attempts === task.attempts &&
      (!task.progress || task.progress.step < old.progress.step)) {
    task = Object.assign({}, task, { progress: old.progress });
  }
  if (TERMINAL.has(task.status)) state.previews.delete(task.id);
  state.tasks.set(task.id, task);
  renderCard(task);
  if (state.current === task.id) renderCurrent(task);
  return task;
}

// An output image as an object URL (fetched once, with the key).
function imageUrl(url) {
  if (!state.blobs.has(url)) {
    const promise = api(url.replace(/^\//, '')).then(async (res) => {
      if (!res.ok) throw problemError(res, await readJson(res));
      return URL.createObjectURL(await res.blob());
    });
    promise.catch(() => state.blobs.delete(url));
    state.blobs.set(url, promise);
  }
  return state.blobs.get(url);
}

async function download(task, output) {
  try {
    const href = await imageUrl(output.url);
    const link = el('a', { href, download: `stipple-${task.id}-${output.index}.png` });
    document.body.append(link);
    link.click();
    link.remove();
  } catch (e) {
    showError(e);
  }
}

async function cancelTask(id) {
  try {
    const res = await api(`v1/tasks/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
    const body = await readJson(res);
    // 409 carries the task too: it had already finished.
    if (res.ok || (res.status === 409 && body && body.id)) mergeTask(body);
    else throw problemError(res, body, 'The task was not canceled');
    schedule(500);
  } catch (e) {
    showError(e);
  }
}

// The images of a task: its outputs when done, else the latest preview, else a placeholder.
// Redrawn only when what is shown changes, so previews update in place without flicker.
function renderImages(box, task) {
  const preview = state.previews.get(task.id);
  const outputs = task.status === 'succeeded' ? task.outputs || [] : [];
  const shape = outputs.length ? `out:${outputs.length}` : preview ? 'preview' : `none:${task.status}`;
  const prompt = (task.request && task.request.prompt) || '';
  if (box.dataset.shape !== shape) {
    box.dataset.shape = shape;
    box.classList.toggle('multi', outputs.length > 1 && outputs.length <= 4);
    box.classList.toggle('many', outputs.length > 4);
    if (outputs.length) {
      box.replaceChildren(...outputs.map((o) => {
        const img = el('img', { class: 'pixel output', width: o.width, height: o.height,
                                alt: `Image ${o.index + 1} of “${prompt}”, seed ${o.seed}` });
        imageUrl(o.url).then((src) => { img.src = src; },
                             () => { img.replaceWith(el('div', { class: 'placeholder', text: 'image gone' })); });
        return img;
      }));
    } else if (preview) {
      box.replaceChildren(el('img', { class: 'pixel preview', alt: `Preview of “${prompt}”` }));
    } else {
      box.replaceChildren(el('div', { class: 'placeholder', text: task.status }));
    }
  }
  if (!outputs.length && preview) box.firstChild.src = preview;
}

function actionsFor(task, inCard) {
  const buttons = [];
  if (inCard) {
    buttons.push(el('button', { type: 'button', class: 'show', text: 'Show',
                                'aria-label': `Show “${task.request.prompt}”`,
                                onclick: () => showCurrent(task.id, true) }));
  }
  if (!TERMINAL.has(task.status) && !task.cancel_requested) {
    buttons.push(el('button', { type: 'button', class: 'danger cancel', text: 'Cancel',
                                'aria-label': `Cancel “${task.request.prompt}”`,
                                onclick: () => cancelTask(task.id) }));
  }
  const outputs = task.status === 'succeeded' ? task.outputs || [] : [];
  // One image: "Download". Several: "Download" then a button per image, numbered.
  if (outputs.length > 1) buttons.push(el('span', { class: 'label', text: 'Download', 'aria-hidden': 'true' }));
  for (const o of outputs) {
    const label = outputs.length > 1 ? String(o.index + 1) : 'Download';
    buttons.push(el('button', { type: 'button', class: 'download', text: label,
                                'aria-label': `Download image ${o.index + 1} of “${task.request.prompt}”, seed ${o.seed}`,
                                onclick: () => download(task, o) }));
  }
  return buttons;
}

// Replaces a task's buttons when they change, keeping keyboard focus in the same place.
function renderActions(box, task, inCard, focusFallback) {
  const shape = `${task.status}:${task.cancel_requested}:${(task.outputs || []).length}`;
  if (box.dataset.shape === shape) return;
  const hadFocus = box.contains(document.activeElement);
  box.dataset.shape = shape;
  box.replaceChildren(...actionsFor(task, inCard));
  if (hadFocus) (box.querySelector('button') || focusFallback).focus();
}

function renderProgress(bar, task) {
  const p = task.progress;
  bar.max = p ? p.steps : 1;
  bar.value = p ? p.step : TERMINAL.has(task.status) ? 1 : 0;
}

function renderCurrent(task) {
  const panel = $('current');
  $('current-view').hidden = false;
  $('current-empty').hidden = true;
  panel.dataset.status = task.status;
  panel.dataset.id = task.id;
  renderImages($('current-images'), task);
  const error = errorText(task);
  $('current-status').textContent = statusText(task) + (error ? `: ${error}` : '');
  renderProgress($('current-progress'), task);
  $('current-step').textContent = stepText(task);
  $('current-prompt').textContent = `“${task.request.prompt}”`;
  $('current-settings').replaceWith(Object.assign(settingsList(task), { id: 'current-settings' }));
  renderActions($('current-actions'), task, false, $('current-heading'));
}

function renderCard(task) {
  let card = document.querySelector(`.card[data-id="${CSS.escape(task.id)}"]`);
  if (!card) {
    card = el('li', { class: 'card', 'data-id': task.id, tabindex: '-1' },
      el('div', { class: 'images small' }),
      el('div', { class: 'task-info' },
        el('div', { class: 'row' }, el('span', { class: 'badge' }), el('span', { class: 'when' })),
        el('progress', { class: 'card-progress', max: '1', value: '0', 'aria-label': 'Progress' }),
        el('p', { class: 'prompt' }),
        el('p', { class: 'hint settings-line' }),
        el('p', { class: 'task-error' }),
        el('div', { class: 'actions' })));
    placeCard(card, task.id);
  }
  card.dataset.status = task.status;
  renderImages(card.querySelector('.images'), task);
  const badge = card.querySelector('.badge');
  badge.textContent = task.status === 'running' && task.progress
    ? `running ${task.progress.step}/${task.progress.steps}` : task.status;
  card.querySelector('.when').textContent = when(task.created_at);
  const bar = card.querySelector('.card-progress');
  bar.hidden = task.status !== 'running';
  renderProgress(bar, task);
  card.querySelector('.prompt').textContent = `“${task.request.prompt}”`;
  card.querySelector('.settings-line').textContent = settingsLine(task);
  const error = errorText(task);
  card.querySelector('.task-error').textContent = error;
  card.querySelector('.task-error').hidden = !error;
  renderActions(card.querySelector('.actions'), task, true, card);
  $('gallery-empty').hidden = true;
}

// Cards are ordered newest first; ids sort by creation time.
function placeCard(card, id) {
  const gallery = $('gallery');
  for (const other of gallery.children) {
    if (other.dataset.id < id) return gallery.insertBefore(card, other);
  }
  gallery.append(card);
}

function showCurrent(id, moveFocus) {
  const task = state.tasks.get(id);
  if (!task) return;
  state.current = id;
  renderCurrent(task);
  if (!TERMINAL.has(task.status)) followEvents(id);
  else stopFollow();
  if (moveFocus) {
    $('current-heading').focus();
    $('current').scrollIntoView({ block: 'nearest' });
  }
}

// ---- live events (Server-Sent Events read with fetch) ------------------------------------------

function stopFollow() {
  if (state.follow) state.follow.controller.abort();
  state.follow = null;
}

function applyEvent(id, type, data) {
  const task = state.tasks.get(id);
  if (!task) return false;
  switch (type) {
    case 'started':
      mergeTask(Object.assign({}, task, { status: 'running', attempts: data.attempt,
                                          queue_position: null }));
      return false;
    case 'progress':
      if (data.preview) state.previews.set(id, 'data:image/png;base64,' + data.preview);
      mergeTask(Object.assign({}, task, { status: 'running', queue_position: null,
                                          progress: { step: data.step, steps: data.steps } }));
      return false;
    case 'retrying':
      state.previews.delete(id);
      mergeTask(Object.assign({}, task, { status: 'queued', attempts: data.attempt + 1, progress: null }));
      return false;
    case 'succeeded': case 'failed': case 'canceled': case 'expired':
      if (data.task) mergeTask(data.task);
      schedule(300);
      return true;
    default:
      return false;
  }
}

async function followEvents(id) {
  if (state.follow && state.follow.id === id) return;
  stopFollow();
  const controller = new AbortController();
  const follow = { id, controller };
  state.follow = follow;
  let lastId = 0;
  let ended = false;
  while (!ended && !controller.signal.aborted) {
    try {
      const headers = { Accept: 'text/event-stream' };
      if (lastId) headers['Last-Event-ID'] = String(lastId);
      const res = await api(`v1/tasks/${encodeURIComponent(id)}/events`, { headers, signal: controller.signal });
      if (!res.ok) throw problemError(res, await readJson(res), 'The live progress stopped');
      await readEvents(res, (type, data, seq) => {
        if (seq) lastId = seq;
        if (applyEvent(id, type, data)) ended = true;
      });
      if (state.errorKind === 'connection') hideError();
    } catch (e) {
      if (controller.signal.aborted) break;
      if (e instanceof ApiError && e.kind !== 'connection') { showError(e); break; }
      if (e instanceof ApiError) showError(e);
    }
    if (!ended && !controller.signal.aborted) await new Promise((r) => setTimeout(r, 1500));
  }
  if (state.follow === follow) state.follow = null;
}

// ---- polling: the gallery and the queue figures -----------------------------------------------

async function refreshGallery() {
  const res = await api(`v1/tasks?limit=${PAGE_SIZE}`);
  const body = await readJson(res);
  if (!res.ok) throw problemError(res, body, 'The task list could not be loaded');
  for (const task of body.data || []) mergeTask(task);
  if (state.pagesLoaded <= 1) {
    state.pagesLoaded = 1;
    state.cursor = body.next_cursor || null;
    $('more').hidden = !state.cursor;
  }
  $('gallery-empty').hidden = state.tasks.size > 0;
}

async function loadMore() {
  if (!state.cursor) return;
  try {
    const res = await api(`v1/tasks?limit=${PAGE_SIZE}&cursor=${encodeURIComponent(state.cursor)}`);
    const body = await readJson(res);
    if (!res.ok) throw problemError(res, body, 'Older tasks could not be loaded');
    for (const task of body.data || []) mergeTask(task);
    state.pagesLoaded += 1;
    state.cursor = body.next_cursor || null;
    $('more').hidden = !state.cursor;
  } catch (e) {
    showError(e);
  }
}

async function refreshQueue() {
  const line = $('queue');
  if (state.queueForbidden) return;
  const res = await api('v1/queue');
  const q = await readJson(res);
  if (res.status === 403) {
    state.queueForbidden = true;
    line.textContent = 'Queue figures need an admin key.';
    return;
  }
  if (!res.ok || !q) throw problemError(res, q, 'The queue figures could not be loaded');
  const queued = Object.values(q.queued || {}).reduce((a, b) => a + b, 0);
  const workers = q.workers || {};
  const wait = !queued ? 'none'
    : q.estimated_wait_s === null || q.estimated_wait_s === undefined ? 'unknown'
      : seconds(q.estimated_wait_s);
  line.textContent = `Queue: ${queued} waiting, ${q.running} running · ` +
    `Workers: ${workers.busy ?? 0} of ${workers.online ?? 0} busy · Estimated wait: ${wait}`;
}

async function tick() {
  if (state.ready && !document.hidden) {
    const results = await Promise.allSettled([refreshGallery(), refreshQueue()]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) showError(failed.reason);
    else if (state.errorKind === 'connection') hideError();
    // Rate limited or draining: ask again only when the server says to.
    const wait = Math.max(0, ...results.map((r) => (r.status === 'rejected' && r.reason.retryAfter) || 0));
    if (wait) return schedule(wait * 1000);
  }
  const active = [...state.tasks.values()].some((t) => !TERMINAL.has(t.status));
  schedule(active ? 2000 : 10000);
}

function schedule(ms) {
  clearTimeout(state.timer);
  state.timer = setTimeout(tick, ms);
}

// ---- start ------------------------------------------------------------------------------------

async function start() {
  clearTimeout(state.startTimer);
  state.ready = false;
  try {
    await loadModels();
    state.ready = true;
    hideError();
    if (state.keyRequired) $('key-panel').hidden = true;
    await refreshGallery().catch(showError);
    // After a reload: keep following the newest unfinished task.
    if (!state.current) {
      const active = [...state.tasks.values()].filter((t) => !TERMINAL.has(t.status))
        .sort((a, b) => (a.id < b.id ? 1 : -1))[0];
      if (active) showCurrent(active.id);
    }
  } catch (e) {
    showError(e);
    if (e.status === 401) $('api-key').focus();
    // The server may be starting or restarting: try again. A refused key waits for a new one.
    if (e.kind === 'connection' || e.status >= 500) state.startTimer = setTimeout(start, 3000);
    return;
  }
  schedule(0);
}

function init() {
  session.key = readStoredKey();
  session.onUnauthorized = needKey;
  $('task-form').addEventListener('submit', submitTask);
  initImageInput({
    changed: (has) => { $('size').disabled = has; },
    error: (text) => showError(new ApiError(text)),
  });
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      $('task-form').requestSubmit();
    }
  });
  $('model').addEventListener('change', () => applyModel(state.models.find((m) => m.id === $('model').value)));
  for (const input of document.querySelectorAll('#task-form input, #task-form textarea, #task-form select')) {
    input.addEventListener('input', () => input.removeAttribute('aria-invalid'));
  }
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    useKey($('api-key').value.trim());
  });
  $('key-forget').addEventListener('click', () => {
    $('api-key').value = '';
    useKey('');
  });
  $('key-toggle').addEventListener('click', () => {
    $('key-panel').hidden = !$('key-panel').hidden;
    if (!$('key-panel').hidden) $('api-key').focus();
  });
  $('error-close').addEventListener('click', () => { hideError(); $('prompt').focus(); });
  $('refresh').addEventListener('click', () => schedule(0));
  $('more').addEventListener('click', loadMore);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) schedule(0); });
  $('api-key').value = session.key;
  // A stored key may be changed or forgotten from the header even when it works.
  $('key-toggle').hidden = !session.key;
  start();
}

init();
