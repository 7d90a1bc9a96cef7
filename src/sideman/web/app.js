// sideman web page: choose, drop or record a take -> upload -> submit -> follow the
// stages -> players with a waveform, chord chart and beat grid. Plain JS, no dependencies,
// no build step. The API contract is shared/API.md; `stage`, `prompts` and the per-take
// `beats`, `downbeats`, `offset_seconds`, `chords_url` fields are sideman's *ext* ones.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("sideman-config").textContent || "{}");
  const $ = (id) => document.getElementById(id);
  const KEY_STORAGE = "sideman-api-key";
  const POLL_MS = 1000;
  const MAX_RECORD_SECONDS = 8 * 60;

  let chosenFile = null;
  // a take recorded to the click carries its tempo and grid (sideman's override fields)
  let takeOverrides = null;
  // the finished task the "play it again" panel corrects
  let lastTaskId = null;

  // ---- the API key: written into the page on loopback, asked for otherwise ----------

  if (!config.apiKey) {
    $("key-row").hidden = false;
    $("key").value = localStorage.getItem(KEY_STORAGE) || "";
  }

  function apiKey() {
    return config.apiKey || $("key").value.trim();
  }

  async function api(path, options) {
    const opts = options || {};
    const headers = Object.assign({ Authorization: "Bearer " + apiKey() }, opts.headers || {});
    const response = await fetch(path, Object.assign({}, opts, { headers }));
    let body = null;
    try { body = await response.json(); } catch (_e) { body = null; }
    if (!response.ok) {
      if (response.status === 401) { throw new Error("The API key was refused: check it and try again."); }
      const message = body && body.error ? body.error.message : "HTTP " + response.status;
      throw new Error(message);
    }
    return body;
  }

  // ---- small DOM helpers -------------------------------------------------------------

  function element(tag, attributes, text) {
    const node = document.createElement(tag);
    Object.entries(attributes || {}).forEach(([name, value]) => {
      if (value !== null && value !== undefined && value !== false) { node.setAttribute(name, value); }
    });
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function showError(message) {
    $("error").textContent = message || "";
    $("error").hidden = !message;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  // Files are served by this same server; use their path so fetch() stays same-origin
  // (the page may be open on "localhost" while the URLs say "127.0.0.1").
  function local(url) {
    if (!url) { return url; }
    const parsed = new URL(url, location.href);
    return parsed.origin === location.origin ? url : parsed.pathname + parsed.search;
  }

  // ---- the take: choose, drop or record ----------------------------------------------

  function useFile(file, label, overrides) {
    chosenFile = file;
    takeOverrides = overrides || null;
    const take = $("take");
    take.hidden = !file;
    if (!file) { return; }
    $("take-name").textContent = label || file.name;
    const audio = $("take-audio");
    if (audio.src) { URL.revokeObjectURL(audio.src); }
    audio.src = URL.createObjectURL(file);
    $("drop").classList.add("has-file");
    $("drop-text").replaceChildren(element("strong", {}, file.name), document.createTextNode(" — drop or choose another"));
    if (!$("title").value.trim()) {
      $("title").placeholder = file.name.replace(/\.[^.]+$/, "").slice(0, 100) || "My song";
    }
  }

  $("file").addEventListener("change", () => { if ($("file").files[0]) { useFile($("file").files[0]); } });
  const drop = $("drop");
  ["dragenter", "dragover"].forEach((name) => drop.addEventListener(name, (event) => {
    event.preventDefault();
    drop.classList.add("over");
  }));
  ["dragleave", "dragend"].forEach((name) => drop.addEventListener(name, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) { useFile(file); }
  });
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("file").click(); }
  });

  let recorder = null;
  let recordTimer = null;

  async function toggleRecording() {
    showError("");
    if (recorder && recorder.state === "recording") { recorder.stop(); return; }
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      showError("This browser cannot record here (recording needs https or localhost). Upload a file instead.");
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false } });
    } catch (error) {
      showError("No microphone: " + error.message);
      return;
    }
    const type = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4", "audio/webm"]
      .find((t) => MediaRecorder.isTypeSupported(t)) || "";
    // only the microphone is recorded: the click goes to the speakers/headphones alone
    recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
    const chunks = [];
    const started = Date.now();
    const click = $("click-on").checked ? startClick() : null;
    window.sidemanRecording = { recordedTracks: stream.getAudioTracks().map((t) => t.label), click: null };
    recorder.addEventListener("dataavailable", (event) => { if (event.data.size) { chunks.push(event.data); } });
    recorder.addEventListener("start", () => { if (click) { click.begin(); } });
    recorder.addEventListener("stop", () => {
      clearInterval(recordTimer);
      stream.getTracks().forEach((track) => track.stop());
      const grid = click ? click.stop() : null;
      $("record").textContent = "● Record again";
      $("record").classList.remove("recording");
      const mime = (recorder.mimeType || type || "audio/webm").split(";")[0];
      const extension = { "audio/ogg": "ogg", "audio/mp4": "m4a" }[mime] || "webm";
      const stamp = new Date().toISOString().slice(0, 16).replace(/[-:T]/g, "");
      const file = new File(chunks, "recording-" + stamp + "." + extension, { type: mime });
      const label = "Recorded take, " + clock((Date.now() - started) / 1000) +
        (grid ? " — to a click at " + grid.bpm + " bpm in " + grid.meter : "");
      useFile(file, label, grid);
    });
    recorder.start(1000);
    $("record").textContent = "■ Stop recording";
    $("record").classList.add("recording");
    $("record-time").hidden = false;
    $("record-time").textContent = "0:00";
    recordTimer = setInterval(() => {
      const seconds = (Date.now() - started) / 1000;
      $("record-time").textContent = clock(seconds);
      if (seconds >= MAX_RECORD_SECONDS && recorder.state === "recording") { recorder.stop(); }
    }, 250);
  }

  $("record").addEventListener("click", toggleRecording);

  // ---- the click: a count-in and a metronome, WebAudio to the output only -------------
  //
  // The first click of the count-in is a downbeat, `anchor` seconds after the recording
  // started (its scheduling lead plus the output latency, which the singer hears late),
  // so the take carries bpm, meter and first_downbeat_seconds: a metronomic grid the band
  // locks to exactly.

  const CLICK_LEAD_SECONDS = 0.25;

  function startClick() {
    const bpm = Math.min(300, Math.max(30, Number($("click-tempo").value) || 90));
    const meter = $("click-meter").value;
    const beatsPerBar = { "2/4": 2, "3/4": 3, "4/4": 4, "6/8": 2 }[meter] || 4;
    const countIn = Number($("click-count-in").value) || 1;
    const Context = window.AudioContext || window.webkitAudioContext;
    const context = new Context();
    const period = 60 / bpm;
    let timer = null;
    let beat = 0;
    let firstAt = 0;
    let beganAt = 0;
    const state = { clicks: 0, countIn: countIn * beatsPerBar };

    function tick(at, strong, counting) {
      const osc = context.createOscillator();
      const gain = context.createGain();
      osc.frequency.value = strong ? 1760 : 1175;
      gain.gain.setValueAtTime(counting ? 0.5 : 0.3, at);
      gain.gain.exponentialRampToValueAtTime(0.001, at + 0.05);
      osc.connect(gain).connect(context.destination);
      osc.start(at);
      osc.stop(at + 0.06);
      state.clicks += 1;
    }

    function schedule() {
      // a quarter second of clicks ahead, as the audio clock runs
      while (firstAt + beat * period < context.currentTime + 0.25) {
        tick(firstAt + beat * period, beat % beatsPerBar === 0, beat < state.countIn);
        beat += 1;
        if (beat === state.countIn) { $("record-time").classList.add("singing"); }
      }
    }

    let startedPerf = 0;
    return {
      async begin() {
        startedPerf = performance.now();  // the recorder has started
        await context.resume();
        beganAt = context.currentTime - (performance.now() - startedPerf) / 1000;
        firstAt = context.currentTime + CLICK_LEAD_SECONDS;
        schedule();
        timer = setInterval(schedule, 50);
        window.sidemanRecording.click = state;
      },
      stop() {
        clearInterval(timer);
        // when the first click reached the output, on the page's clock where the browser
        // says (getOutputTimestamp); else from the audio clock and the stated latencies
        const stamp = context.getOutputTimestamp ? context.getOutputTimestamp() : null;
        let anchor;
        if (stamp && stamp.performanceTime > 0 && stamp.contextTime > 0) {
          anchor = (stamp.performanceTime + (firstAt - stamp.contextTime) * 1000 - startedPerf) / 1000;
        } else {
          anchor = firstAt - beganAt + (context.outputLatency || 0) + (context.baseLatency || 0);
        }
        context.close();
        return { bpm, meter, first_downbeat_seconds: Number(Math.max(0, anchor).toFixed(3)) };
      },
    };
  }

  // ---- tag chips with suggestions from the vocabulary --------------------------------

  const vocabulary = config.tags || { genres: [], instruments: [], moods: [] };

  function chipField(chipsId, inputId, suggestionsId, options) {
    const box = $(chipsId);
    const input = $(inputId);
    const suggestions = $(suggestionsId);
    const tags = [];

    function add(text) {
      text.split(",").map((t) => t.trim().toLowerCase()).filter(Boolean).forEach((tag) => {
        if (!tags.includes(tag)) { tags.push(tag); }
      });
      input.value = "";
      render();
    }

    function remove(tag) {
      tags.splice(tags.indexOf(tag), 1);
      render();
      input.focus();
    }

    function render() {
      box.querySelectorAll(".chip").forEach((chip) => chip.remove());
      tags.forEach((tag) => {
        const chip = element("span", { class: "chip" }, tag);
        const x = element("button", { type: "button", "aria-label": "remove " + tag, title: "remove" }, "×");
        x.addEventListener("click", () => remove(tag));
        chip.append(x);
        box.insertBefore(chip, input);
      });
      suggest();
    }

    function suggest() {
      const typed = input.value.trim().toLowerCase();
      const groups = typed
        ? [["", options.kinds.flatMap((kind) => vocabulary[kind] || [])
            .filter((name) => name.includes(typed)).slice(0, 16)]]
        : options.kinds.map((kind) => [kind, (vocabulary[kind] || []).slice(0, options.per_kind)]);
      suggestions.replaceChildren();
      groups.forEach(([kind, names]) => {
        const fresh = names.filter((name) => !tags.includes(name));
        if (!fresh.length) { return; }
        if (kind) { suggestions.append(element("span", { class: "kind" }, kind)); }
        fresh.forEach((name) => {
          const button = element("button", { type: "button", class: "suggestion" }, "+ " + name);
          button.addEventListener("click", () => { add(name); input.focus(); });
          suggestions.append(button);
        });
      });
    }

    input.addEventListener("keydown", (event) => {
      if ((event.key === "Enter" || event.key === ",") && input.value.trim()) {
        event.preventDefault();
        add(input.value);
      } else if (event.key === "Enter") {
        event.preventDefault();
      } else if (event.key === "Backspace" && !input.value && tags.length) {
        remove(tags[tags.length - 1]);
      }
    });
    input.addEventListener("input", () => {
      if (input.value.includes(",")) { add(input.value); } else { suggest(); }
    });
    input.addEventListener("blur", () => { if (input.value.trim()) { add(input.value); } });
    box.addEventListener("click", (event) => { if (event.target === box) { input.focus(); } });
    render();
    return {
      value: () => tags.concat(input.value.trim() ? [input.value.trim().toLowerCase()] : []).join(", "),
    };
  }

  const tagField = chipField("tags-chips", "tags", "tags-suggestions",
    { kinds: ["genres", "instruments", "moods"], per_kind: 9 });
  const negativeField = chipField("negative-chips", "negative-tags", "negative-suggestions",
    { kinds: ["instruments", "genres"], per_kind: 5 });

  // ---- sliders -----------------------------------------------------------------------

  ["style-weight", "weirdness", "audio-weight"].forEach((id) => {
    const show = () => { $(id + "-out").textContent = Number($(id).value).toFixed(2); };
    $(id).addEventListener("input", show);
    show();
  });

  // ---- submit and follow the stages -------------------------------------------------

  const STAGE_OF = {
    ingest: "listen", analysis: "listen", text: "render", first: "render", render: "render", complete: "complete",
  };
  const STAGE_TEXT = {
    upload: "Uploading your take…",
    queue: "Waiting in line…",
    listen: "Listening: tempo, key, melody and chords…",
    text: "Writing the arrangement brief…",
    render: "The band is playing…",
    complete: "Done.",
  };

  // what the band is doing after a stage event: `text` starts take 1, `first` take 2...
  function playingText(stage, takes) {
    if (stage === "text") { return "The band is playing take 1 of " + takes + "…"; }
    if (stage === "first" && takes === 2) { return "The band is playing take 2 of 2…"; }
    if (stage === "first" || stage === "render") { return "The band is playing the other takes…"; }
    return null;
  }

  function setStage(stage, progress, detail) {
    $("progress").hidden = false;
    const order = Array.from($("stages").children).map((li) => li.dataset.stage);
    const at = order.indexOf(stage);
    Array.from($("stages").children).forEach((li, index) => {
      li.className = index < at || stage === "complete" ? "done" : index === at ? "active" : "";
    });
    if (typeof progress === "number") { $("bar").value = progress; }
    $("status-text").textContent = (detail || STAGE_TEXT[stage] || "") + (typeof progress === "number" && stage !== "complete" ? " " + progress + "%" : "");
  }

  function showBrief(prompts) {
    if (!prompts || !prompts.length) { return; }
    const box = $("brief-text");
    if (box.childElementCount === prompts.length) { return; }
    box.replaceChildren();
    prompts.forEach((prompt, index) => {
      const p = element("p");
      if (prompts.length > 1) { p.append(element("strong", {}, "Take " + (index + 1) + ". ")); }
      p.append(document.createTextNode(prompt));
      box.append(p);
    });
    $("brief").hidden = false;
  }

  function requestBody(uploadUrl) {
    const title = $("title").value.trim() || $("title").placeholder || "My song";
    const input = {
      upload_url: uploadUrl,
      title: title.slice(0, 100),
      tags: tagField.value(),
      negative_tags: negativeField.value(),
      model: $("model").value,
      style_weight: Number(Number($("style-weight").value).toFixed(2)),
      weirdness_constraint: Number(Number($("weirdness").value).toFixed(2)),
      audio_weight: Number(Number($("audio-weight").value).toFixed(2)),
      variations: Number($("variations").value),
    };
    const gender = document.querySelector("input[name=gender]:checked").value;
    if (gender) { input.vocal_gender = gender; }
    if (takeOverrides) { Object.assign(input, takeOverrides); }
    return { model: "add-instrumental", input };
  }

  async function run(event) {
    event.preventDefault();
    showError("");
    if (!chosenFile) { showError("Choose, drop or record a take first."); return; }
    if (!tagField.value()) { showError("Add at least one style tag (try one of the suggestions)."); $("tags").focus(); return; }
    if (!apiKey()) { showError("Enter an API key."); $("key").focus(); return; }
    if (!config.apiKey) { localStorage.setItem(KEY_STORAGE, apiKey()); }
    $("results").replaceChildren();
    $("heard").hidden = true;
    $("brief").hidden = true;
    $("brief-text").replaceChildren();
    $("submit").disabled = true;
    try {
      setStage("upload", 0);
      const form = new FormData();
      form.append("file", chosenFile, chosenFile.name);
      const upload = await api("/api/common/upload/stream", { method: "POST", body: form });
      setStage("queue", 1);
      const submitted = await api("/api/generate/submit", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(requestBody(upload.data.file_url)),
      });
      await follow(submitted.data.task_id, Number($("variations").value));
    } catch (error) {
      showError(error.message);
      $("progress").hidden = true;
    } finally {
      $("submit").disabled = false;
    }
  }

  // a task from its submit to its players and the "we heard" panel
  async function follow(taskId, takes, corrected) {
    document.body.dataset.taskId = taskId;
    delete document.body.dataset.results;
    for (;;) {
      const status = (await api("/api/generate/status/" + encodeURIComponent(taskId))).data;
      showBrief(status.prompts);
      if (status.status === "finished") { break; }
      if (status.status === "failed") { throw new Error(status.error_message || "The task failed."); }
      if (status.status === "not_started") {
        setStage("queue", status.progress);
      } else {
        const stage = STAGE_OF[status.stage] || "listen";
        setStage(stage, status.progress, playingText(status.stage, takes));
      }
      await sleep(POLL_MS);
    }
    const detail = (await api("/api/generate/detail/music?task_id=" + encodeURIComponent(taskId))).data;
    showBrief(detail.prompts);
    setStage("complete", 100);
    await showHeard(taskId, detail.files[0], corrected, detail.analysis);
    showResults(detail.files);
  }

  // ---- "We heard ...": the analysis, editable, and play it again ---------------------

  const TONICS = ["C", "C#", "Db", "D", "Eb", "E", "F", "F#", "Gb", "G", "Ab", "A", "Bb", "B"];
  TONICS.forEach((tonic) => ["major", "minor"].forEach((mode) => {
    $("fix-key").append(element("option", { value: tonic + " " + mode }, pretty(tonic + " " + mode)));
  }));
  const heardAs = { bpm: null, meter: null, key: null, chords: null };

  function pretty(text) {
    return String(text || "").replace(/([A-G])b/g, "$1♭").replace(/([A-G])#/g, "$1♯");
  }

  async function showHeard(taskId, item, corrected, heard) {
    if (!item) { return; }
    lastTaskId = taskId;
    const bpm = item.bpm ? Math.round(item.bpm * 10) / 10 : null;
    // where the voice left a close second reading, say it: the singer knows which they meant
    const rival = (!corrected && heard && heard.alternatives) || {};
    const tuning = (!corrected && heard && Math.abs(heard.tuning_cents || 0) >= 5) ?
      ", sung " + (heard.tuning_cents > 0 ? "+" : "") + Math.round(heard.tuning_cents) + " cents from A440" : "";
    $("heard-text").textContent = (corrected ? "Played as you said: " : "We heard ") +
      (bpm ? Math.round(bpm) + " bpm" : "a free tempo") +
      (rival.tempo_bpm ? " (or " + Math.round(rival.tempo_bpm) + ")" : "") +
      (item.meter ? " in " + item.meter : "") + (rival.meter ? " (or " + rival.meter + ")" : "") +
      (item.key ? ", " + pretty(item.key) : "") + (rival.key ? " (or " + pretty(rival.key) + ")" : "") + tuning;
    $("fix-tempo").value = bpm || "";
    $("fix-meter").value = item.meter || "4/4";
    if (item.key && !Array.from($("fix-key").options).some((o) => o.value === item.key)) {
      $("fix-key").append(element("option", { value: item.key }, pretty(item.key)));
    }
    $("fix-key").value = item.key || "C major";
    let sheet = "";
    if (item.lead_sheet_url) {
      try {
        const response = await fetch(local(item.lead_sheet_url));
        if (response.ok) { sheet = await response.text(); }
      } catch (_e) { sheet = ""; }
    }
    $("fix-chords").value = sheet;
    taps = [];
    $("tap-info").textContent = "or tap along while take 1 plays";
    Object.assign(heardAs, { bpm: $("fix-tempo").value, meter: $("fix-meter").value, key: $("fix-key").value,
      chords: sheet });
    $("heard").hidden = false;
  }

  // tap along with take 1: the taps, on the recording's clock, become the beat grid
  let taps = [];

  function tapTheBeat() {
    const audio = document.querySelector("article.variation audio");
    const card = document.querySelector("article.variation");
    if (!audio || !card) { return; }
    if (audio.paused) { audio.play().catch(() => {}); }
    const offset = Number(card.dataset.offsetSeconds || 0);
    const at = Number((audio.currentTime - offset).toFixed(3));
    if (at < 0) {  // the band's intro, before the recording starts
      $("tap-info").textContent = "that was the intro: tap on from where your voice comes in";
      return;
    }
    if (taps.length) {
      const gap = at - taps[taps.length - 1];
      if (gap >= 0 && gap < 0.2) { return; }  // a double tap
      if (gap < 0 || gap > 2) { taps = []; }  // a seek back or a pause: a new run of taps
    }
    taps.push(at);
    if (taps.length >= 4) {
      const gaps = taps.slice(1).map((t, i) => t - taps[i]).sort((a, b) => a - b);
      const bpm = 60 / gaps[Math.floor(gaps.length / 2)];
      $("fix-tempo").value = bpm.toFixed(1);
      $("tap-info").textContent = taps.length + " taps: " + bpm.toFixed(1) + " bpm — the band will follow your taps";
    } else {
      $("tap-info").textContent = taps.length + " tap" + (taps.length > 1 ? "s" : "") + "… keep going";
    }
  }

  $("tap").addEventListener("click", tapTheBeat);
  $("fix-tempo").addEventListener("input", () => {
    taps = [];
    $("tap-info").textContent = "or tap along while take 1 plays";
  });

  async function playAgain() {
    showError("");
    if (!lastTaskId) { return; }
    const input = { variations: Number($("fix-variations").value) };
    if (taps.length >= 4) {
      input.tap_times_seconds = taps.slice();
    } else if ($("fix-tempo").value && $("fix-tempo").value !== heardAs.bpm) {
      input.bpm = Number($("fix-tempo").value);
    }
    if ($("fix-meter").value !== heardAs.meter) { input.meter = $("fix-meter").value; }
    if ($("fix-key").value !== heardAs.key) { input.key = $("fix-key").value; }
    if ($("fix-chords").value.trim() && $("fix-chords").value !== heardAs.chords) { input.chords = $("fix-chords").value; }
    $("again").disabled = true;
    $("submit").disabled = true;
    try {
      setStage("queue", 1, "Playing it again…");
      const submitted = await api("/api/generate/rerender", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ task_id: lastTaskId, input }),
      });
      $("brief").hidden = true;
      $("brief-text").replaceChildren();
      await follow(submitted.data.task_id, input.variations, true);
    } catch (error) {
      showError(error.message);
    } finally {
      $("again").disabled = false;
      $("submit").disabled = false;
    }
  }

  $("again").addEventListener("click", playAgain);

  $("form").addEventListener("submit", run);

  // ---- results -----------------------------------------------------------------------

  function showResults(files) {
    const results = $("results");
    results.replaceChildren();
    files.forEach((item, index) => results.append(variationCard(item, index)));
    document.body.dataset.results = String(files.length);
  }

  function variationCard(item, index) {
    const card = element("article", { class: "variation card", "data-audio-id": item.audio_id,
      "data-offset-seconds": item.offset_seconds || 0 });
    const head = element("div", { class: "variation-head" });
    if (item.image_url) { head.append(element("img", { src: local(item.image_url), alt: "cover of take " + (index + 1) })); }
    const titles = element("div");
    titles.append(element("h2", {}, (item.title || "Untitled") + " — take " + (index + 1)));
    const facts = [item.key, item.bpm ? Math.round(item.bpm) + " bpm" : null, item.meter,
      item.duration ? clock(item.duration) : null].filter(Boolean).join(" · ");
    titles.append(element("p", { class: "meta" }, facts));
    if (item.tags) { titles.append(element("p", { class: "meta" }, item.tags)); }
    head.append(titles);
    card.append(head);

    if (item.prompt) {
      const brief = element("details", { class: "brief-small" });
      brief.append(element("summary", {}, "Brief"));
      brief.append(element("p", {}, item.prompt));
      card.append(brief);
    }

    const sources = { song: local(item.audio_url), instrumental: local(item.instrumental_url) };
    const audio = element("audio", { controls: "", preload: "auto", src: sources.song });
    const switcher = element("div", { class: "switch", role: "radiogroup", "aria-label": "what to hear" });
    [["song", "Song"], ["instrumental", "Instrumental"]].forEach(([mode, label]) => {
      if (!sources[mode]) { return; }
      const button = element("button", { type: "button", role: "radio", "data-mode": mode,
        "aria-checked": mode === "song" ? "true" : "false" }, label);
      button.addEventListener("click", () => switchTo(mode));
      switcher.append(button);
    });
    const player = element("div", { class: "player" });
    player.append(switcher, audio);
    card.append(player);

    const timeline = element("div", { class: "timeline" });
    const canvas = element("canvas", { class: "waveform",
      "aria-label": "waveform, chords and beats; click to seek" });
    timeline.append(canvas);
    card.append(timeline);

    const view = { item, audio, canvas, peaks: null, failed: false, duration: item.duration || 0, mode: "song" };
    const draw = () => drawTimeline(view);

    async function switchTo(mode) {
      if (mode === view.mode) { return; }
      const at = audio.currentTime;
      const playing = !audio.paused;
      view.mode = mode;
      audio.src = sources[mode];
      audio.addEventListener("loadedmetadata", () => {
        audio.currentTime = Math.min(at, audio.duration || at);
        if (playing) { audio.play().catch(() => {}); }
      }, { once: true });
      switcher.querySelectorAll("button").forEach((b) => b.setAttribute("aria-checked", String(b.dataset.mode === mode)));
      card.dataset.mode = mode;
      view.peaks = null;
      view.failed = false;
      draw();
      const peaks = await peaksOf(sources[mode]);
      if (view.mode !== mode) { return; }
      view.peaks = peaks;
      view.failed = !peaks;
      draw();
    }

    canvas.addEventListener("click", (event) => {
      const rect = canvas.getBoundingClientRect();
      const length = view.duration || audio.duration;
      if (!length) { return; }
      audio.currentTime = Math.max(0, Math.min(length, (event.clientX - rect.left) / rect.width * length));
      draw();
    });
    audio.addEventListener("timeupdate", draw);
    audio.addEventListener("seeked", draw);
    audio.addEventListener("play", function tick() {
      draw();
      if (!audio.paused) { requestAnimationFrame(() => tick()); }
    });
    new ResizeObserver(draw).observe(timeline);
    peaksOf(sources.song).then((peaks) => {
      if (view.mode !== "song") { return; }
      view.peaks = peaks;
      view.failed = !peaks;
      if (peaks && peaks.duration) { view.duration = peaks.duration; }
      canvas.dataset.decoded = String(Boolean(peaks));
      draw();
    });

    card.append(downloads(item));
    return card;
  }

  function downloads(item) {
    const links = element("div", { class: "downloads" });
    links.append(element("span", { class: "kind" }, "Download"));
    const add = (label, url) => {
      if (url) { links.append(element("a", { href: local(url), download: "", class: "download" }, label)); }
    };
    add("Song MP3", item.audio_url);
    add("Instrumental MP3", item.instrumental_url);
    add("Instrumental WAV", item.wav_url);
    Object.entries(item.stems || {}).forEach(([role, url]) => add(role + " stem WAV", url));
    add("MIDI", item.midi_url);
    add("Chords JSON", item.chords_url);
    add("Lead sheet", item.lead_sheet_url);
    add("Cover", item.image_url);
    return links;
  }

  // ---- waveform: decode with WebAudio, keep min/max per column ------------------------

  const peakCache = new Map();
  const COLUMNS = 2000;

  function peaksOf(url) {
    if (!url) { return Promise.resolve(null); }
    if (!peakCache.has(url)) {
      peakCache.set(url, (async () => {
        const response = await fetch(url);
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        const data = await response.arrayBuffer();
        const Context = window.OfflineAudioContext || window.webkitOfflineAudioContext;
        const buffer = await new Context(1, 1, 44100).decodeAudioData(data);
        const channels = Array.from({ length: buffer.numberOfChannels }, (_v, c) => buffer.getChannelData(c));
        const per = Math.max(1, Math.floor(buffer.length / COLUMNS));
        const min = new Float32Array(COLUMNS);
        const max = new Float32Array(COLUMNS);
        for (let col = 0; col < COLUMNS; col += 1) {
          let lo = 0;
          let hi = 0;
          const end = Math.min(buffer.length, (col + 1) * per);
          for (let i = col * per; i < end; i += 1) {
            let v = 0;
            for (const channel of channels) { v += channel[i]; }
            v /= channels.length;
            if (v < lo) { lo = v; }
            if (v > hi) { hi = v; }
          }
          min[col] = lo;
          max[col] = hi;
        }
        return { min, max, duration: buffer.duration, columns: Math.min(COLUMNS, Math.ceil(buffer.length / per)) };
      })().catch((error) => {
        console.warn("waveform:", error);
        return null;
      }));
    }
    return peakCache.get(url);
  }

  // ---- the timeline: waveform, beat grid, chord chart, playhead ----------------------

  const WAVE_H = 104;
  const CHORD_Y = 112;
  const CHORD_H = 30;
  const BEAT_Y = 148;
  const TIMELINE_H = 168;

  function chordName(label) {
    if (!label || label === "N" || label === "X") { return "N.C."; }
    const [root, rest] = label.split(":");
    const quality = (rest || "maj").split("/")[0];
    const bass = (rest || "").includes("/") ? "/" + rest.split("/")[1] : "";
    const names = { maj: "", min: "m", "7": "7", maj7: "maj7", min7: "m7", dim: "°", aug: "+", sus4: "sus4",
      sus2: "sus2", hdim7: "ø7", dim7: "°7", maj6: "6", min6: "m6", "9": "9", minmaj7: "m(maj7)" };
    return root + (quality in names ? names[quality] : quality) + bass;
  }

  function drawTimeline(view) {
    const canvas = view.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(200, canvas.clientWidth);
    const height = TIMELINE_H;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    const length = view.duration || view.audio.duration || 1;
    const offset = view.item.offset_seconds || 0;
    const x = (inputSeconds) => ((inputSeconds + offset) / length) * width;

    g.fillStyle = "#f3f1ec";
    g.fillRect(0, 0, width, WAVE_H);

    // beat grid behind the waveform, and as ticks on its own lane
    const downbeats = new Set((view.item.downbeats || []).map((t) => t.toFixed(3)));
    (view.item.beats || []).forEach((t) => {
      const bx = Math.round(x(t)) + 0.5;
      const strong = downbeats.has(t.toFixed(3));
      g.strokeStyle = strong ? "rgba(45, 91, 138, 0.35)" : "rgba(45, 91, 138, 0.12)";
      g.beginPath(); g.moveTo(bx, 0); g.lineTo(bx, WAVE_H); g.stroke();
      g.strokeStyle = strong ? "#2d5b8a" : "#9ab";
      g.beginPath(); g.moveTo(bx, BEAT_Y); g.lineTo(bx, BEAT_Y + (strong ? 14 : 7)); g.stroke();
    });
    g.fillStyle = "#2d5b8a";
    g.font = "10px system-ui, sans-serif";
    (view.item.downbeats || []).forEach((t, index) => { g.fillText(String(index + 1), x(t) + 3, BEAT_Y + 12); });

    // waveform
    const mid = WAVE_H / 2;
    if (view.peaks) {
      const peaks = view.peaks;
      const shown = peaks.duration / length;
      g.fillStyle = view.mode === "instrumental" ? "#b4632f" : "#2d5b8a";
      for (let px = 0; px < width * shown; px += 1) {
        const from = Math.floor((px / (width * shown)) * peaks.columns);
        const to = Math.max(from + 1, Math.floor(((px + 1) / (width * shown)) * peaks.columns));
        let lo = 0;
        let hi = 0;
        for (let c = from; c < to && c < peaks.columns; c += 1) {
          if (peaks.min[c] < lo) { lo = peaks.min[c]; }
          if (peaks.max[c] > hi) { hi = peaks.max[c]; }
        }
        const top = mid - hi * (mid - 2);
        g.fillRect(px, top, 1, Math.max(1, (hi - lo) * (mid - 2)));
      }
    } else {
      g.fillStyle = "#999";
      g.fillText(view.failed ? "this browser could not decode the audio for a waveform" : "decoding the waveform…", 8, mid);
    }

    // chord chart
    (view.item.chords || []).forEach((chord, index) => {
      const x0 = Math.max(0, x(chord.start_seconds));
      const x1 = Math.min(width, x(chord.end_seconds));
      if (x1 <= x0) { return; }
      const none = !chord.label || chord.label === "N";
      g.fillStyle = none ? "#eee" : index % 2 ? "#dfe8f1" : "#cddcea";
      g.fillRect(x0 + 1, CHORD_Y, x1 - x0 - 2, CHORD_H);
      g.fillStyle = "#1d3550";
      g.font = "600 13px system-ui, sans-serif";
      const name = chordName(chord.label);
      if (g.measureText(name).width < x1 - x0 - 6) { g.fillText(name, x0 + 5, CHORD_Y + 20); }
    });

    // playhead
    const px = (view.audio.currentTime / length) * width;
    g.strokeStyle = "#c0392b";
    g.lineWidth = 2;
    g.beginPath(); g.moveTo(px, 0); g.lineTo(px, height); g.stroke();
    g.lineWidth = 1;
  }
})();
