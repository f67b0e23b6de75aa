// Talking to stipple's HTTP API from the page: fetch() with the API key, problem+json answers
// turned into errors in plain words, and Server-Sent Events read from a fetch() stream (browsers'
// EventSource cannot send an Authorization header).
import { seconds } from './view.js';

// The key sent as `Authorization: Bearer` (empty: none), and what to do on a 401.
export const session = { key: '', onUnauthorized: () => {} };

export const FIELD_LABELS = {
  prompt: 'Prompt', negative_prompt: 'Negative prompt', model: 'Model', width: 'Size',
  height: 'Size', steps: 'Steps', guidance_scale: 'Guidance', scheduler: 'Scheduler',
  seed: 'Seed', num_images: 'Images', priority: 'Priority', init_image: 'Start image',
  mask_image: 'Mask', strength: 'Strength',
};

export class ApiError extends Error {
  constructor(message, { status = 0, fields = [], kind = 'api', retryAfter = 0 } = {}) {
    super(message);
    this.status = status;
    this.fields = fields;
    this.kind = kind;
    this.retryAfter = retryAfter;  // seconds, from Retry-After (429, 503)
  }
}

// fetch() with the API key. Network failures become an ApiError in plain words.
export async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers);
  if (session.key) headers.Authorization = 'Bearer ' + session.key;
  let res;
  try {
    res = await fetch(path, Object.assign({}, options, { headers }));
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError('Cannot reach the stipple server. Is it still running? The page retries by itself.',
                       { kind: 'connection' });
  }
  if (res.status === 401) session.onUnauthorized();
  return res;
}

export async function readJson(res) {
  try { return await res.json(); } catch { return null; }
}

// A problem+json answer (RFC 9457) as an ApiError in plain words.
export function problemError(res, body, what) {
  const detail = body && (body.detail || body.title) ? (body.detail || body.title) : res.statusText;
  const retry = Number(res.headers.get('Retry-After'));
  const later = retry > 0 ? ` Try again in ${seconds(retry)}.` : ' Try again later.';
  const fields = (body && Array.isArray(body.errors)) ? body.errors : [];
  let message;
  switch (res.status) {
    case 400:
      message = fields.length
        ? fields.map((f) => `${FIELD_LABELS[f.field] || f.field}: ${f.message}`).join('\n')
        : `The server did not accept the request: ${detail}.`;
      break;
    case 401:
      message = session.key ? 'The server did not accept this API key. Check it and enter it again.'
                          : 'This server needs an API key. Enter it in the API key field.';
      break;
    case 403: message = `Your API key may not do this (${detail}).`; break;
    case 404: message = `Not found: ${detail}. It may belong to another key or be gone.`; break;
    case 409: message = `Not possible now: ${detail}.`; break;
    case 410: message = 'The images of this task have expired and were deleted.'; break;
    case 413: message = 'The request is too large.'; break;
    case 429: message = `The server is busy (${detail}).${later}`; break;
    case 503: message = `The server is not taking tasks right now (${detail}).${later}`; break;
    default: message = `The server had a problem (${res.status}: ${detail}).`;
  }
  return new ApiError(what ? `${what}. ${message}` : message,
                      { status: res.status, fields, retryAfter: retry > 0 ? retry : 0 });
}

// Reads a text/event-stream answer to its end, calling onEvent(type, data, id) for each event
// whose data is JSON (keep-alive comments and other frames are skipped).
export async function readEvents(res, onEvent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = 'message';
      let id = 0;
      let data = '';
      for (const line of frame.split('\n')) {
        if (line.startsWith(':')) continue;  // keep-alive
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') type = val;
        else if (field === 'id') id = Number(val) || 0;
        else if (field === 'data') data += (data ? '\n' : '') + val;
      }
      if (!data) continue;
      let parsed;
      try { parsed = JSON.parse(data); } catch { continue; }
      onEvent(type, parsed, id);
    }
  }
}
