// /duty and /duty/comp-time: this week's roster of the demo rotation (DUTY-04), who is on duty now, the
// daily duty report (DUTY-06) and hand-over notes, the monthly comp-time statement (DUTY-05) and its XLSX
// export, in Chinese and English.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shot } from '../lib/browser.mjs';
import { useApp, loggedInPage, submit } from '../lib/console.mjs';

const app = useApp();

test('a duty officer sees this week, today marked, and the nav entry', async () => {
  const { context, page } = await loggedInPage(app, 'duty-sz-1');
  try {
    const resp = await page.goto(`${app.base}/duty`);
    assert.equal(resp.status(), 200);
    assert.equal(await page.locator('nav [data-nav="duty"][aria-current="page"]').count(), 1, 'duty nav active');
    const rows = page.locator('#duty-week tbody tr');
    assert.equal(await rows.count(), 7, 'Monday to Sunday');
    const today = page.locator('#duty-week tbody tr[aria-current="date"]');
    assert.equal(await today.count(), 1, 'today marked');
    // DUTY-04: every day has the branch day person and the HQ person on the day shift, one on the evening.
    const dayCell = today.locator('td').nth(1);
    assert.equal(await dayCell.locator('br').count(), 1, 'two people on the day shift');
    assert.match(await today.locator('td').nth(2).innerText(), /duty-/);
    // Either somebody is on duty now (with a person) or the page says nobody is (outside 08:30–22:00).
    const now = await page.locator('#on-duty tbody tr').count();
    const none = await page.locator('#on-duty-none').count();
    assert.ok(now > 0 || none === 1, 'on-duty section answers');
    const ics = await page.request.get(`${app.base}${await page.locator('#my-ics').getAttribute('href')}`);
    assert.equal(ics.status(), 200);
    assert.match(await ics.text(), /^BEGIN:VCALENDAR/);
    await shot(page, 'duty');
  } finally {
    await context.close();
  }
});

test('comp time of the month with the export link, and a bad month named', async () => {
  const { context, page } = await loggedInPage(app, 'fault-lead');
  try {
    const resp = await page.goto(`${app.base}/duty/comp-time`);
    assert.equal(resp.status(), 200);
    assert.ok(await page.locator('#comp-table tbody tr').count() >= 1, 'statements listed');
    assert.match(await page.locator('#comp-rule').innerText(), /1\.5h/);
    const href = await page.locator('#comp-export').getAttribute('href');
    const x = await page.request.get(`${app.base}${href}`);
    assert.equal(x.status(), 200);
    assert.match(x.headers()['content-type'], /spreadsheetml/);
    await shot(page, 'duty-comp-time');
    const bad = await page.goto(`${app.base}/duty/comp-time?month=2026-13`);
    assert.equal(bad.status(), 422);
    assert.equal(await page.locator('.field-error[data-field="month"]').count(), 1);
    // English.
    await page.goto(`${app.base}/duty`);
    await submit(page, 'form[action="/lang"] button[data-lang="en"]');
    await page.goto(`${app.base}/duty`);
    assert.match(await page.locator('h1').innerText(), /Duty roster/);
  } finally {
    await context.close();
  }
});

test('a duty officer files yesterday\'s missing daily report (DUTY-06) and hands over a note', async () => {
  // The demo roster starts a week back. Yesterday (Asia/Shanghai) the HQ day duty was duty-hq-2's on a
  // weekend, duty-hq-1's otherwise (DUTY-04 demo rotation); nobody filed its report.
  const y = new Date(Date.now() + 8 * 3600e3 - 86400e3);
  const date = y.toISOString().slice(0, 10);
  const user = [0, 6].includes(y.getUTCDay()) ? 'duty-hq-2' : 'duty-hq-1';
  const { context, page } = await loggedInPage(app, user);
  const card = `#my-reports article[data-date="${date}"]`;
  try {
    await page.goto(`${app.base}/duty`);
    assert.equal(await page.locator(card).getAttribute('data-state'), 'missing');
    // A late report's form is folded away until asked for.
    await page.locator(`${card} summary`).click();
    // The pack's fields, required ones marked.
    assert.match(await page.locator(`${card} label[for$="-anomalies"]`).innerText(), /\*$/);
    assert.doesNotMatch(await page.locator(`${card} label[for$="-remarks"]`).innerText(), /\*/);
    await page.locator(`${card} select[name=f_monitoring_checked]`).selectOption('true');
    await page.fill(`${card} textarea[name=f_im_groups]`, '答复 3 条');
    await page.fill(`${card} input[name=f_itsm_tickets]`, '2');
    // A required field left empty: refused next to it (422), what was typed kept.
    let resp = await submit(page, `${card} button.report-submit`);
    assert.equal(resp.status(), 422);
    assert.equal(await page.locator(`${card} .field-error[data-field="anomalies"]`).count(), 1);
    assert.equal(await page.locator(`${card} textarea[name=f_im_groups]`).inputValue(), '答复 3 条');
    await shot(page, 'duty-report-refused');
    await page.fill(`${card} textarea[name=f_anomalies]`, '14:10 CRM 告警,已处理');
    resp = await submit(page, `${card} button.report-submit`);
    assert.equal(resp.status(), 200);
    assert.match(await page.locator('#flash').innerText(), /日报已提交/);
    // Shown read-only afterwards.
    assert.equal(await page.locator(card).getAttribute('data-state'), 'filed');
    assert.equal(await page.locator(`${card} form`).count(), 0);
    assert.match(await page.locator(`${card} tr[data-field="anomalies"]`).innerText(), /14:10 CRM 告警/);
    assert.match(await page.locator(`${card} tr[data-field="itsm_tickets"]`).innerText(), /2/);
    await shot(page, 'duty-report-filed');
    // A hand-over note to the next shift, when on duty today.
    if (await page.locator('#handover-form').count() === 1) {
      await page.fill('#h-note', '无遗留问题');
      resp = await submit(page, '#handover-submit');
      assert.equal(resp.status(), 200);
      assert.match(await page.locator('#handover-notes').innerText(), /无遗留问题/);
    }
  } finally {
    await context.close();
  }
});
