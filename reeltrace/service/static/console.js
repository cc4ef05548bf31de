// reeltrace console: register works, submit scans, follow their progress. No dependencies.
(function () {
  "use strict";

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function api(method, url, body) {
    return fetch(url, { method: method, body: body, credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          if (!r.ok) throw new Error(data.detail || ("HTTP " + r.status));
          return data;
        });
      });
  }

  function poll(url, onUpdate) {
    return new Promise(function (resolve, reject) {
      function tick() {
        api("GET", url).then(function (job) {
          onUpdate(job);
          if (job.status === "done" || job.status === "failed") resolve(job);
          else setTimeout(tick, 700);
        }).catch(reject);
      }
      tick();
    });
  }

  // Server-side files the admin allows, into <select data-paths>.
  var pathSelects = document.querySelectorAll("select[data-paths]");
  if (pathSelects.length) {
    api("GET", "/api/paths").then(function (data) {
      pathSelects.forEach(function (sel) {
        data.files.forEach(function (f) { sel.appendChild(el("option", { value: f }, f)); });
      });
    }).catch(function () {});
  }

  // Register a work (catalogue page).
  var reg = document.getElementById("register-form");
  if (reg) {
    reg.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var status = document.getElementById("register-status");
      var file = document.getElementById("register-file");
      var path = document.getElementById("register-path");
      var body = new FormData();
      if (file.files.length) body.append("file", file.files[0]);
      else if (path && path.value) body.append("path", path.value);
      else { status.textContent = "Choose a file first."; return; }
      ["title", "category", "owner"].forEach(function (name) {
        var input = document.getElementById("register-" + name);
        if (input && input.value) body.append(name, input.value);
      });
      var button = document.getElementById("register-submit");
      button.disabled = true;
      status.textContent = "Uploading…";
      api("POST", "/api/works", body).then(function (data) {
        return poll("/api/jobs/" + data.job.id, function (job) {
          status.textContent = job.status === "running" ? "Analysing frames…" : (job.status === "queued" ? "Waiting in the queue…" : job.status);
        });
      }).then(function (job) {
        if (job.status === "failed") throw new Error(job.error || "registration failed");
        status.textContent = "Registered " + job.result.work.title + ".";
        status.setAttribute("data-done", job.result.work.work_id);
        setTimeout(function () { location.reload(); }, 300);
      }).catch(function (err) {
        status.textContent = "Error: " + err.message;
        button.disabled = false;
      });
    });
  }

  // Submit scans (scans page): one job per file, each with its own progress row.
  var scanForm = document.getElementById("scan-form");
  if (scanForm) {
    scanForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var files = Array.prototype.slice.call(document.getElementById("scan-files").files);
      var sel = document.getElementById("scan-paths");
      var paths = sel ? Array.prototype.slice.call(sel.selectedOptions).map(function (o) { return o.value; }) : [];
      var list = document.getElementById("scan-progress");
      var inputs = files.map(function (f) { return { file: f, name: f.name }; })
        .concat(paths.map(function (p) { return { path: p, name: p }; }));
      if (!inputs.length) { list.textContent = "Choose at least one video."; return; }
      document.getElementById("scan-submit").disabled = true;
      var jobs = inputs.map(function (input) {
        var row = el("div", { "class": "prow" });
        var name = el("span", { "class": "qname" }, input.name);
        var state = el("span", { "class": "status st-queued" }, "uploading");
        var bar = el("div", { "class": "bar" });
        var fill = el("span");
        fill.style.width = "5%";
        bar.appendChild(fill);
        row.appendChild(name); row.appendChild(state); row.appendChild(bar);
        list.appendChild(row);
        var body = new FormData();
        if (input.file) body.append("file", input.file); else body.append("path", input.path);
        return api("POST", "/api/scans", body).then(function (data) {
          row.setAttribute("data-scan-id", data.scan.id);
          return poll("/api/scans/" + data.scan.id, function (scan) {
            state.textContent = scan.status;
            state.className = "status st-" + scan.status;
            if (scan.status === "queued") { bar.className = "bar"; fill.style.width = "15%"; }
            else if (scan.status === "running") { bar.className = "bar busy"; fill.style.width = ""; }
            else { bar.className = "bar"; fill.style.width = "100%"; }
          });
        }).catch(function (err) {
          state.textContent = "error"; state.className = "status st-failed";
          row.appendChild(el("div", { "class": "alert error small" }, err.message));
        });
      });
      Promise.all(jobs).then(function () { setTimeout(function () { location.reload(); }, 400); });
    });
  }

  // A scan page still in progress: refresh when it is done.
  var scanStatus = document.getElementById("scan-status");
  if (scanStatus && (scanStatus.dataset.status === "queued" || scanStatus.dataset.status === "running")) {
    poll("/api/scans/" + scanStatus.dataset.scanId, function (scan) {
      scanStatus.textContent = scan.status;
      scanStatus.className = "status st-" + scan.status;
    }).then(function () { location.reload(); });
  }

  // Scans list: refresh while some scan is unfinished.
  var pending = document.querySelectorAll('.scanrow[data-status="queued"], .scanrow[data-status="running"]');
  if (pending.length) {
    Promise.all(Array.prototype.map.call(pending, function (row) {
      return poll("/api/scans/" + row.dataset.scanId, function () {});
    })).then(function () { location.reload(); });
  }
})();
