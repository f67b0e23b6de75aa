// The form's optional start image (docs/web.md, "Start from an image"): a drop zone and file
// picker, a mask brush over the image (paint = repaint) and the strength slider. The request gets
// init_image (the file as a data: URL, its bytes unchanged), mask_image (a PNG at the image's
// size: white where painted, black elsewhere; only when something is painted) and strength.
const TYPES = new Set(['image/png', 'image/jpeg', 'image/webp']);
const $ = (id) => document.getElementById(id);

const image = {
  dataUrl: null,   // the file as a data: URL
  width: 0,
  height: 0,
  painted: false,  // whether the mask has a stroke
};
let onChange = () => {};
let onError = () => {};

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('the file is not an image this browser can read'));
    img.src = src;
  });
}

async function setFile(file) {
  if (!file) return;
  if (!TYPES.has(file.type)) {
    onError(`Start image: “${file.name}” is not a PNG, JPEG or WebP image`);
    return;
  }
  try {
    const dataUrl = await readFile(file);
    const img = await loadImage(dataUrl);
    Object.assign(image, { dataUrl, width: img.naturalWidth, height: img.naturalHeight, painted: false });
    const shown = $('image-preview');
    shown.src = dataUrl;
    shown.alt = `Start image ${file.name}, ${img.naturalWidth}×${img.naturalHeight}`;
    const mask = $('mask-canvas');
    mask.width = img.naturalWidth;
    mask.height = img.naturalHeight;
    // The stage keeps the image's aspect ratio within a 256 px box.
    const scale = 256 / Math.max(img.naturalWidth, img.naturalHeight);
    const stage = $('mask-stage');
    stage.style.width = `${Math.round(img.naturalWidth * scale)}px`;
    stage.style.height = `${Math.round(img.naturalHeight * scale)}px`;
    $('image-size').textContent = `${file.name} · ${img.naturalWidth}×${img.naturalHeight}`;
    $('image-editor').hidden = false;
    $('drop-zone').hidden = true;
    showPainted();
    onChange(true);
  } catch (e) {
    onError(`Start image: ${e.message || e}`);
  }
}

function clearImage() {
  Object.assign(image, { dataUrl: null, width: 0, height: 0, painted: false });
  $('image-preview').removeAttribute('src');
  $('image-file').value = '';
  $('image-editor').hidden = true;
  $('drop-zone').hidden = false;
  onChange(false);
  $('drop-zone').focus();
}

function clearMask() {
  const mask = $('mask-canvas');
  mask.getContext('2d').clearRect(0, 0, mask.width, mask.height);
  image.painted = false;
  showPainted();
}

function showPainted() {
  $('mask-state').textContent = image.painted
    ? 'Only the painted area is repainted.'
    : 'Nothing painted: the whole image is reworked.';
}

// ---- the brush --------------------------------------------------------------------------------

function brushWidth(canvas) {
  // The slider is in screen pixels; the canvas is at the image's own size.
  const rect = canvas.getBoundingClientRect();
  return Number($('brush-size').value) * (canvas.width / rect.width);
}

function canvasPoint(canvas, event) {
  const rect = canvas.getBoundingClientRect();
  return [(event.clientX - rect.left) * (canvas.width / rect.width),
          (event.clientY - rect.top) * (canvas.height / rect.height)];
}

function initBrush() {
  const canvas = $('mask-canvas');
  const ctx = canvas.getContext('2d');
  let last = null;
  const stroke = (to) => {
    ctx.strokeStyle = ctx.fillStyle = '#ff3b30';
    ctx.lineWidth = brushWidth(canvas);
    ctx.lineCap = ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(...last);
    ctx.lineTo(...to);
    ctx.stroke();
    last = to;
    if (!image.painted) {
      image.painted = true;
      showPainted();
    }
  };
  canvas.addEventListener('pointerdown', (e) => {
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    last = canvasPoint(canvas, e);
    stroke(last);
  });
  canvas.addEventListener('pointermove', (e) => { if (last) stroke(canvasPoint(canvas, e)); });
  // The mask takes a pixel when the paint covers at least half of it: once a stroke ends, the
  // paint is shown exactly so (no soft edges).
  const end = () => {
    if (!last) return;
    last = null;
    const paint = ctx.getImageData(0, 0, canvas.width, canvas.height);
    for (let i = 3; i < paint.data.length; i += 4) paint.data[i] = paint.data[i] >= 128 ? 255 : 0;
    ctx.putImageData(paint, 0, 0);
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  const showBrush = () => { $('brush-value').textContent = `${$('brush-size').value} px`; };
  $('brush-size').addEventListener('input', showBrush);
  showBrush();
}

// The mask as stipple takes it: a PNG at the image's size, white where painted (over half
// covered), black elsewhere.
function maskPng() {
  const painted = $('mask-canvas');
  const out = document.createElement('canvas');
  out.width = painted.width;
  out.height = painted.height;
  const octx = out.getContext('2d');
  const src = painted.getContext('2d').getImageData(0, 0, painted.width, painted.height);
  const dst = octx.createImageData(out.width, out.height);
  for (let i = 0; i < src.data.length; i += 4) {
    const v = src.data[i + 3] >= 128 ? 255 : 0;
    dst.data[i] = dst.data[i + 1] = dst.data[i + 2] = v;
    dst.data[i + 3] = 255;
  }
  octx.putImageData(dst, 0, 0);
  return out.toDataURL('image/png');
}

// ---- the page's side --------------------------------------------------------------------------

// The request's image fields: {} without a start image.
export function imageFields() {
  if (!image.dataUrl) return {};
  const fields = { init_image: image.dataUrl, strength: Number($('strength').value) };
  if (image.painted) fields.mask_image = maskPng();
  return fields;
}

export function hasImage() {
  return image.dataUrl !== null;
}

// Wires the controls. `changed(hasImage)` runs when an image is set or removed; `error(text)`
// shows a problem in words.
export function initImageInput({ changed, error }) {
  onChange = changed;
  onError = error;
  const zone = $('drop-zone');
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    setFile(e.dataTransfer.files[0]);
  });
  zone.addEventListener('click', () => $('image-file').click());
  zone.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      $('image-file').click();
    }
  });
  $('image-file').addEventListener('change', () => setFile($('image-file').files[0]));
  $('mask-clear').addEventListener('click', clearMask);
  $('image-remove').addEventListener('click', clearImage);
  const showStrength = () => { $('strength-value').textContent = Number($('strength').value).toFixed(2); };
  $('strength').addEventListener('input', showStrength);
  showStrength();
  initBrush();
}
