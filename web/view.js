// Formatting for the page: elements, the sizes a model offers, durations, and a task's status,
// step and settings in words.
// No state and no server calls.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') node.textContent = value;
    else if (name === 'onclick') node.addEventListener('click', value);
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

// The sizes the form offers for `model`, as [value, label]: every size it lists (the native one
// first) and, when it has a size rule (/v1/models' size_rule), the common aspect ratios at about
// its native area plus half its native size, each side snapped to the rule. Only sizes the server
// accepts.
const ASPECTS = [[1, 1], [4, 3], [3, 4], [3, 2], [2, 3], [16, 9], [9, 16]];

export function offeredSizes(model) {
  const sizes = model.sizes && model.sizes.length ? model.sizes.map(([w, h]) => [w, h, ''])
                                                   : [[model.width, model.height, '']];
  const rule = model.size_rule;
  if (rule) {
    const snap = (x) => Math.min(rule.max, Math.max(rule.min, Math.round(x / rule.multiple) * rule.multiple));
    const area = model.width * model.height;
    for (const [a, b] of ASPECTS) {
      sizes.push([snap(Math.sqrt(area * a / b)), snap(Math.sqrt(area * b / a)), ` (${a}:${b})`]);
    }
    sizes.push([snap(model.width / 2), snap(model.height / 2), ' (half, faster)']);
  }
  const seen = new Set();
  const offered = [];
  for (const [w, h, note] of sizes) {
    const value = `${w}x${h}`;
    if (seen.has(value)) continue;
    seen.add(value);
    const native = w === model.width && h === model.height ? ' (native)' : note;
    offered.push([value, `${w}×${h}${native}`]);
  }
  return offered;
}

export function seconds(s) {
  if (s === null || s === undefined || !isFinite(s)) return '';
  if (s < 1) return 'under a second';
  if (s < 90) return Math.round(s) + ' s';
  return Math.round(s / 60) + ' min';
}

export function statusText(task) {
  const eta = task.eta_s !== null && task.eta_s !== undefined ? `, about ${seconds(task.eta_s)} left` : '';
  switch (task.status) {
    case 'queued': {
      const ahead = task.queue_position;
      const where = ahead === null || ahead === undefined ? ''
        : ahead === 0 ? ', next in line' : `, ${ahead} task${ahead === 1 ? '' : 's'} ahead`;
      return `Queued${where}${eta}`;
    }
    case 'running':
      if (task.cancel_requested) return 'Running, cancel requested: it stops after the current step';
      return `Running${task.attempts > 1 ? ` (attempt ${task.attempts})` : ''}${eta}`;
    case 'succeeded': {
      const took = task.started_at && task.completed_at
        ? ` in ${seconds((Date.parse(task.completed_at) - Date.parse(task.started_at)) / 1000)}` : '';
      return `Done${took}`;
    }
    case 'failed': return 'Failed';
    case 'canceled': return 'Canceled';
    case 'expired': return 'Expired: no worker started it within its time to live';
    default: return task.status;
  }
}

export function errorText(task) {
  if (task.status !== 'failed' || !task.error) return '';
  return `${task.error.message || 'the task failed'} (${task.error.code})`;
}

export function stepText(task) {
  const p = task.progress;
  if (!p || !p.steps) return task.status === 'queued' ? 'waiting' : '';
  return `step ${p.step} / ${p.steps}`;
}

export function settingsList(task) {
  const r = task.request || {};
  const rows = [
    ['Model', r.model], ['Size', `${r.width}×${r.height}`], ['Steps', r.steps],
    ['Guidance', r.guidance_scale], ['Scheduler', r.scheduler], ['Seed', r.seed],
    ['Images', r.num_images], ['Priority', r.priority],
  ];
  if (r.negative_prompt) rows.push(['Negative', r.negative_prompt]);
  if (r.init_image) rows.push(['Start image', r.mask_image ? 'with a mask' : 'whole'], ['Strength', r.strength]);
  const dl = el('dl', { class: 'settings' });
  for (const [name, value] of rows) {
    if (value === undefined || value === null) continue;
    dl.append(el('dt', { text: name }), el('dd', { text: String(value) }));
  }
  return dl;
}

export function settingsLine(task) {
  const r = task.request || {};
  const parts = [`${r.steps} steps`, r.scheduler, `guidance ${r.guidance_scale}`, `seed ${r.seed}`];
  if (r.num_images > 1) parts.push(`${r.num_images} images`);
  return parts.join(' · ');
}

export function when(iso) {
  const t = new Date(iso);
  if (isNaN(t)) return '';
  return t.toDateString() === new Date().toDateString() ? t.toLocaleTimeString() : t.toLocaleString();
}
