// The patient portal. The link's token lives in the URL fragment (never sent in a request
// line); it is sent in the X-Portal-Token header. Answers are kept as a draft in this
// phone's storage until the clinic confirms them; each form has a submission key so that
// sending it again (after a lost connection) never stores it twice.
(function () {
  "use strict";
  var TOKEN_KEY = "hipspine-portal-token";
  var token = location.hash.replace(/^#/, "") || sessionStorage.getItem(TOKEN_KEY) || "";
  if (location.hash) {
    sessionStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, "", location.pathname);
  }
  var draftKey = "hipspine-portal-draft-" + token.slice(0, 12);
  var status = document.getElementById("portal-status");
  var state = { due: [], painMapDone: true, step: 0 };

  function load() {
    try { return JSON.parse(localStorage.getItem(draftKey)) || {}; } catch (e) { return {}; }
  }
  var draft = load();
  draft.answers = draft.answers || {};
  draft.keys = draft.keys || {};
  draft.pain = draft.pain || {};
  function save() { localStorage.setItem(draftKey, JSON.stringify(draft)); }
  function keyFor(name) {
    if (!draft.keys[name]) {
      draft.keys[name] = name + "-" + (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2));
      save();
    }
    return draft.keys[name];
  }
  var TITLES = { "portal-error": "We could not open your link", "portal-done": "Thank you" };
  var title = document.getElementById("portal-title");
  function show(id) {
    var heading = TITLES[id] || title.dataset.default;
    if (title.textContent !== heading) { title.textContent = heading; if (TITLES[id]) title.focus(); }
    ["portal-loading", "portal-error", "portal-intro", "portal-painmap", "portal-form", "portal-done"].forEach(function (s) {
      document.getElementById(s).hidden = s !== id && !(id !== "portal-error" && id !== "portal-done" && s === "portal-intro" && state.step === 0);
    });
  }
  function say(text) { status.textContent = text; }
  function fail(message) {
    document.querySelector("#portal-error [data-message]").textContent = message;
    show("portal-error");
  }

  function api(method, path, body) {
    return fetch(path, {
      method: method,
      headers: Object.assign({ "X-Portal-Token": token, Accept: "application/json" }, body ? { "Content-Type": "application/json" } : {}),
      body: body ? JSON.stringify(body) : undefined,
      credentials: "omit",
      cache: "no-store",
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, data: data };
      });
    });
  }

  // Offline: say so at the top (it stays in sight) and under the Send button just pressed,
  // keep the form as it is, and send it again when the phone is back online (or try again
  // every 20 seconds, as the "online" event does not come when the network, not the phone,
  // was down). The submission key makes a repeated send store the form once.
  var retryTimer = null;
  function offline(retry) {
    say("You seem to be offline. Your answers are saved on this phone; they will be sent when you are back online.");
    document.body.classList.add("is-offline");
    document.querySelectorAll("[data-send-note]").forEach(function (note) {
      note.hidden = false;
      note.textContent = "Not sent yet: no connection. Nothing is lost — it will be sent by itself when you are back online.";
      if (note.offsetParent !== null) note.scrollIntoView({ block: "nearest" });
    });
    if (retry) {
      state.pending = retry;
      clearTimeout(retryTimer);
      retryTimer = setTimeout(retryPending, 20000);
    }
  }
  function online() {
    document.body.classList.remove("is-offline");
    document.querySelectorAll("[data-send-note]").forEach(function (note) { note.hidden = true; });
  }
  function retryPending() {
    clearTimeout(retryTimer);
    if (state.pending) { var p = state.pending; state.pending = null; say("Back online: sending…"); p(); }
  }

  // --- pain map -------------------------------------------------------------------------
  var painForm = document.getElementById("painmap-form");
  painForm.querySelectorAll("input.intensity").forEach(function (input) {
    if (draft.pain[input.name] !== undefined) {
      input.value = draft.pain[input.name];
      input.dispatchEvent(new Event("input", { bubbles: true }));
    }
  });
  painForm.addEventListener("input", function (e) {
    if (e.target.name) { draft.pain[e.target.name] = e.target.value; save(); say("Saved on this phone."); }
  });
  painForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var entries = [], bad = [];
    painForm.querySelectorAll("input.intensity").forEach(function (input) {
      if (input.value === "") return;
      var v = Number(input.value), parts = input.name.split(".");
      if (!Number.isInteger(v) || v < 0 || v > 10) { bad.push(input.getAttribute("aria-label")); return; }
      entries.push({ region: parts[1], side: parts[2], intensity: v });
    });
    var errors = painForm.querySelector("[data-errors]");
    if (bad.length) {
      errors.hidden = false;
      errors.textContent = "Use a whole number from 0 to 10 for: " + bad.join("; ");
      return;
    }
    errors.hidden = true;
    sendPainMap(entries);
  });
  function sendPainMap(entries) {
    draft.painEntries = entries; save();
    say("Sending…");
    api("POST", "/api/portal/pain-map", { entries: entries, submission_key: keyFor("pain_map") })
      .then(function (r) {
        online();
        if (r.status === 201 || r.status === 200) {
          delete draft.painEntries; draft.pain = {}; save();
          say("Pain map received.");
          state.painMapDone = true;
          next();
        } else if (r.status === 422) {
          var errors = painForm.querySelector("[data-errors]");
          errors.hidden = false;
          errors.textContent = r.data.detail || "Please check the numbers.";
        } else {
          fail(r.data.detail || "Something went wrong. Please try again later.");
        }
      })
      .catch(function () { offline(function () { sendPainMap(entries); }); });
  }

  // --- questionnaires -------------------------------------------------------------------
  var form = document.getElementById("questionnaire-form");
  var section = document.getElementById("portal-form");
  function render(instrument) {
    section.querySelector("[data-title]").textContent = instrument.name;
    section.querySelector("[data-instructions]").textContent = instrument.instructions;
    section.querySelector("[data-licence]").textContent = instrument.licence_notice;
    var total = state.due.length + (state.painMapInitially ? 1 : 0);
    section.querySelector("[data-step]").textContent = "Questionnaire " + (state.done + 1) + " of " + state.due.length;
    var saved = draft.answers[instrument.id] || {};
    var box = form.querySelector("[data-items]");
    box.innerHTML = "";
    var section_ = null;
    instrument.items.forEach(function (item, index) {
      if (item.section && !/^\d+$/.test(item.section) && item.section !== section_) {
        section_ = item.section;
        var h = document.createElement("h3"); h.className = "item-section"; h.textContent = item.section; box.appendChild(h);
      }
      var fs = document.createElement("fieldset");
      fs.className = "item"; fs.id = "item-" + item.id;
      var legend = document.createElement("legend");
      legend.textContent = (index + 1) + ". " + item.text;
      fs.appendChild(legend);
      item.options.forEach(function (option) {
        var label = document.createElement("label");
        label.className = "option";
        var input = document.createElement("input");
        input.type = "radio"; input.name = item.id; input.value = option.value;
        if (String(saved[item.id]) === String(option.value)) input.checked = true;
        label.appendChild(input);
        var span = document.createElement("span");
        span.textContent = option.label || String(option.value);
        label.appendChild(span);
        fs.appendChild(label);
      });
      var err = document.createElement("p"); err.className = "field-error"; err.hidden = true; err.id = "err-" + item.id;
      fs.appendChild(err);
      fs.setAttribute("aria-describedby", err.id);
      box.appendChild(fs);
    });
    form.dataset.instrument = instrument.id;
    form.querySelector("[data-errors]").hidden = true;
    show("portal-form");
    section.querySelector("[data-title]").setAttribute("tabindex", "-1");
    section.querySelector("[data-title]").focus();
  }
  form.addEventListener("change", function (e) {
    var id = form.dataset.instrument;
    draft.answers[id] = draft.answers[id] || {};
    draft.answers[id][e.target.name] = Number(e.target.value);
    save();
    say("Saved on this phone.");
    var err = document.getElementById("err-" + e.target.name);
    if (err) { err.hidden = true; err.closest("fieldset").classList.remove("invalid"); }
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var id = form.dataset.instrument;
    var instrument = state.due.filter(function (i) { return i.id === id; })[0];
    var answers = draft.answers[id] || {};
    var missing = instrument.items.filter(function (item) { return answers[item.id] === undefined; });
    var box = form.querySelector("[data-errors]");
    if (missing.length && !form.dataset.confirmedMissing) {
      box.hidden = false;
      box.textContent = missing.length + " question(s) have no answer. Answer them if you can, or press Send again to send as it is.";
      missing.forEach(function (item) {
        document.getElementById("item-" + item.id).classList.add("invalid");
      });
      document.getElementById("item-" + missing[0].id).scrollIntoView({ block: "center" });
      form.dataset.confirmedMissing = "1";
      return;
    }
    send(instrument, answers);
  });
  function send(instrument, answers) {
    say("Sending…");
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    api("POST", "/api/portal/responses", { instrument: instrument.id, answers: answers, submission_key: keyFor(instrument.id) })
      .then(function (r) {
        button.disabled = false;
        online();
        if (r.status === 201 || r.status === 200) {
          delete draft.answers[instrument.id]; save();
          say(instrument.short_name + " received. Thank you.");
          state.done += 1;
          delete form.dataset.confirmedMissing;
          next();
        } else if (r.status === 422) {
          var box = form.querySelector("[data-errors]");
          box.hidden = false;
          box.textContent = "Please check the marked questions.";
          (r.data.errors || []).forEach(function (err) {
            var item = err.field.replace(/^answers\./, "");
            var p = document.getElementById("err-" + item);
            if (p) { p.hidden = false; p.textContent = err.message; p.closest("fieldset").classList.add("invalid"); }
          });
        } else {
          fail(r.data.detail || "Something went wrong. Please try again later.");
        }
      })
      .catch(function () { button.disabled = false; offline(function () { send(instrument, answers); }); });
  }
  window.addEventListener("online", function () { online(); retryPending(); });

  function next() {
    state.step += 1;
    if (!state.painMapDone) { show("portal-painmap"); return; }
    if (state.done < state.due.length) { render(state.due[state.done]); return; }
    localStorage.removeItem(draftKey);
    sessionStorage.removeItem(TOKEN_KEY);
    show("portal-done");
  }

  if (!token) { fail("Open the link your clinic sent you: it carries your access key."); return; }
  api("GET", "/api/portal").then(function (r) {
    if (r.status !== 200) {
      fail(r.data.detail || "This link cannot be used.");
      return;
    }
    state.due = r.data.due;
    state.done = 0;
    state.painMapDone = r.data.pain_map_done;
    state.painMapInitially = !r.data.pain_map_done;
    var n = state.due.length;
    var intro = document.getElementById("portal-intro");
    intro.querySelector("[data-count]").textContent = (state.painMapDone ? "" : "a pain map and ") + n + " questionnaire" + (n === 1 ? "" : "s");
    var items = state.due.reduce(function (a, i) { return a + i.items.length; }, 0);
    intro.querySelector("[data-minutes]").textContent = String(Math.max(2, Math.round(items / 4)));
    var steps = intro.querySelector("[data-steps]");
    if (!state.painMapDone) { var li = document.createElement("li"); li.textContent = "Pain map"; steps.appendChild(li); }
    state.due.forEach(function (i) { var li = document.createElement("li"); li.textContent = i.name; steps.appendChild(li); });
    state.step = -1;
    next();
  }).catch(function () { offline(); fail("You seem to be offline. Connect to the internet and open the link again; anything you filled in is kept on this phone."); });
})();
