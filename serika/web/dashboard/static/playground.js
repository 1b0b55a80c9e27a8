// Playground: talks to the customer API (/api/openai/v1) with a key the person pasted.
// The key lives in this page's memory, and in sessionStorage only when asked to.
(function () {
  "use strict";

  var API = "/api/openai/v1";
  var STORE = "serika.playground.key";
  var state = { key: "", messages: [], controller: null };

  function $(id) { return document.getElementById(id); }

  function say(element, text, bad) {
    if (!element) return;
    element.textContent = text;
    element.classList.toggle("bad", Boolean(bad));
  }

  function request(path, options) {
    options = options || {};
    options.credentials = "omit"; // the key authenticates; the session cookie stays home
    options.headers = { "Authorization": "Bearer " + state.key, "Content-Type": "application/json" };
    return fetch(API + path, options);
  }

  async function problem(response) {
    try {
      var body = await response.json();
      if (body && body.error) {
        return body.error.message + " (" + (body.error.code || response.status) + ")";
      }
    } catch (ignored) { /* not JSON */ }
    return "The server answered " + response.status + ".";
  }

  function fill(select, items, empty) {
    select.replaceChildren();
    if (empty !== undefined) {
      var none = document.createElement("option");
      none.value = "";
      none.textContent = empty;
      select.appendChild(none);
    }
    items.forEach(function (item) {
      var option = document.createElement("option");
      option.value = item.value;
      option.textContent = item.label;
      select.appendChild(option);
    });
  }

  async function loadCharacters() {
    var select = $("pg-character");
    var response = await request("/characters?limit=100");
    if (response.status === 403) {
      fill(select, [], "None (this key lacks character_info)");
      select.disabled = true;
      return;
    }
    if (!response.ok) {
      fill(select, [], "None (" + (await problem(response)) + ")");
      select.disabled = true;
      return;
    }
    var characters = await response.json();
    fill(select, characters.map(function (c) {
      return { value: c.id, label: c.name + (c.creator ? " — by " + c.creator : "") };
    }), "None");
    select.disabled = false;
  }

  async function useKey(event) {
    event.preventDefault();
    var status = $("pg-key-status");
    var key = $("pg-key").value.trim();
    if (!/^sk-[0-9A-Za-z]{49}$/.test(key)) {
      say(status, "That does not look like a Serika key (sk- followed by 49 letters and digits).", true);
      return;
    }
    state.key = key;
    if ($("pg-remember").checked) {
      sessionStorage.setItem(STORE, key);
    } else {
      sessionStorage.removeItem(STORE);
    }
    say(status, "Checking the key…");
    var response;
    try {
      response = await request("/models");
    } catch (error) {
      say(status, "Could not reach the server: " + error.message, true);
      return;
    }
    if (!response.ok) {
      say(status, "This key was refused: " + (await problem(response)), true);
      return;
    }
    var models = (await response.json()).data || [];
    var texts = models.filter(function (m) { return (m.type || "text") === "text"; });
    var images = models.filter(function (m) { return m.type === "image"; });
    var label = function (m) { return { value: m.id, label: m.name ? m.name + " (" + m.id + ")" : m.id }; };
    fill($("pg-model"), texts.map(label));
    $("pg-model").disabled = texts.length === 0;
    $("pg-send").disabled = texts.length === 0;
    var imageModel = $("pg-image-model");
    if (imageModel) {
      fill(imageModel, images.map(label));
      imageModel.disabled = images.length === 0;
      $("pg-generate").disabled = images.length === 0;
      if (images.length === 0) say($("pg-image-status"), "This server lists no image model.", true);
    }
    say(status, "Key accepted: " + texts.length + " text and " + images.length + " image models.");
    await loadCharacters();
  }

  function bubble(role, text) {
    var element = document.createElement("div");
    element.className = "message " + role;
    element.textContent = text;
    $("pg-transcript").appendChild(element);
    element.scrollIntoView({ block: "nearest" });
    return element;
  }

  // Reads a Server-Sent Events body, calling onData with each event's data field.
  async function readEvents(response, onData) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, "\n");
      var cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        var event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        var data = event.split("\n")
          .filter(function (line) { return line.indexOf("data:") === 0; })
          .map(function (line) { return line.slice(5).trim(); })
          .join("\n");
        if (data && onData(data) === false) return;
      }
    }
  }

  async function send(event) {
    event.preventDefault();
    var input = $("pg-message");
    var text = input.value.trim();
    if (!text || !state.key) return;
    var status = $("pg-chat-status");
    var question = { role: "user", content: text };
    var body = {
      model: $("pg-model").value,
      messages: state.messages.concat([question]),
      stream: true
    };
    var character = $("pg-character").value;
    if (character) body.character_id = character;
    input.value = "";
    bubble("user", text);
    var answer = bubble("assistant", "");
    answer.dataset.state = "waiting";
    state.controller = new AbortController();
    $("pg-send").disabled = true;
    $("pg-stop").disabled = false;
    say(status, "Waiting for the model…");
    try {
      var response = await request("/chat/completions", {
        method: "POST",
        body: JSON.stringify(body),
        signal: state.controller.signal
      });
      if (!response.ok) throw new Error(await problem(response));
      answer.dataset.state = "streaming";
      say(status, "Streaming…");
      var failure = null;
      await readEvents(response, function (data) {
        if (data === "[DONE]") return false;
        var parsed = JSON.parse(data);
        if (parsed.error) { failure = parsed.error.message; return false; }
        var choice = parsed.choices && parsed.choices[0];
        var delta = choice && choice.delta && choice.delta.content;
        if (delta) {
          answer.textContent += delta;
          answer.scrollIntoView({ block: "nearest" });
        }
        return true;
      });
      if (failure) throw new Error(failure);
      answer.dataset.state = "done";
      state.messages.push(question, { role: "assistant", content: answer.textContent });
      say(status, "");
    } catch (error) {
      answer.dataset.state = "failed";
      if (error.name === "AbortError") {
        say(status, "Stopped.");
      } else {
        answer.classList.add("error");
        answer.textContent = answer.textContent || error.message;
        say(status, error.message, true);
      }
    } finally {
      state.controller = null;
      $("pg-send").disabled = false;
      $("pg-stop").disabled = true;
    }
  }

  async function generate(event) {
    event.preventDefault();
    var status = $("pg-image-status");
    var prompt = $("pg-prompt").value.trim();
    if (!prompt || !state.key) return;
    var output = $("pg-image-output");
    $("pg-generate").disabled = true;
    say(status, "Generating…");
    try {
      var response = await request("/images/generations", {
        method: "POST",
        body: JSON.stringify({ model: $("pg-image-model").value, prompt: prompt, n: 1 })
      });
      if (response.status === 404 || response.status === 405) {
        var text = await problem(response);
        if (/No route/.test(text) || response.status === 405) {
          throw new Error("Image generation is not available on this server.");
        }
        throw new Error(text);
      }
      if (!response.ok) throw new Error(await problem(response));
      var result = await response.json();
      (result.data || []).forEach(function (item) {
        var image = document.createElement("img");
        image.alt = "Generated: " + prompt;
        image.src = item.url || ("data:image/png;base64," + item.b64_json);
        output.prepend(image);
      });
      say(status, "Done.");
    } catch (error) {
      say(status, error.message, true);
    } finally {
      $("pg-generate").disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("key-form").addEventListener("submit", useKey);
    $("chat-form").addEventListener("submit", send);
    $("pg-stop").addEventListener("click", function () {
      if (state.controller) state.controller.abort();
    });
    $("pg-clear").addEventListener("click", function () {
      state.messages = [];
      $("pg-transcript").replaceChildren();
    });
    $("pg-message").addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("chat-form").requestSubmit();
    });
    var imageForm = $("image-form");
    if (imageForm) imageForm.addEventListener("submit", generate);
    var remembered = sessionStorage.getItem(STORE);
    if (remembered) {
      $("pg-key").value = remembered;
      $("pg-remember").checked = true;
      $("key-form").requestSubmit();
    }
  });
})();
