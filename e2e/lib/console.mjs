// Helpers shared by the console tests: one server + one browser per test file, login, CSRF token.
import { before, after } from 'node:test';
import { startServer } from './server.mjs';
import { launch, newContext } from './browser.mjs';

export const DEMO_PASSWORD = 'tianshu-demo';

/**
 * Registers before/after hooks that start a fresh server and a browser for the calling test file.
 * The returned object is filled in by the `before` hook: { base, browser, server }.
 */
export function useApp() {
  const app = { base: '', browser: null, server: null };
  before(async () => {
    app.server = await startServer();
    app.base = app.server.base;
    app.browser = await launch();
  });
  after(async () => {
    if (app.browser) await app.browser.close();
    if (app.server) await app.server.stop();
  });
  return app;
}

/** Opens /login (or the given login URL), submits the form and waits for the navigation. */
export async function login(page, base, username, password = DEMO_PASSWORD, { url } = {}) {
  if (url) {
    await page.goto(url);
  } else if (!page.url().startsWith(`${base}/login`)) {
    await page.goto(`${base}/login`);
  }
  await page.fill('#username', username);
  await page.fill('#password', password);
  return submit(page, 'form:has(#password) button[type=submit]');
}

/** A new context + page, logged in as `username`. */
export async function loggedInPage(app, username, contextOptions) {
  const context = await newContext(app.browser, contextOptions);
  const page = await context.newPage();
  await login(page, app.base, username);
  if (new URL(page.url()).pathname === '/login') {
    throw new Error(`login as ${username} failed: still on ${page.url()}`);
  }
  return { context, page };
}

/** The CSRF token from the hidden `input[name=csrf]` of any form on the page (e.g. the logout form). */
export async function csrfToken(page) {
  const v = await page.locator('input[name=csrf]').first().getAttribute('value');
  if (!v) throw new Error('no input[name=csrf] on the page');
  return v;
}

/**
 * Clicks a submit button and waits for the resulting navigation. Returns the final main-document
 * response: the re-rendered page of a POST (e.g. 401, 422, 403), or, after a redirect, the page it
 * led to (then `resp.request().redirectedFrom()` is the POST).
 */
export async function submit(page, submitSelector) {
  const [resp] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.click(submitSelector),
  ]);
  return resp;
}

/** Path of the page's current URL. */
export const pathOf = (page) => new URL(page.url()).pathname;
