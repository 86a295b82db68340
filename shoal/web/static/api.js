// The REST client: JSON in and out, the session token from localStorage, errors as ApiError.

const TOKEN_KEY = 'shoal.token';

/** A non-2xx answer: `status` is the HTTP status, `message` the server's `{error}`. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

export function getToken() {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
  me = null;
}

/** Whether a value is shaped like a Shoal id: a message's metadata may carry anything, and
 * only an id may become a path segment of an API call. */
export function isId(value) {
  return typeof value === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(value);
}

/** Call the API: `api('GET', '/api/agencies')`. Resolves to the parsed JSON (null for 204). */
export async function api(method, path, body) {
  const headers = {};
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'the server cannot be reached');
  }
  const text = response.status === 204 ? '' : await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const message = (data && typeof data.error === 'string') ? data.error
      : `request failed (${response.status})`;
    if (response.status === 401 && token) {
      // The session ended (logout elsewhere, revoked, expired): the app goes to /login.
      window.dispatchEvent(new CustomEvent('shoal:unauthorized'));
    }
    throw new ApiError(response.status, message);
  }
  return data;
}

let me = null;

/** The caller (`/api/auth/me`, with their houses), fetched once per session. */
export function currentUser() {
  if (!me) {
    me = api('GET', '/api/auth/me');
    me.catch(() => { me = null; });
  }
  return me;
}

/** Forget the cached user so the next `currentUser()` asks again (houses changed, say). */
export function refreshUser() {
  me = null;
  return currentUser();
}

/** Upload one file as multipart form data (`file`); resolves to the server's JSON answer. */
export async function upload(path, file, method = 'POST') {
  const form = new FormData();
  form.append('file', file, file.name || 'pasted');
  const headers = {};
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: form });
  } catch {
    throw new ApiError(0, 'the server cannot be reached');
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, (data && typeof data.error === 'string') ? data.error
      : `upload failed (${response.status})`);
  }
  return data;
}

const blobs = new Map();

/** A file the API serves only with the session (an attachment), as an object URL for an
 * <img> or a download link; fetched once per page. */
export function blobUrl(path) {
  if (!blobs.has(path)) {
    const token = getToken();
    const loading = fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {} })
      .then((response) => {
        if (!response.ok) throw new ApiError(response.status, `could not load (${response.status})`);
        return response.blob();
      })
      .then((blob) => URL.createObjectURL(blob));
    loading.catch(() => blobs.delete(path));
    blobs.set(path, loading);
  }
  return blobs.get(path);
}
