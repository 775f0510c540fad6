// Waiting page of the cross-device login (the only script of auth_oidc's pages).
//
// Follows the approval by server-sent events, falls back to polling the same URL for JSON,
// and once the login is approved, denied or gone, loads the waiting page again: the server
// then hands the authorization code to the app, or explains what happened. Without
// JavaScript a <noscript> meta refresh reloads the waiting page instead.
"use strict";

(function () {
  var POLL_MS = 3000;
  var section = document.getElementById("device-login");
  if (!section) {
    return;
  }
  var eventsUrl = section.getAttribute("data-events-url");
  var waitUrl = section.getAttribute("data-wait-url");
  var enteredText = section.getAttribute("data-entered-text");
  var statusLine = document.getElementById("device-status");
  var source = null;
  var finished = false;

  function finish() {
    if (finished) {
      return;
    }
    finished = true;
    if (source) {
      source.close();
    }
    window.location.replace(waitUrl);
  }

  function update(status) {
    if (status === "waiting") {
      return;
    }
    if (status === "entered") {
      if (statusLine && enteredText && statusLine.textContent !== enteredText) {
        statusLine.textContent = enteredText;
      }
      return;
    }
    finish(); // approved, denied or gone
  }

  function poll() {
    if (finished) {
      return;
    }
    fetch(eventsUrl, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    })
      .then(function (response) {
        if (response.status === 404) {
          return { status: "gone" };
        }
        return response.ok ? response.json() : null;
      })
      .then(function (body) {
        if (body && typeof body.status === "string") {
          update(body.status);
        }
      })
      .catch(function () {
        // Offline for a moment: try again.
      })
      .then(function () {
        if (!finished) {
          window.setTimeout(poll, POLL_MS);
        }
      });
  }

  if (typeof window.EventSource === "function") {
    source = new EventSource(eventsUrl);
    source.addEventListener("status", function (event) {
      update(event.data);
    });
    source.onerror = function () {
      // A dropped stream reconnects by itself; a refused one (404) is closed for good.
      if (source && source.readyState === EventSource.CLOSED) {
        source = null;
        poll();
      }
    };
  } else {
    poll();
  }
})();
