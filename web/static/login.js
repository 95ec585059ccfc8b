/* lh-web login: POST /api/login {"token": "..."} as JSON; the server sets the cookie. */
'use strict';

(function () {
  const form = document.getElementById('login-form');
  const input = document.getElementById('token');
  const button = document.getElementById('login-submit');
  const errorP = document.getElementById('login-error');

  function showError(msg) {
    /* The message comes from the server: textContent only, hidden characters shown. */
    errorP.textContent = String(msg).replace(/[\u0000-\u001F\u007F-\u009F\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF\u2028\u2029]/g,
      (c) => '\u27E6U+' + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0') + '\u27E7');
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (!token) {
      showError('enter your reviewer token');
      return;
    }
    button.disabled = true;
    errorP.textContent = '';
    try {
      let res;
      try {
        res = await fetch('/api/login', {
          method: 'POST',
          credentials: 'same-origin',
          cache: 'no-store',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify({ token }),
        });
      } catch (e) {
        showError('cannot reach the server');
        return;
      }
      let data = null;
      try {
        data = await res.json();
      } catch (e) {
        data = null;
      }
      if (res.ok) {
        input.value = '';
        window.location.assign('/');
        return;
      }
      if (res.status === 429) {
        showError('too many attempts, wait' + (data && typeof data.error === 'string' ? ' (' + data.error + ')' : ''));
      } else if (data && typeof data.error === 'string') {
        showError(data.error);
      } else if (res.status === 401) {
        showError('that token was not accepted');
      } else {
        showError('login failed: ' + res.status);
      }
    } finally {
      button.disabled = false;
    }
  });

  input.focus();
})();
