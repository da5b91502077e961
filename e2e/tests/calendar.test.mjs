// /calendar: the deadline calculator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shot } from '../lib/browser.mjs';
import { useApp, loggedInPage, submit } from '../lib/console.mjs';

const app = useApp();

test('#deadline-form has its fields', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    const resp = await page.goto(`${app.base}/calendar`);
    assert.equal(resp.status(), 200);
    const form = page.locator('#deadline-form');
    assert.ok(await form.isVisible(), '#deadline-form visible');
    assert.equal(await form.locator('select[name=calendar]').count(), 1, 'calendar select');
    assert.ok(await form.locator('select[name=calendar] option[value="office"]').count() === 1, 'office calendar offered');
    assert.equal(await form.locator('input[name=basis]').count(), 1, 'basis input');
    assert.equal(await form.locator('input[name=from][type=datetime-local]').count(), 1, 'from is datetime-local');
    assert.equal(await form.locator('input[name=date][type=date]').count(), 1, 'date is a date input');
  } finally {
    await context.close();
  }
});

test('2wd from 2026-11-23T10:00 on office ends 2026-11-25 23:59:59', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    await page.goto(`${app.base}/calendar`);
    const form = page.locator('#deadline-form');
    await form.locator('select[name=calendar]').selectOption('office');
    await form.locator('input[name=basis]').fill('2wd');
    await form.locator('input[name=from]').fill('2026-11-23T10:00');
    const resp = await submit(page, '#deadline-form button[type=submit]');
    await shot(page, 'calendar');
    assert.equal(resp.status(), 200);
    const result = page.locator('#deadline-result');
    assert.ok(await result.isVisible(), '#deadline-result visible');
    assert.match(await result.innerText(), /2026-11-25 23:59:59/);
  } finally {
    await context.close();
  }
});
