// dipline's web page: a client of the /v1 API (service/app.ts), served by `dipline serve`.
// Plain browser JavaScript without a build step; uPlot (served by dipline from npm) draws the
// curves. The token, when the server needs one, is asked for once and kept in sessionStorage.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "dipline.token";
const state = {
  tasks: [],
  file: null,
  jobId: null,
  stream: null,
  points: { step: [], psnr: [], psnrObserved: [], loss: [], variance: [] },
  previews: 0,
  thumbs: new Map(),
  blobs: [],
};
// For tests and the curious: the page's state, read-only by convention.
globalThis.diplinePage = state;

// ---- API -------------------------------------------------------------------------------------

let tokenPrompt = null;

/** Asks for the token (once at a time); resolves when one was entered. */
function askToken(refused) {
  if (tokenPrompt) return tokenPrompt;
  tokenPrompt = new Promise((resolve) => {
    const dialog = $("token-dialog");
    $("token-error").hidden = !refused;
    $("token-form").onsubmit = () => {
      sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
      tokenPrompt = null;
      resolve();
    };
    if (!dialog.open) dialog.showModal();
    $("token-input").focus();
  });
  return tokenPrompt;
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** fetch() with the token; a 401 asks for the token and tries again. */
async function api(path, options = {}) {
  for (;;) {
    const response = await fetch(path, {
      ...options,
      headers: { ...authHeaders(), ...(options.headers ?? {}) },
    });
    if (response.status !== 401) return response;
    const hadToken = sessionStorage.getItem(TOKEN_KEY) !== null;
    sessionStorage.removeItem(TOKEN_KEY);
    await askToken(hadToken);
  }
}

async function apiJson(path, options) {
  const response = await api(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(body?.error?.message ?? `${response.status} ${response.statusText}`);
  }
  return body;
}

/** A job's file as an object URL (an <img> cannot send the token itself). */
async function fileUrl(url) {
  const response = await api(url);
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  const blob = URL.createObjectURL(await response.blob());
  state.blobs.push(blob);
  return blob;
}

/**
 * Follows a job's event stream (server-sent events read through fetch, so the token goes in
 * a header), resuming after the last id when the connection drops, until a final event.
 */
function followEvents(jobId, onEvent) {
  const controller = new AbortController();
  let last = 0;
  let done = false;
  (async () => {
    while (!done && !controller.signal.aborted) {
      try {
        const response = await api(`/v1/jobs/${jobId}/events?after=${last}`, {
          signal: controller.signal,
          headers: { Accept: "text/event-stream" },
        });
        if (!response.ok) break;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done: ended } = await reader.read();
          if (ended) break;
          buffer += value;
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const data = block.split("\n").filter((l) => l.startsWith("data:"))
              .map((l) => l.slice(5).trimStart()).join("\n");
            if (!data) continue;
            const event = JSON.parse(data);
            if (event.id) last = event.id;
            onEvent(event);
            if (/^job-(succeeded|failed|canceled|removed)$/.test(event.type)) done = true;
          }
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        console.warn("event stream:", error);
      }
      if (!done) await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  return { close: () => controller.abort() };
}

// ---- the form --------------------------------------------------------------------------------

function currentTask() {
  return state.tasks.find((t) => t.task === $("task").value) ?? state.tasks[0];
}

function onTaskChange() {
  const task = currentTask();
  $("preset").replaceChildren(...task.presets.map((p) => new Option(p.name, p.name)));
  if (task.task === "sr") $("preset").value = `sr${$("factor").value}`;
  for (const label of document.querySelectorAll("[data-option]")) {
    label.hidden = !task.options.includes(label.dataset.option);
  }
  $("degrade-what").textContent = task.degrade;
  $("degrade").disabled = task.needsDegrade;
  if (task.needsDegrade) $("degrade").checked = true;
  $("task-summary").textContent = task.summary;
  // As dipFit does without the option: on where the task stops by default (the steps a cap).
  $("early-stop").checked = task.stopsByDefault;
  $("stop-rule").textContent = task.stopRule;
  onPresetChange();
}

function onPresetChange() {
  const preset = currentTask().presets.find((p) => p.name === $("preset").value);
  if (preset?.iterations) $("iterations").value = preset.iterations;
}

function setFile(file) {
  if (!file) return;
  state.file = file;
  const img = $("drop-preview");
  img.src = URL.createObjectURL(file);
  img.hidden = false;
  $("drop-text").textContent = `${file.name} (${Math.round(file.size / 1024)} KiB) — change`;
  $("submit").disabled = false;
}

/** The recipe the form describes, as a JSON recipe document (pipeline/recipe.ts). */
function buildRecipe() {
  const task = currentTask();
  const iterations = Math.max(10, Number($("iterations").value) || 1000);
  // About 100 points on the curves and 40 previews, whatever the length of the run.
  const checkEvery = Math.max(1, Math.min(50, Math.round(iterations / 100)));
  const previewEvery = Math.max(1, Math.round(iterations / checkEvery / 40));
  const fit = { task: task.task, preset: $("preset").value, iterations, checkEvery, previewEvery };
  if (task.options.includes("factor")) fit.factor = Number($("factor").value);
  if (task.options.includes("sigma")) fit.sigma = Number($("sigma").value);
  if (task.options.includes("peak")) fit.peak = Number($("peak").value);
  // Said either way: a fit given its steps would otherwise run them all (dip/options.ts).
  fit.earlyStop = $("early-stop").checked;
  const preset = task.presets.find((p) => p.name === fit.preset);
  const width = preset?.widths.find((w) => String(w.channels) === $("width").value);
  if (width) fit.net = width.net;
  const steps = [];
  const degrade = $("degrade").checked;
  if (degrade) {
    const spec = {
      denoise: { noise: 25, seed: 1 },
      jpeg: { jpeg: 10 },
      sr: { downsample: fit.factor },
      deblur: { blur: fit.sigma, noise: 5, seed: 1 },
      inpaint: { drop: 0.5, seed: 1 },
      poisson: { poisson: fit.peak, seed: 1 },
    }[task.task];
    steps.push({ op: "degrade", options: spec });
  }
  steps.push({ op: "save", options: { pattern: "{name}_observed.png" } });
  steps.push({ op: "dipFit", options: fit });
  if (degrade) steps.push({ op: "metrics", options: {} });
  steps.push({ op: "save", options: { pattern: "{name}_restored.png" } });
  return { version: 1, steps };
}

async function submitJob(event) {
  event.preventDefault();
  if (!state.file) return;
  $("form-error").hidden = true;
  $("submit").disabled = true;
  try {
    const form = new FormData();
    form.append("recipe", JSON.stringify(buildRecipe()));
    form.append("images", state.file, state.file.name);
    const job = await apiJson("/v1/jobs", { method: "POST", body: form });
    showJob(job.id);
    refreshJobs();
  } catch (error) {
    $("form-error").textContent = String(error.message ?? error);
    $("form-error").hidden = false;
  } finally {
    $("submit").disabled = false;
  }
}

// ---- the live view ---------------------------------------------------------------------------

let psnrChart = null;
let lossChart = null;

function chartWidth() {
  return Math.max(240, $("chart-psnr").clientWidth || 300);
}

function makeCharts() {
  psnrChart?.destroy();
  lossChart?.destroy();
  const width = chartWidth();
  const axis = { stroke: "#556", grid: { stroke: "#eee" }, ticks: { stroke: "#ddd" } };
  psnrChart = new uPlot(
    {
      title: "PSNR (dB)",
      width,
      height: 170,
      legend: { live: false },
      scales: { x: { time: false } },
      axes: [axis, { ...axis, size: 44 }],
      series: [
        { label: "step" },
        { label: "vs clean", stroke: "#1f6fd1", width: 2 },
        { label: "vs observed", stroke: "#999", dash: [5, 4] },
      ],
    },
    [[], [], []],
    $("chart-psnr"),
  );
  lossChart = new uPlot(
    {
      title: "loss · ES-WMV variance",
      width,
      height: 170,
      legend: { live: false },
      scales: { x: { time: false }, y: { distr: 3 }, v: { distr: 3 } },
      axes: [axis, { ...axis, size: 50 }, {
        ...axis,
        scale: "v",
        side: 1,
        size: 50,
        grid: { show: false },
      }],
      series: [
        { label: "step" },
        { label: "loss", stroke: "#8e44ad", width: 2 },
        { label: "variance", stroke: "#16a085", scale: "v" },
      ],
    },
    [[], [], []],
    $("chart-loss"),
  );
}

function drawCharts() {
  const p = state.points;
  const clean = (v) => (v === null || v === undefined || !Number.isFinite(v) ? null : v);
  const positive = (v) => (clean(v) !== null && v > 0 ? v : null);
  psnrChart?.setData([p.step, p.psnr.map(clean), p.psnrObserved.map(clean)]);
  lossChart?.setData([p.step, p.loss.map(positive), p.variance.map(positive)]);
  $("chart-psnr").dataset.points = String(p.step.length);
}

function resetLive() {
  state.points = { step: [], psnr: [], psnrObserved: [], loss: [], variance: [] };
  state.previews = 0;
  $("preview").removeAttribute("src");
  $("preview-caption").textContent = "waiting for the first preview…";
  $("result").hidden = true;
  $("job-error").hidden = true;
  $("job-line").textContent = "";
  makeCharts();
  drawCharts();
}

function formatSeconds(s) {
  if (!Number.isFinite(s)) return "?";
  s = Math.round(s);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

function onJobEvent(event) {
  switch (event.type) {
    case "input-start":
      if (state.points.step.length > 0) resetLive();
      $("job-line").textContent = `${event.name}: starting…`;
      break;
    case "fit": {
      const p = state.points;
      if (p.step.length > 0 && event.step <= p.step.at(-1)) break; // a replayed or redone check
      p.step.push(event.step);
      p.psnr.push(event.psnr ?? null);
      p.psnrObserved.push(event.psnrObserved ?? null);
      p.loss.push(event.loss);
      p.variance.push(event.variance ?? null);
      drawCharts();
      const eta = event.stepsPerSecond > 0
        ? (event.total - event.step) / event.stepsPerSecond
        : NaN;
      const psnr = event.psnr === undefined ? "" : ` · PSNR ${event.psnr.toFixed(2)} dB`;
      $("job-line").textContent = `${event.name}: step ${event.step}/${event.total} · ${
        event.stepsPerSecond.toFixed(1)
      } steps/s · ETA ${formatSeconds(eta)}${psnr}`;
      break;
    }
    case "preview":
      state.previews++;
      $("preview").src = `data:image/png;base64,${event.png}`;
      $("preview-caption").textContent = `${event.name} at step ${event.step}/${event.total}`;
      state.thumbs.set(state.jobId, $("preview").src);
      break;
    case "record": {
      // The whole curve (the stream keeps at most one fit event per interval).
      const c = event.record.checks;
      state.points = {
        step: c.step,
        psnr: c.psnr ?? c.step.map(() => null),
        psnrObserved: c.psnrObserved,
        loss: c.loss,
        variance: c.variance ?? c.step.map(() => null),
      };
      state.record = event.record;
      drawCharts();
      break;
    }
    case "input-failed":
      $("job-error").textContent = event.error;
      $("job-error").hidden = false;
      break;
    case "job-succeeded":
    case "job-failed":
    case "job-canceled":
      finishJob(state.jobId);
      break;
  }
  if (event.type.startsWith("job-")) {
    $("job-status").textContent = event.type.slice(4);
    $("job-status").className = `status ${event.type.slice(4)}`;
  }
}

async function showJob(id) {
  state.stream?.close();
  state.jobId = id;
  state.record = undefined;
  history.replaceState(null, "", `#job=${id}`); // a reload shows the same job
  $("job-panel").hidden = false;
  $("job-title").textContent = `Job ${id.slice(0, 8)}`;
  resetLive();
  for (const li of document.querySelectorAll("#jobs li")) {
    li.classList.toggle("current", li.dataset.id === id);
  }
  const job = await apiJson(`/v1/jobs/${id}`);
  $("job-status").textContent = job.status;
  $("job-status").className = `status ${job.status}`;
  state.stream = followEvents(id, onJobEvent);
}

async function finishJob(id) {
  const job = await apiJson(`/v1/jobs/${id}`);
  if (state.jobId !== id) return;
  $("job-status").textContent = job.status;
  $("job-status").className = `status ${job.status}`;
  if (job.status !== "succeeded") {
    if (job.error) {
      $("job-error").textContent = job.error;
      $("job-error").hidden = false;
    }
    return;
  }
  const result = job.results.find((r) => r.status === "done") ?? job.results[0];
  const file = (suffix) => result?.files.find((f) => f.name.endsWith(suffix));
  const restored = file("_restored.png") ?? result?.files.at(-1);
  const observed = file("_observed.png") ?? result?.files[0];
  if (!restored) return;
  const [after, before] = await Promise.all([
    fileUrl(restored.url),
    observed ? fileUrl(observed.url) : Promise.resolve(null),
  ]);
  $("after").src = after;
  if (before) $("before").src = before;
  $("before-clip").hidden = !before;
  $("download").href = after;
  $("download").download = restored.name.split("/").pop();
  state.thumbs.set(id, after);
  const metrics = { ...result.metrics };
  const rows = Object.entries(metrics).map(([k, v]) => [k, v.toFixed(k.includes("ssim") ? 4 : 2)]);
  if (state.record?.inputPsnr !== undefined && metrics.psnr !== undefined) {
    rows.push(["gain", `${(metrics.psnr - state.record.inputPsnr).toFixed(2)} dB`]);
  }
  if (state.record?.bestStep !== undefined) rows.push(["best step", String(state.record.bestStep)]);
  if (state.record?.stopStep !== undefined) {
    rows.push([
      "early stop",
      `step ${state.record.stopStep} (output of ${state.record.wmvArgmin})`,
    ]);
  }
  rows.push(["time", formatSeconds((job.timings.runMs ?? 0) / 1000)]);
  $("metrics").replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    return [dt, dd];
  }));
  $("result").hidden = false;
  refreshJobs();
}

// ---- the job list ----------------------------------------------------------------------------

async function refreshJobs() {
  let page;
  try {
    page = await apiJson("/v1/jobs?limit=20");
  } catch {
    return;
  }
  $("jobs-empty").hidden = page.jobs.length > 0;
  const items = page.jobs.map((job) => {
    const li = document.createElement("li");
    li.dataset.id = job.id;
    li.dataset.status = job.status;
    li.classList.toggle("current", job.id === state.jobId);
    const thumb = document.createElement("img");
    thumb.alt = "";
    const known = state.thumbs.get(job.id);
    if (known) thumb.src = known;
    else if (job.status === "succeeded") loadThumb(job, thumb);
    const text = document.createElement("div");
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = job.inputs.join(", ") || job.id;
    const sub = document.createElement("div");
    sub.className = "sub";
    const p = job.progress;
    const step = job.status === "running" && p.step !== undefined
      ? ` · step ${p.step}/${p.steps}`
      : "";
    sub.innerHTML = `<span class="status ${job.status}">${job.status}</span>${step}`;
    text.append(name, sub);
    li.append(thumb, text);
    if (job.status === "queued" || job.status === "running") {
      const cancel = document.createElement("button");
      cancel.className = "small cancel";
      cancel.textContent = "Cancel";
      cancel.onclick = async (e) => {
        e.stopPropagation();
        cancel.disabled = true;
        await apiJson(`/v1/jobs/${job.id}/cancel`, { method: "POST" }).catch(() => {});
        refreshJobs();
      };
      li.append(cancel);
    } else li.append(document.createElement("span"));
    li.onclick = () => showJob(job.id);
    return li;
  });
  $("jobs").replaceChildren(...items);
}

async function loadThumb(job, img) {
  const result = job.results.find((r) => r.status === "done");
  const file = result?.files.find((f) => f.name.endsWith("_restored.png")) ?? result?.files.at(-1);
  if (!file) return;
  try {
    const url = await fileUrl(file.url);
    state.thumbs.set(job.id, url);
    img.src = url;
  } catch { /* the list shows no thumbnail */ }
}

// ---- start -----------------------------------------------------------------------------------

async function start() {
  const tasks = await (await fetch("/page/tasks.json")).json();
  state.tasks = tasks;
  $("task").replaceChildren(...tasks.map((t) => new Option(t.label, t.task)));
  $("task").onchange = onTaskChange;
  $("preset").onchange = onPresetChange;
  $("factor").onchange = () => {
    if (currentTask().task === "sr") $("preset").value = `sr${$("factor").value}`;
    onPresetChange();
  };
  onTaskChange();
  $("file-input").onchange = () => setFile($("file-input").files[0]);
  const drop = $("drop");
  drop.ondragover = (e) => {
    e.preventDefault();
    drop.classList.add("over");
  };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    setFile(e.dataTransfer.files[0]);
  };
  $("job-form").onsubmit = submitJob;
  $("compare-range").oninput = () => {
    $("before-clip").style.clipPath = `inset(0 ${100 - Number($("compare-range").value)}% 0 0)`;
  };
  $("compare-actual").onchange = () => {
    $("compare").classList.toggle("actual", $("compare-actual").checked);
  };
  addEventListener("resize", () => {
    psnrChart?.setSize({ width: chartWidth(), height: 170 });
    lossChart?.setSize({ width: chartWidth(), height: 170 });
  });
  await refreshJobs();
  const shown = /^#job=([\w-]+)$/.exec(location.hash);
  if (shown) showJob(shown[1]).catch(() => history.replaceState(null, "", location.pathname));
  setInterval(() => {
    if (document.visibilityState === "visible") refreshJobs();
  }, 2000);
  document.body.dataset.ready = "true";
}

start();
