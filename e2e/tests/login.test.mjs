// Login page: form, wrong credentials (401 + #login-error), success (redirect to /).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newContext, shot } from '../lib/browser.mjs';
import { useApp, login, pathOf, DEMO_PASSWORD } from '../lib/console.mjs';

const app = useApp();

test('login page renders its form', async () => {
  const context = await newContext(app.browser);
  const page = await context.newPage();
  try {
    const resp = await page.goto(`${app.base}/login`);
    assert.equal(resp.status(), 200);
    assert.ok(await page.locator('#username').isVisible(), '#username visible');
    assert.ok(await page.locator('#password').isVisible(), '#password visible');
    assert.equal(await page.locator('#password').getAttribute('type'), 'password');
    assert.ok(await page.locator('button[type=submit]').first().isVisible(), 'submit button visible');
    assert.equal(await page.locator('#login-error').count(), 0, 'no error before a try');
    const lang = await page.locator('html').getAttribute('lang');
    assert.ok(lang === 'zh-CN' || lang === 'en', `html lang is zh-CN or en, got ${lang}`);
    await shot(page, 'login');
  } finally {
    await context.close();
  }
});

test('wrong credentials re-render the login page with 401 and #login-error', async () => {
  const context = await newContext(app.browser);
  const page = await context.newPage();
  try {
    const resp = await login(page, app.base, 'admin', 'not-the-password');
    assert.equal(resp.status(), 401);
    assert.equal(pathOf(page), '/login');
    assert.ok(await page.locator('#login-error').isVisible(), '#login-error visible');
    assert.ok(await page.locator('#username').isVisible(), 'form shown again');

    // An unknown user gets the same answer (no user enumeration).
    const resp2 = await login(page, app.base, 'no-such-user', 'whatever-password');
    assert.equal(resp2.status(), 401);
    assert.ok(await page.locator('#login-error').isVisible());
  } finally {
    await context.close();
  }
});

test('correct credentials redirect to / and a session is kept', async () => {
  const context = await newContext(app.browser);
  const page = await context.newPage();
  try {
    const resp = await login(page, app.base, 'admin', DEMO_PASSWORD);
    const post = resp.request().redirectedFrom();
    assert.ok(post, 'the POST /login answered with a redirect');
    assert.equal(post.method(), 'POST');
    assert.equal(resp.status(), 200);
    assert.equal(pathOf(page), '/');
    // The home page is now reachable without logging in again.
    const again = await page.goto(`${app.base}/`);
    assert.equal(again.status(), 200);
    assert.equal(pathOf(page), '/');
    assert.match(await page.locator('body').innerText(), /admin/);
    await shot(page, 'home');
  } finally {
    await context.close();
  }
});
