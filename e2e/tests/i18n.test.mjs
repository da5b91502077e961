// Language switch: zh-CN by default, English on request, kept across page loads and as the
// user's default on the next login.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newContext, shot } from '../lib/browser.mjs';
import { useApp, login, loggedInPage, pathOf, submit } from '../lib/console.mjs';

const app = useApp();

const htmlLang = (page) => page.locator('html').getAttribute('lang');
const usersNavText = async (page) => (await page.locator('nav[aria-label] a[data-nav="users"]').innerText()).trim();

test('switching to English and back, kept across page loads', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    assert.equal(await htmlLang(page), 'zh-CN', 'Chinese first');
    assert.equal(await usersNavText(page), '用户');

    await page.goto(`${app.base}/users`);
    const resp = await submit(page, 'form[action="/lang"] button[data-lang="en"]');
    assert.ok(resp.status() < 400, `language switch answered ${resp.status()}`);
    assert.equal(await htmlLang(page), 'en');
    if (pathOf(page) !== '/users') await page.goto(`${app.base}/users`);
    await shot(page, 'users-en');
    assert.equal(await usersNavText(page), 'Users');

    // Kept across page loads.
    for (const path of ['/', '/users', '/audit', '/calendar']) {
      await page.goto(`${app.base}${path}`);
      assert.equal(await htmlLang(page), 'en', `${path} stays English`);
      assert.equal(await usersNavText(page), 'Users', `${path} nav in English`);
    }
    await page.goto(`${app.base}/users`);

    await page.reload();
    assert.equal(await htmlLang(page), 'en', 'reload keeps English');
  } finally {
    await context.close();
  }
});

test("the chosen language is the user's default on the next login (fresh browser)", async () => {
  // The previous test left admin on English. A fresh context has no cookies at all.
  const context = await newContext(app.browser);
  const page = await context.newPage();
  try {
    await login(page, app.base, 'admin');
    assert.notEqual(pathOf(page), '/login', 'logged in');
    assert.equal(await htmlLang(page), 'en', 'English restored from the user');
    assert.equal(await usersNavText(page), 'Users');

    // Back to Chinese, which is then kept as well.
    await submit(page, 'form[action="/lang"] button[data-lang="zh-CN"]');
    assert.equal(await htmlLang(page), 'zh-CN');
    assert.equal(await usersNavText(page), '用户');
    await page.goto(`${app.base}/users`);
    assert.equal(await htmlLang(page), 'zh-CN');
  } finally {
    await context.close();
  }

  const again = await newContext(app.browser);
  const page2 = await again.newPage();
  try {
    await login(page2, app.base, 'admin');
    assert.equal(await htmlLang(page2), 'zh-CN', 'Chinese restored from the user');
    assert.equal(await usersNavText(page2), '用户');
  } finally {
    await again.close();
  }
});

test("one user's language does not change another user's", async () => {
  const { context: a, page: pa } = await loggedInPage(app, 'viewer');
  try {
    assert.equal(await htmlLang(pa), 'zh-CN');
    await submit(pa, 'form[action="/lang"] button[data-lang="en"]');
    assert.equal(await htmlLang(pa), 'en');
  } finally {
    await a.close();
  }
  const { context: b, page: pb } = await loggedInPage(app, 'admin');
  try {
    assert.equal(await htmlLang(pb), 'zh-CN', 'admin still on Chinese');
  } finally {
    await b.close();
  }
});
