// The console shell on every logged-in page: lang, main navigation, user menu, language switch,
// logout; and the login redirect for unauthenticated requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newContext } from '../lib/browser.mjs';
import { useApp, login, loggedInPage, pathOf, submit } from '../lib/console.mjs';

const app = useApp();

const PAGES = ['/', '/users', '/audit', '/calendar'];
const ADMIN_NAV = ['home', 'users', 'audit', 'calendar', 'policy'];

/** Asserts the shell contract on the current page for `username`. */
async function assertShell(page, username, where) {
  const lang = await page.locator('html').getAttribute('lang');
  assert.ok(lang === 'zh-CN' || lang === 'en', `${where}: html lang is zh-CN or en, got ${lang}`);

  const nav = page.locator('nav[aria-label]').filter({ has: page.locator('a[data-nav]') });
  assert.equal(await nav.count(), 1, `${where}: one <nav aria-label> with a[data-nav] links`);
  assert.ok((await nav.getAttribute('aria-label')).trim().length > 0, `${where}: nav aria-label not empty`);
  assert.ok(await nav.locator('a[data-nav="home"]').isVisible(), `${where}: nav has data-nav=home`);

  const me = page.locator('#current-user');
  assert.ok(await me.isVisible(), `${where}: #current-user visible`);
  assert.match(await me.innerText(), new RegExp(`\\b${username.replace(/[-]/g, '\\-')}\\b`), `${where}: #current-user names ${username}`);

  const langForm = page.locator('form[action="/lang"]');
  assert.equal(await langForm.count(), 1, `${where}: one form posting to /lang`);
  assert.equal((await langForm.getAttribute('method') ?? '').toLowerCase(), 'post', `${where}: /lang form is method=post`);
  assert.equal(await langForm.locator('button[data-lang="en"]').count(), 1, `${where}: button[data-lang=en]`);
  assert.equal(await langForm.locator('button[data-lang="zh-CN"]').count(), 1, `${where}: button[data-lang=zh-CN]`);

  const logout = page.locator('form[action="/logout"] #logout');
  assert.equal(await logout.count(), 1, `${where}: #logout inside a form posting to /logout`);
  assert.ok(await logout.isVisible(), `${where}: #logout visible`);
  assert.equal(
    (await page.locator('form[action="/logout"]').getAttribute('method') ?? '').toLowerCase(), 'post',
    `${where}: /logout form is method=post`,
  );
  assert.ok(await page.locator('form[action="/logout"] input[type=hidden][name=csrf]').count() === 1,
    `${where}: logout form carries input[name=csrf]`);
}

test('admin: every main page has the shell and the full navigation', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    for (const path of PAGES) {
      const resp = await page.goto(`${app.base}${path}`);
      assert.equal(resp.status(), 200, `GET ${path}`);
      assert.equal(pathOf(page), path, `stayed on ${path}`);
      await assertShell(page, 'admin', path);
      for (const key of ADMIN_NAV) {
        assert.equal(await page.locator(`nav[aria-label] a[data-nav="${key}"]`).count(), 1,
          `${path}: admin nav has data-nav="${key}"`);
      }
    }
  } finally {
    await context.close();
  }
});

test('admin: every main-navigation link leads to a page with the shell', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    const links = page.locator('nav[aria-label] a[data-nav]');
    const hrefs = [];
    for (let i = 0; i < await links.count(); i++) {
      hrefs.push([await links.nth(i).getAttribute('data-nav'), await links.nth(i).getAttribute('href')]);
    }
    assert.ok(hrefs.length >= ADMIN_NAV.length, `at least ${ADMIN_NAV.length} nav links, got ${hrefs.length}`);
    for (const [key, href] of hrefs) {
      const resp = await page.goto(new URL(href, app.base).href);
      assert.equal(resp.status(), 200, `nav ${key} -> ${href}`);
      await assertShell(page, 'admin', `nav ${key} (${href})`);
    }
  } finally {
    await context.close();
  }
});

test('unauthenticated GET /users redirects to /login?next=%2Fusers, and login lands on /users', async () => {
  const context = await newContext(app.browser);
  const page = await context.newPage();
  try {
    const resp = await page.goto(`${app.base}/users`);
    const first = resp.request().redirectedFrom();
    assert.ok(first, 'GET /users answered with a redirect');
    assert.equal(new URL(first.url()).pathname, '/users');
    const u = new URL(page.url());
    assert.equal(u.pathname, '/login');
    assert.equal(u.search, '?next=%2Fusers');
    assert.ok(await page.locator('#username').isVisible());

    await login(page, app.base, 'admin');
    assert.equal(pathOf(page), '/users');
    assert.ok(await page.locator('#users-table').isVisible(), '#users-table after landing on /users');
  } finally {
    await context.close();
  }
});

test('login ignores a next= that leaves the site', async () => {
  const context = await newContext(app.browser);
  const page = await context.newPage();
  try {
    await page.goto(`${app.base}/login?next=${encodeURIComponent('//evil.example/x')}`);
    await login(page, app.base, 'admin').catch(() => { /* a blocked off-site navigation rejects */ });
    assert.equal(new URL(page.url()).origin, app.base, `stayed on this site, at ${page.url()}`);
  } finally {
    await context.close();
  }
});

test('#logout ends the session', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    await submit(page, '#logout');
    assert.equal(pathOf(page), '/login', 'logout lands on the login page');
    await page.goto(`${app.base}/`);
    assert.equal(pathOf(page), '/login', 'home is no longer reachable');
  } finally {
    await context.close();
  }
});
