// autopartgen web app: upload inputs, follow the job, inspect the parts in a three.js viewer.
import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';

const KINDS = ['mesh', 'image', 'mask'];
const SUFFIXES = {
  mesh: ['.glb', '.gltf', '.obj', '.ply', '.stl', '.off'],
  image: ['.png', '.jpg', '.jpeg', '.webp'],
  mask: ['.png', '.bmp', '.tif', '.tiff', '.webp'],
};
const EXPLODE_SCALE = 1.2; // at 100 % a part moves 1.2 x its centroid's distance from the object centre
const POLL_MS = 500;

const $ = (id) => document.getElementById(id);
const state = { files: {}, jobId: null, polling: null, maxUploadMb: 50, status: null, error: null };
window.autopartgenState = state;

function suffixOf(name) {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? '' : name.slice(dot).toLowerCase();
}

function showError(message) {
  state.error = message || null;
  $('error').textContent = message || '';
  $('error').hidden = !message;
}

// ---------------------------------------------------------------------------------------------- viewer
class PartViewer {
  constructor(canvas, { interactive = true } = {}) {
    this.canvas = canvas;
    this.parts = []; // {index, holder, object, meshes, direction, color, visible}
    this.explode = 0;
    this.hovered = -1;
    this.selected = -1;
    this.listeners = { hover: [], select: [] };
    this.scene = new THREE.Scene();
    this.camera = new THREE.PerspectiveCamera(40, 1, 0.01, 100);
    this.camera.position.set(2.2, 1.6, 2.8);
    this.root = new THREE.Group();
    this.scene.add(this.root);
    this.scene.add(new THREE.HemisphereLight(0xffffff, 0x8090a0, 1.6));
    const key = new THREE.DirectionalLight(0xffffff, 1.8);
    key.position.set(3, 5, 4);
    this.scene.add(key);
    const fill = new THREE.DirectionalLight(0xffffff, 0.6);
    fill.position.set(-4, 2, -3);
    this.scene.add(fill);
    try {
      this.renderer = new THREE.WebGLRenderer({ canvas, antialias: true, alpha: true });
      this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    } catch (err) {
      console.warn('WebGL is not available:', err);
      this.renderer = null;
    }
    this.controls = new OrbitControls(this.camera, canvas);
    this.controls.enabled = interactive;
    this.controls.addEventListener('change', () => this.requestRender());
    this.raycaster = new THREE.Raycaster();
    if (interactive) this.bindPointer();
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
  }

  // Draw on demand (after a change), not every frame: software WebGL on a busy CPU stays idle.
  requestRender() {
    if (this.renderPending || !this.renderer) return;
    this.renderPending = true;
    requestAnimationFrame(() => {
      this.renderPending = false;
      this.renderer.render(this.scene, this.camera);
    });
  }

  resize() {
    const width = this.canvas.clientWidth || 300;
    const height = this.canvas.clientHeight || 200;
    if (this.renderer) this.renderer.setSize(width, height, false);
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
    this.requestRender();
  }

  clear() {
    for (const part of this.parts) {
      part.object.traverse((o) => {
        if (o.isMesh) {
          o.geometry.dispose();
          for (const m of [].concat(o.material)) m.dispose();
        }
      });
    }
    this.root.clear();
    this.parts = [];
    this.hovered = this.selected = -1;
    this.requestRender();
  }

  // Load a GLB whose nodes part_000, part_001, ... are the parts (or any GLB: each mesh is a part).
  async load(url, { neutral = false } = {}) {
    const response = await fetch(url, { cache: 'no-store' });
    if (!response.ok) throw new Error(`${url.split('/').pop()}: the server answered ${response.status}`);
    await this.loadBuffer(await response.arrayBuffer(), { neutral });
  }

  async loadBuffer(buffer, { neutral = false } = {}) {
    const gltf = await new GLTFLoader().parseAsync(buffer, '');
    this.setScene(gltf.scene, { neutral });
  }

  setScene(scene, { neutral = false } = {}) {
    this.clear();
    scene.updateMatrixWorld(true);
    const named = [];
    scene.traverse((o) => {
      const m = /^part_(\d+)$/.exec(o.name || '');
      if (m && !named.some((p) => isAncestor(p.object, o))) named.push({ index: Number(m[1]), object: o });
    });
    let found = named.sort((a, b) => a.index - b.index);
    if (!found.length) {
      const meshes = [];
      scene.traverse((o) => { if (o.isMesh) meshes.push(o); });
      found = meshes.map((object, index) => ({ index, object }));
    }
    const box = new THREE.Box3();
    for (const { object } of found) box.expandByObject(object);
    const center = box.isEmpty() ? new THREE.Vector3() : box.getCenter(new THREE.Vector3());
    const radius = box.isEmpty() ? 1 : box.getBoundingSphere(new THREE.Sphere()).radius || 1;
    this.center = center;
    this.radius = radius;
    found.forEach(({ index, object }, order) => {
      const holder = new THREE.Group();
      holder.name = `holder_${order}`;
      this.root.add(holder);
      holder.attach(object); // keeps the node's world transform
      const meshes = [];
      object.traverse((o) => {
        if (!o.isMesh) return;
        const source = [].concat(o.material)[0];
        const material = neutral
          ? new THREE.MeshStandardMaterial({ color: 0xb8bec9, roughness: 0.8, metalness: 0 })
          : source.clone();
        material.side = THREE.DoubleSide;
        if (material.emissive) material.emissive.setHex(0x000000);
        o.material = material;
        meshes.push(o);
      });
      const partBox = new THREE.Box3().setFromObject(object);
      const centroid = partBox.isEmpty() ? center.clone() : partBox.getCenter(new THREE.Vector3());
      const color = meshes.length && meshes[0].material.color ? meshes[0].material.color.clone() : new THREE.Color(0x999999);
      this.parts.push({ index, order, holder, object, meshes, direction: centroid.sub(center), color, visible: true });
    });
    this.setExplode(this.explode);
    this.frame();
  }

  frame() {
    const fov = THREE.MathUtils.degToRad(this.camera.fov);
    const distance = (this.radius * 1.45) / Math.sin(fov / 2);
    const dir = new THREE.Vector3(0.55, 0.42, 0.72).normalize();
    this.camera.position.copy(this.center).addScaledVector(dir, distance);
    this.camera.near = distance / 100;
    this.camera.far = distance * 10;
    this.camera.updateProjectionMatrix();
    this.controls.target.copy(this.center);
    this.controls.update();
    this.requestRender();
  }

  setExplode(value) {
    this.explode = Math.max(0, Math.min(1, Number(value) || 0));
    for (const part of this.parts) {
      part.holder.position.copy(part.direction).multiplyScalar(this.explode * EXPLODE_SCALE);
      part.holder.updateMatrixWorld(true);
    }
    this.requestRender();
  }

  setVisible(i, visible) {
    const part = this.parts[i];
    if (!part) return;
    part.visible = Boolean(visible);
    part.holder.visible = part.visible;
    if (!part.visible && this.hovered === i) this.setHover(-1);
    this.requestRender();
  }

  partPositions() {
    return this.parts.map((p) => {
      const box = new THREE.Box3().setFromObject(p.object);
      const c = box.isEmpty() ? p.holder.position : box.getCenter(new THREE.Vector3());
      return [c.x, c.y, c.z];
    });
  }

  paint() {
    this.parts.forEach((part, i) => {
      const glow = i === this.selected ? 0x555555 : i === this.hovered ? 0x2e2e2e : 0x000000;
      for (const mesh of part.meshes) if (mesh.material.emissive) mesh.material.emissive.setHex(glow);
    });
    this.requestRender();
  }

  setHover(i) {
    if (i === this.hovered) return;
    this.hovered = i;
    this.paint();
    for (const fn of this.listeners.hover) fn(i);
  }

  setSelected(i) {
    this.selected = i === this.selected ? -1 : i;
    this.paint();
    for (const fn of this.listeners.select) fn(this.selected);
  }

  on(event, fn) { this.listeners[event].push(fn); }

  pick(event) {
    const rect = this.canvas.getBoundingClientRect();
    const pointer = new THREE.Vector2(((event.clientX - rect.left) / rect.width) * 2 - 1,
      -((event.clientY - rect.top) / rect.height) * 2 + 1);
    this.raycaster.setFromCamera(pointer, this.camera);
    const meshes = this.parts.filter((p) => p.visible).flatMap((p) => p.meshes);
    const hit = this.raycaster.intersectObjects(meshes, false)[0];
    if (!hit) return -1;
    return this.parts.findIndex((p) => p.meshes.includes(hit.object));
  }

  bindPointer() {
    let down = null;
    this.canvas.addEventListener('pointermove', (e) => this.setHover(this.pick(e)));
    this.canvas.addEventListener('pointerleave', () => this.setHover(-1));
    this.canvas.addEventListener('pointerdown', (e) => { down = [e.clientX, e.clientY]; });
    this.canvas.addEventListener('pointerup', (e) => {
      if (down && Math.hypot(e.clientX - down[0], e.clientY - down[1]) < 4) {
        const i = this.pick(e);
        if (i >= 0) this.setSelected(i);
      }
      down = null;
    });
  }
}

function isAncestor(a, b) {
  for (let o = b.parent; o; o = o.parent) if (o === a) return true;
  return false;
}

const viewer = new PartViewer($('viewer'));
let inputViewer = null;
let manifest = null;

window.autopartgenViewer = {
  ready: false,
  webgl: Boolean(viewer.renderer),
  partCount: () => viewer.parts.length,
  partPositions: () => viewer.partPositions(),
  setExplode: (v) => { setExplodeUi(v); },
  explode: () => viewer.explode,
  setVisible: (i, visible) => { setPartVisible(i, visible); },
  isVisible: (i) => Boolean(viewer.parts[i] && viewer.parts[i].visible),
  visibleCount: () => viewer.parts.filter((p) => p.visible).length,
  highlight: (i) => viewer.setSelected(i),
  selected: () => viewer.selected,
};

// ---------------------------------------------------------------------------------------------- inputs
function setFile(kind, file) {
  if (file && !SUFFIXES[kind].includes(suffixOf(file.name))) {
    showError(`${kind} '${file.name}': unsupported file type '${suffixOf(file.name) || '(no suffix)'}'; ` +
      `pick a ${SUFFIXES[kind].map((s) => s.slice(1).toUpperCase()).join(' / ')} file`);
    return;
  }
  showError('');
  if (file) state.files[kind] = file; else delete state.files[kind];
  const zone = document.querySelector(`.drop[data-kind=${kind}]`);
  zone.classList.toggle('has-file', Boolean(file));
  zone.querySelector('.file-name').textContent = file
    ? `${file.name} (${(file.size / 1024).toFixed(file.size < 10240 ? 1 : 0)} KB)` : 'drop a file here or pick one';
  zone.querySelector('.clear').hidden = !file;
  if (!file) $(`${kind}-input`).value = '';
  updateMode();
  showLocalInput();
}

function modeOf(kinds) {
  if (kinds.has('mask') && !kinds.has('image')) return { error: 'a part mask needs the image it was drawn on: pick an image as well' };
  if (!kinds.has('image') && !kinds.has('mesh')) return { error: 'pick a mesh, an image, or both' };
  if (kinds.has('mask')) return { mode: kinds.has('mesh') ? 'image + mask + mesh' : 'image + mask' };
  if (kinds.has('image') && kinds.has('mesh')) return { mode: 'image + mesh' };
  return { mode: kinds.has('mesh') ? 'mesh' : 'image' };
}

function updateMode() {
  const result = modeOf(new Set(Object.keys(state.files)));
  $('mode').textContent = result.mode ? `Mode: ${result.mode}` : `Mode: ${result.error}`;
  $('start').disabled = !result.mode || Boolean(state.polling);
}

function showLocalInput() {
  const box = $('input-view');
  box.innerHTML = '';
  if (state.files.image) {
    const img = document.createElement('img');
    img.alt = 'the uploaded image';
    img.src = URL.createObjectURL(state.files.image);
    box.append(img);
    if (state.files.mask) {
      const mask = document.createElement('img');
      mask.alt = 'the uploaded part mask, one colour per label';
      mask.id = 'input-mask';
      box.append(mask);
      falseColourMask(state.files.mask).then((url) => { mask.src = url; })
        .catch(() => { mask.src = URL.createObjectURL(state.files.mask); });
    }
    return;
  }
  if (state.files.mesh && suffixOf(state.files.mesh.name) === '.glb') {
    const canvas = document.createElement('canvas');
    box.append(canvas);
    const caption = document.createElement('p');
    caption.className = 'caption';
    caption.textContent = state.files.mesh.name;
    box.append(caption);
    inputViewer = new PartViewer(canvas, { interactive: true });
    state.files.mesh.arrayBuffer()
      .then((buffer) => inputViewer.loadBuffer(buffer, { neutral: true }))
      .catch(() => { caption.textContent = `${state.files.mesh.name} (no preview; the server checks the file)`; });
    return;
  }
  const p = document.createElement('p');
  p.className = 'placeholder';
  p.textContent = state.files.mesh ? `${state.files.mesh.name}: the server preview appears when the parts are ready`
    : 'The input appears here.';
  box.append(p);
}

// An indexed mask is nearly black (labels 1, 2, ...): show each label in its own colour instead.
async function falseColourMask(file) {
  const bitmap = await createImageBitmap(file);
  const canvas = document.createElement('canvas');
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0);
  const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const d = pixels.data;
  const labels = new Map();
  for (let i = 0; i < d.length; i += 4) {
    const key = d[i + 3] === 0 ? 0 : (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
    if (key !== 0 && !labels.has(key)) labels.set(key, null);
  }
  [...labels.keys()].sort((a, b) => a - b).forEach((key, k, all) => {
    labels.set(key, new THREE.Color().setHSL(k / all.length, 0.7, 0.55));
  });
  for (let i = 0; i < d.length; i += 4) {
    const key = d[i + 3] === 0 ? 0 : (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
    const colour = labels.get(key);
    if (!colour) { d[i + 3] = 0; continue; }
    d[i] = colour.r * 255; d[i + 1] = colour.g * 255; d[i + 2] = colour.b * 255; d[i + 3] = 255;
  }
  ctx.putImageData(pixels, 0, 0);
  return canvas.toDataURL('image/png');
}

function bindInputs() {
  for (const kind of KINDS) {
    $(`${kind}-input`).addEventListener('change', (e) => setFile(kind, e.target.files[0] || null));
    const zone = document.querySelector(`.drop[data-kind=${kind}]`);
    zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      e.stopPropagation();
      zone.classList.remove('over');
      if (e.dataTransfer.files[0]) setFile(kind, e.dataTransfer.files[0]);
    });
    zone.querySelector('.clear').addEventListener('click', () => setFile(kind, null));
  }
  // A drop anywhere else: meshes go to the mesh slot, the first image to the image slot, a second to the mask.
  document.addEventListener('dragover', (e) => e.preventDefault());
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    for (const file of e.dataTransfer.files) {
      const suffix = suffixOf(file.name);
      if (SUFFIXES.mesh.includes(suffix)) setFile('mesh', file);
      else if (!state.files.image && SUFFIXES.image.includes(suffix)) setFile('image', file);
      else if (SUFFIXES.mask.includes(suffix)) setFile('mask', file);
      else showError(`'${file.name}': not a mesh or image file`);
    }
  });
  $('job-form').addEventListener('submit', (e) => { e.preventDefault(); submitJob(); });
  $('explode').addEventListener('input', (e) => setExplodeUi(Number(e.target.value) / 100));
}

// ---------------------------------------------------------------------------------------------- jobs
async function submitJob() {
  showError('');
  const size = Object.values(state.files).reduce((sum, f) => sum + f.size, 0);
  if (size > state.maxUploadMb * 1024 * 1024) {
    showError(`the upload is ${(size / 2 ** 20).toFixed(1)} MB, more than the ${state.maxUploadMb} MB limit; pick smaller files`);
    return;
  }
  const form = new FormData();
  for (const kind of KINDS) if (state.files[kind]) form.append(kind, state.files[kind], state.files[kind].name);
  for (const input of $('job-form').querySelectorAll('.options input')) {
    if (input.value.trim() !== '') form.append(input.name, input.value.trim());
  }
  resetResult();
  $('start').disabled = true;
  setProgress('Uploading...', null);
  let response;
  try {
    response = await fetch('/api/jobs', { method: 'POST', body: form });
  } catch (err) {
    failJob(`could not reach the server (${err.message}); is \`autopartgen serve\` still running?`);
    return;
  }
  const body = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
  if (!response.ok) {
    failJob(body.error || `the server answered ${response.status}`);
    return;
  }
  followJob(body.id);
  onStatus(body);
}

function followJob(jobId) {
  state.jobId = jobId;
  window.autopartgenViewer.jobId = jobId;
  history.replaceState(null, '', `#job=${jobId}`);
  clearInterval(state.polling);
  state.polling = setInterval(poll, POLL_MS);
  updateMode();
}

async function poll() {
  try {
    const response = await fetch(`/api/jobs/${state.jobId}`, { cache: 'no-store' });
    const body = await response.json();
    if (!response.ok) { failJob(body.error || `the server answered ${response.status}`); return; }
    onStatus(body);
  } catch (err) {
    setProgress('Lost contact with the server; retrying...', null);
  }
}

function stopPolling() {
  clearInterval(state.polling);
  state.polling = null;
  updateMode();
}

function failJob(message) {
  stopPolling();
  $('progress').hidden = true;
  showError(message);
}

function setProgress(text, fraction) {
  $('progress').hidden = false;
  $('status-text').textContent = text;
  const bar = $('progress-bar').parentElement;
  bar.classList.toggle('indeterminate', fraction === null);
  $('progress-bar').style.width = fraction === null ? '' : `${Math.round(fraction * 100)}%`;
}

function onStatus(status) {
  state.status = status;
  if (status.state === 'queued') {
    setProgress(status.position > 1 ? `Waiting: ${status.position - 1} job(s) ahead of yours`
      : status.stage === 'loading model' ? 'Loading the model...' : 'Waiting: yours is next', null);
  } else if (status.state === 'running') {
    const p = status.progress || {};
    let text = `${status.stage[0].toUpperCase()}${status.stage.slice(1)}...`;
    if (status.stage === 'generating' && p.part) {
      text = `Generating part ${p.part} of at most ${p.max_parts}` + (p.steps ? ` (step ${p.step}/${p.steps})` : '');
    }
    setProgress(`${text} ${status.elapsed_s.toFixed(0)} s`, p.fraction ?? null);
  } else if (status.state === 'done') {
    stopPolling();
    setProgress(`Done in ${status.elapsed_s.toFixed(1)} s: ${status.result.num_parts} part(s)` +
      (status.result.stop_reason ? ` (stopped: ${status.result.stop_reason.replace(/_/g, ' ')})` : ''), 1);
    showResult(status).catch((err) => showError(`could not show the result: ${err.message}`));
  } else {
    failJob(status.error || `the job was ${status.state}`);
  }
}

// ---------------------------------------------------------------------------------------------- result
function resetResult() {
  viewer.clear();
  manifest = null;
  window.autopartgenViewer.ready = false;
  $('part-list').innerHTML = '';
  $('part-stats').hidden = true;
  $('downloads').hidden = true;
  $('preview-box').hidden = true;
  $('explode').disabled = true;
  $('part-summary').textContent = '';
  $('viewer-message').textContent = 'Generated parts appear here.';
  $('viewer-message').hidden = false;
}

async function showResult(status) {
  const result = status.result;
  manifest = result.manifest ? await (await fetch(result.manifest)).json() : { parts: [] };
  showServerInput(status);
  $('downloads').hidden = false;
  $('download-zip').href = result.zip;
  $('download-combined').href = result.combined || '#';
  $('download-combined').hidden = !result.combined;
  $('download-manifest').href = result.manifest || '#';
  $('simulation-links').hidden = !result.simulation;  // the zip holds object.urdf, object.xml and meshes/
  $('download-simulation').href = result.zip;
  $('download-parts').innerHTML = '';
  result.parts.forEach((url, i) => {
    const a = document.createElement('a');
    a.href = url;
    a.download = url.split('/').pop();
    a.textContent = `part ${i} (${a.download})`;
    $('download-parts').append(a);
  });
  if (result.combined) {
    await viewer.load(result.combined);
    $('viewer-message').hidden = Boolean(viewer.renderer);
    if (!viewer.renderer) $('viewer-message').textContent = 'This browser has no WebGL: the 3D view is off, the files are below.';
  } else {
    $('viewer-message').textContent = 'No parts were generated; try another seed or more guidance.';
  }
  $('part-summary').textContent = `${viewer.parts.length} part(s), mode ${status.mode}`;
  $('explode').disabled = viewer.parts.length === 0;
  buildPartList();
  window.autopartgenViewer.ready = true;
}

function showServerInput(status) {
  const result = status.result;
  if (result.preview) {
    $('preview-img').src = result.preview;
    $('preview-box').hidden = false;
  }
  const box = $('input-view');
  if (result.mask_colored && $('input-mask')) {
    $('input-mask').src = result.mask_colored; // the mask in the colours of the parts made from it
    $('input-mask').alt = 'the part mask in the colours of the generated parts';
  }
  const hasLocal = box.querySelector('img, canvas');
  if (hasLocal) return; // the page already shows the user's own file
  box.innerHTML = '';
  if (status.inputs.image) {
    const img = document.createElement('img');
    img.src = status.inputs.image.url;
    img.alt = status.inputs.image.name;
    box.append(img);
  } else if (status.inputs.mesh && status.inputs.mesh.url.endsWith('.glb')) {
    const canvas = document.createElement('canvas');
    box.append(canvas);
    inputViewer = new PartViewer(canvas);
    inputViewer.load(status.inputs.mesh.url, { neutral: true }).catch(() => {});
  } else if (result.preview) {
    const img = document.createElement('img');
    img.src = result.preview;
    img.alt = 'server preview';
    box.append(img);
  }
}

function fmt(x, digits = 3) {
  return typeof x === 'number' ? Number(x.toFixed(digits)).toString() : '-';
}

function buildPartList() {
  const list = $('part-list');
  list.innerHTML = '';
  viewer.parts.forEach((part, i) => {
    const record = (manifest.parts || [])[part.index] || {};
    const li = document.createElement('li');
    li.dataset.index = String(i);
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = true;
    box.title = 'show / hide';
    box.addEventListener('click', (e) => e.stopPropagation());
    box.addEventListener('change', () => setPartVisible(i, box.checked));
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    const rgb = record.color ? `rgb(${record.color[0]}, ${record.color[1]}, ${record.color[2]})`
      : `#${part.color.getHexString()}`;
    swatch.style.background = rgb;
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = `part ${String(part.index).padStart(3, '0')}`;
    const faces = document.createElement('span');
    faces.className = 'faces';
    faces.textContent = record.faces !== undefined ? `${record.faces.toLocaleString()} faces` : '';
    li.append(box, swatch, name, faces);
    li.addEventListener('mouseenter', () => viewer.setHover(i));
    li.addEventListener('mouseleave', () => viewer.setHover(-1));
    li.addEventListener('click', () => viewer.setSelected(i));
    list.append(li);
  });
}

function showStats(i) {
  const panel = $('part-stats');
  if (i < 0) { panel.hidden = true; return; }
  const part = viewer.parts[i];
  const r = (manifest.parts || [])[part.index] || {};
  const size = r.bbox_min && r.bbox_max ? r.bbox_max.map((v, k) => fmt(v - r.bbox_min[k])).join(' x ') : '-';
  const rows = [
    ['part', `part_${String(part.index).padStart(3, '0')} (${r.file || ''})`],
    ['vertices', r.vertices?.toLocaleString() ?? '-'],
    ['faces', r.faces?.toLocaleString() ?? '-'],
    ['size', size],
    ['volume', r.volume === null || r.volume === undefined ? 'not watertight' : fmt(r.volume, 4)],
    ['watertight', r.watertight === undefined ? '-' : (r.watertight ? 'yes' : 'no')],
    ['mask label', r.mask_label ?? '-'],
    ['seed / retries', `${r.seed ?? '-'} / ${r.retries ?? '-'}`],
  ];
  const table = document.createElement('table');
  for (const [key, value] of rows) {
    const tr = table.insertRow();
    tr.insertCell().textContent = key;
    tr.insertCell().textContent = String(value);
  }
  panel.innerHTML = '';
  panel.append(table);
  panel.hidden = false;
}

viewer.on('hover', (i) => {
  for (const li of $('part-list').children) li.classList.toggle('hover', Number(li.dataset.index) === i);
  $('viewer').style.cursor = i >= 0 ? 'pointer' : 'grab';
});
viewer.on('select', (i) => {
  for (const li of $('part-list').children) li.classList.toggle('selected', Number(li.dataset.index) === i);
  showStats(i);
});

function setPartVisible(i, visible) {
  viewer.setVisible(i, visible);
  const li = $('part-list').children[i];
  if (li) {
    li.classList.toggle('hidden-part', !visible);
    li.querySelector('input').checked = Boolean(visible);
  }
}

function setExplodeUi(value) {
  viewer.setExplode(value);
  $('explode').value = String(Math.round(viewer.explode * 100));
  $('explode-value').textContent = `${Math.round(viewer.explode * 100)}%`;
}

// ---------------------------------------------------------------------------------------------- start
async function init() {
  bindInputs();
  updateMode();
  try {
    const info = await (await fetch('/api/info')).json();
    state.maxUploadMb = info.max_upload_mb;
  } catch (err) { /* the defaults stand */ }
  const resumed = /#job=([0-9a-f]{32})/.exec(location.hash);
  if (resumed) followJob(resumed[1]);
}

init();
