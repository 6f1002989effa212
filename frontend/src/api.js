// The pages are clients of the public API like any editor plugin. With keys on, the key the
// user types is kept in this tab's sessionStorage only and sent as a Bearer token.

const KEY_ITEM = "fauxpilot-api-key";

export class KeyRequired extends Error {}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function authHeaders(extra = {}) {
  const headers = { ...extra };
  const key = sessionStorage.getItem(KEY_ITEM);
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    return body?.error?.message || response.statusText;
  } catch {
    return response.statusText;
  }
}

// fetch() with the key; throws KeyRequired on 401 and ApiError on any other failure.
export async function callApi(path, { body, signal, method, keepalive } = {}) {
  const options = { method: method || (body === undefined ? "GET" : "POST"), signal, keepalive };
  if (body === undefined) {
    options.headers = authHeaders();
  } else {
    options.headers = authHeaders({ "Content-Type": "application/json" });
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 401) throw new KeyRequired(await errorMessage(response));
  if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
  return response;
}

export async function getJson(path, options) {
  return (await callApi(path, options)).json();
}

// Shows the key form over the page and resolves once a key is entered.
function promptForKey(message) {
  return new Promise((resolve) => {
    const dialog = document.createElement("dialog");
    dialog.id = "key-dialog";
    dialog.innerHTML = `
      <form method="dialog">
        <h2>API key</h2>
        <p>This server asks for an API key. It is kept in this browser tab only.</p>
        <p class="key-error"></p>
        <input type="password" name="key" autocomplete="off" required placeholder="API key">
        <button type="submit">Use key</button>
      </form>`;
    dialog.querySelector(".key-error").textContent = message || "";
    dialog.addEventListener("cancel", (event) => event.preventDefault());
    dialog.querySelector("form").addEventListener("submit", () => {
      sessionStorage.setItem(KEY_ITEM, dialog.querySelector("input").value.trim());
      dialog.remove();
      resolve();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// Runs `work` until the server accepts the key, asking for one whenever it answers 401.
export async function withKey(work) {
  for (;;) {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof KeyRequired)) throw error;
      sessionStorage.removeItem(KEY_ITEM);
      await promptForKey(error.message);
    }
  }
}

// Tabby's event shape: view when shown, select when accepted, dismiss when turned away.
// keepalive: an accept just before the page is left still arrives.
export function reportEvent(type, completionId) {
  const body = { type, completion_id: completionId, choice_index: 0 };
  callApi("/v1/events", { body, keepalive: true }).catch(() => {});
}
