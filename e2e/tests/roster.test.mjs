// /duty/roster (DUTY-04 swaps), /alerts/silences (MON-04) and a session that expires while a form is
// being filled in (issue 9: "a session that expired returns to login without losing the form").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shot } from '../lib/browser.mjs';
import { useApp, loggedInPage, login, submit, pathOf } from '../lib/console.mjs';

const app = useApp();

test('the roster as a week and a month; a swap requested by the officer and approved by the lead', async () => {
  const officer = await loggedInPage(app, 'duty-sz-1');
  const lead = await loggedInPage(app, 'fault-lead');
  try {
    const { page } = officer;
    let resp = await page.goto(`${app.base}/duty/roster`);
    assert.equal(resp.status(), 200);
    assert.equal(await page.locator('#roster-week-grid tbody tr').count(), 7, 'Monday to Sunday');
    assert.equal(await page.locator('#roster-week-grid tr[aria-current="date"]').count(), 1, 'today marked');
    assert.ok(await page.locator('#roster-week-grid li.mine').count() >= 1, 'own duties marked');
    await shot(page, 'roster-week');
    await page.click('#roster-month');
    assert.ok(await page.locator('#roster-month-grid tbody tr').count() >= 4, 'whole weeks of the month');
    assert.equal(await page.locator('#roster-month-grid td[aria-current="date"]').count(), 1);
    await shot(page, 'roster-month');
    await page.click('#roster-next');
    assert.notEqual(await page.locator('#roster-range').innerText(), '', 'next month shown');
    await page.goto(`${app.base}/duty/roster?date=2026-02-30`);
    assert.equal(await page.locator('#roster-error').count(), 1, 'a bad date is named');

    // A swap without a counterpart is refused next to the field; nothing is filed.
    // The officer's coming duties of the month (the rotation gives each branch person several).
    await page.goto(`${app.base}/duty/roster?view=month`);
    if (await page.locator('#sw-assignment option').count() < 2) await page.click('#roster-next');
    const option = page.locator('#sw-assignment option').nth(1);
    const duty = await option.getAttribute('value');
    const dutyDate = (await option.innerText()).slice(0, 10);
    await page.selectOption('#sw-assignment', duty);
    await page.fill('#sw-reason', '家中有事');
    resp = await submit(page, '#swap-submit');
    assert.equal(resp.status(), 422);
    assert.equal(await page.locator('.field-error[data-field="counterpart"]').count(), 1);
    // Unknown person: named.
    await page.fill('#sw-counterpart', 'nobody-here');
    resp = await submit(page, '#swap-submit');
    assert.equal(resp.status(), 400);
    assert.equal(await page.locator('.field-error[data-field="counterpart"]').count(), 1);
    await page.fill('#sw-counterpart', 'duty-sz-2');
    resp = await submit(page, '#swap-submit');
    assert.equal(resp.status(), 200);
    assert.equal(await page.locator('#flash').count(), 1);
    const row = page.locator('#swaps-table tr[data-state="requested"]').first();
    const id = await row.getAttribute('data-swap');
    // DUTY-04: the requester cannot decide their own swap.
    assert.equal(await row.locator('.swap-approve').count(), 0);

    const lp = lead.page;
    await lp.goto(`${app.base}/duty/roster`);
    const mine = lp.locator(`#swaps-table tr[data-swap="${id}"]`);
    await mine.locator('input[name=note]').fill('同意');
    resp = await submit(lp, `#swaps-table tr[data-swap="${id}"] .swap-approve`);
    assert.equal(resp.status(), 200);
    assert.equal(await lp.locator(`#swaps-table tr[data-swap="${id}"]`).getAttribute('data-state'), 'approved');
    // The duty moved: it is now shown with the new person.
    await lp.goto(`${app.base}/duty/roster?view=week&date=${dutyDate}`);
    assert.match(await lp.locator(`li[data-assignment="${duty}"]`).first().innerText(), /duty-sz-2/);
  } finally {
    await officer.context.close();
    await lead.context.close();
  }
});

test('silences: a bad matcher is named, a silence is created and ended', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    let resp = await page.goto(`${app.base}/alerts`);
    await page.click('#silences-link');
    assert.equal(pathOf(page), '/alerts/silences');
    await page.fill('#mu-matchers', 'system=~"[unclosed"');
    const end = new Date(Date.now() + 2 * 3600e3 + 8 * 3600e3).toISOString().slice(0, 16);
    await page.fill('#mu-ends', end);
    await page.fill('#mu-reason', '割接演练');
    resp = await submit(page, '#mute-submit');
    assert.equal(resp.status(), 422, 'a broken regex refused');
    assert.equal(await page.locator('.field-error[data-field="matchers"]').count(), 1);
    await page.fill('#mu-matchers', 'system="crm"\nseverity=~"critical|major"');
    resp = await submit(page, '#mute-submit');
    assert.equal(resp.status(), 200);
    const row = page.locator('#silences-table tr[data-status="active"]').first();
    assert.match(await row.innerText(), /system="crm"/);
    await shot(page, 'silences');
    resp = await submit(page, '#silences-table tr[data-status="active"] .mute-end button');
    assert.equal(resp.status(), 200);
    await page.click('#mute-all');
    assert.ok(await page.locator('#silences-table tr[data-status="ended"]').count() >= 1);
  } finally {
    await context.close();
  }
});

test('a session that expired while typing: log in again and the form comes back filled in', async () => {
  const { context, page } = await loggedInPage(app, 'preproc');
  try {
    await page.goto(`${app.base}/incidents/new`);
    await page.fill('#f-title', '营业厅无法受理宽带新装');
    await page.fill('#f-symptom', '提交订单后提示系统繁忙');
    // The session ends (timed out on the server) before the user submits: the browser still sends its
    // cookie, which no longer names a session.
    const [cookie] = (await context.cookies()).filter((c) => c.name === 'tianshu_session');
    await context.addCookies([{ ...cookie, value: 'expired-session-token' }]);
    let resp = await submit(page, '#incident-form button[type=submit]');
    assert.equal(pathOf(page), '/login');
    assert.match(page.url(), /expired=1/);
    assert.match(decodeURIComponent(page.url()), /next=\/incidents\/new/);
    await login(page, app.base, 'preproc');
    assert.equal(pathOf(page), '/incidents/new');
    assert.equal(await page.inputValue('#f-title'), '营业厅无法受理宽带新装');
    assert.equal(await page.inputValue('#f-symptom'), '提交订单后提示系统繁忙');
    assert.equal(await page.locator('.draft-restored').count(), 1);
    // An ordinary visit later does not bring the draft back.
    await page.goto(`${app.base}/incidents/new`);
    assert.equal(await page.inputValue('#f-title'), '');
  } finally {
    await context.close();
  }
});
