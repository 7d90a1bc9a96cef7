// sideman web page: upload -> submit -> poll -> players. Plain JS, no dependencies.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("sideman-config").textContent || "{}");
  const $ = (id) => document.getElementById(id);
  const KEY_STORAGE = "sideman-api-key";

  if (!config.apiKey) {
    $("key-row").hidden = false;
    $("key").value = localStorage.getItem(KEY_STORAGE) || "";
    $("key").required = true;
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
      const message = body && body.error ? body.error.message : "HTTP " + response.status;
      throw new Error(message);
    }
    return body;
  }

  function showError(message) {
    $("error").textContent = message;
    $("error").hidden = !message;
  }

  function setStatus(text, progress) {
    $("progress").hidden = false;
    $("status-text").textContent = text;
    if (typeof progress === "number") { $("bar").value = progress; }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function run(event) {
    event.preventDefault();
    showError("");
    $("results").replaceChildren();
    const file = $("file").files[0];
    if (!file) { showError("Choose a recording first."); return; }
    if (!config.apiKey) { localStorage.setItem(KEY_STORAGE, apiKey()); }
    $("submit").disabled = true;
    try {
      setStatus("Uploading…", 0);
      const form = new FormData();
      form.append("file", file);
      const upload = await api("/api/common/upload/stream", { method: "POST", body: form });
      setStatus("Starting…", 2);
      const submitted = await api("/api/generate/submit", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          model: "add-instrumental",
          input: {
            upload_url: upload.data.file_url,
            title: $("title").value.trim(),
            tags: $("tags").value.trim(),
            negative_tags: $("negative-tags").value.trim(),
            model: $("model").value,
          },
        }),
      });
      const taskId = submitted.data.task_id;
      for (;;) {
        const status = (await api("/api/generate/status/" + encodeURIComponent(taskId))).data;
        if (status.status === "finished") { break; }
        if (status.status === "failed") { throw new Error(status.error_message || "The task failed."); }
        setStatus(status.status === "running" ? "Arranging and playing… " + status.progress + "%" : "Waiting in line…", status.progress);
        await sleep(1500);
      }
      setStatus("Done.", 100);
      const detail = await api("/api/generate/detail/music?task_id=" + encodeURIComponent(taskId));
      showResults(detail.data.files);
    } catch (error) {
      showError(error.message);
      $("progress").hidden = true;
    } finally {
      $("submit").disabled = false;
    }
  }

  function element(tag, attributes, text) {
    const node = document.createElement(tag);
    Object.entries(attributes || {}).forEach(([name, value]) => {
      if (value !== null && value !== undefined) { node.setAttribute(name, value); }
    });
    if (text) { node.textContent = text; }
    return node;
  }

  function player(label, url) {
    const wrap = element("div");
    wrap.append(element("div", { class: "meta" }, label));
    wrap.append(element("audio", { controls: "", preload: "none", src: url }));
    return wrap;
  }

  function showResults(files) {
    const results = $("results");
    files.forEach((item, index) => {
      const card = element("article", { class: "variation" });
      if (item.image_url) { card.append(element("img", { src: item.image_url, alt: "cover" })); }
      card.append(element("h2", {}, (item.title || "Variation") + " — take " + (index + 1)));
      const facts = [item.key, item.bpm ? Math.round(item.bpm) + " bpm" : null, item.meter,
        item.duration ? item.duration.toFixed(1) + " s" : null].filter(Boolean).join(" · ");
      card.append(element("p", { class: "meta" }, facts));
      if (item.prompt) { card.append(element("p", {}, item.prompt)); }
      card.append(player("Song (your voice + band)", item.audio_url));
      if (item.instrumental_url) { card.append(player("Instrumental", item.instrumental_url)); }
      const links = element("p", { class: "links" });
      const add = (label, url) => { if (url) { links.append(element("a", { href: url, download: "" }, label)); } };
      add("song mp3", item.audio_url);
      add("instrumental wav", item.wav_url);
      add("MIDI", item.midi_url);
      Object.entries(item.stems || {}).forEach(([role, url]) => add(role + " stem", url));
      card.append(links);
      results.append(card);
    });
  }

  $("form").addEventListener("submit", run);
})();
