// /changes: the change calendar (month and week, keyboard, 1366×768), releases (plan refused with the rule next to
// the field; go refused until the CHG-05 deliverables and CHG-12 training are recorded; go decision with the CHG-07
// checklist), cut-overs (applied too late → CHG-16 next to the start; the CHG-17 on-site start before any step) and
// requirements (unknown requester named). Issue 7.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shot } from '../lib/browser.mjs';
import { useApp, loggedInPage, submit, pathOf } from '../lib/console.mjs';

const app = useApp();

/** YYYY-MM-DD of the local (Asia/Shanghai) date `days` from today. */
function localDate(days) {
  const d = new Date(Date.now() + 8 * 3600_000 + days * 86400_000);
  return d.toISOString().slice(0, 10);
}

/** The first Thursday at least `min` days ahead (so every gate counted back is still ahead). */
function thursdayAhead(min) {
  for (let i = min; i < min + 7; i++) {
    const d = new Date(Date.now() + 8 * 3600_000 + i * 86400_000);
    if (d.getUTCDay() === 4) return d.toISOString().slice(0, 10);
  }
  throw new Error('no Thursday');
}

test('calendar: month and week views, keyboard reachable, fits 1366×768', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    const resp = await page.goto(`${app.base}/changes`);
    assert.equal(resp.status(), 200);
    const table = page.locator('#cal-table');
    assert.ok(await table.isVisible(), '#cal-table visible');
    assert.equal(await page.locator('#change-calendar').getAttribute('data-view'), 'month');
    assert.ok((await table.locator('tbody tr').count()) >= 5, 'a month grid has at least 5 weeks');
    assert.equal(await table.locator('thead th').count(), 7);
    assert.equal(await page.locator('td [aria-current=date]').count(), 1, 'today is marked');
    // No horizontal scrolling at 1366 px.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the viewport`);
    await shot(page, 'changes-month');
    // Keyboard: the week link is reached with Tab and followed with Enter.
    await page.locator('#cal-month').focus();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'cal-week');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    assert.equal(await page.locator('#change-calendar').getAttribute('data-view'), 'week');
    assert.equal(await page.locator('#cal-table tbody tr').count(), 1, 'one week');
    assert.equal(await page.locator('#cal-table tbody td').count(), 7);
    await page.click('#cal-next');
    assert.match(page.url(), /view=week/);
    await shot(page, 'changes-week');
  } finally {
    await context.close();
  }
});

test('release: a gate in the past is refused next to the date; go creates the checklist; shown on the calendar', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    await page.goto(`${app.base}/changes/releases`);
    const form = page.locator('#release-form');
    await form.locator('#rf-title').fill('CRM 月度版本（演示）');
    await form.locator('#rf-kind').selectOption('routine');
    await form.locator('#rf-family').fill('crm');
    await form.locator('#rf-date').fill(localDate(1));
    let resp = await submit(page, '#release-submit');
    assert.equal(resp.status(), 422);
    const err = page.locator('.field-error[data-field=date]');
    assert.ok(await err.isVisible(), 'error next to the date');
    assert.match(await err.innerText(), /^CHG-0[348]/);
    assert.equal(await page.locator('#rf-date').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('#rf-title').inputValue(), 'CRM 月度版本（演示）', 'the form keeps its values');
    await shot(page, 'changes-release-refused');
    const date = thursdayAhead(14);
    await page.locator('#rf-date').fill(date);
    resp = await submit(page, '#release-submit');
    assert.equal(resp.status(), 200);
    assert.match(pathOf(page), /^\/changes\/releases\/\d+$/);
    assert.equal(await page.locator('#gates-table tbody tr').count(), 3, 'three gates with due dates');
    assert.equal(await page.locator('#release').getAttribute('data-state'), 'planned');
    // Go / no-go: a no-go without a reason is refused with CHG-04.
    resp = await submit(page, '#act-no-go');
    assert.equal(resp.status(), 422);
    assert.match(await page.locator('#release-error').innerText(), /CHG-04/);
    // CHG-05: no go before the vendor's deliverables are recorded.
    resp = await submit(page, '#act-go');
    assert.equal(resp.status(), 422);
    assert.match(await page.locator('#release-error').innerText(), /CHG-05/);
    assert.equal(await page.locator('#prerequisites-table tbody tr[data-recorded=false]').count(), 3);
    // CHG-12: a training without its time is refused next to that field, in its own form.
    await page.locator('#p-ref-vendor_training').fill('新版本操作培训（厂商讲师）');
    resp = await submit(page, '#record-vendor_training');
    assert.equal(resp.status(), 422);
    assert.match(await page.locator('#p-err-vendor_training').innerText(), /CHG-12/);
    assert.equal(await page.locator('#p-held-vendor_training').getAttribute('aria-invalid'), 'true');
    await shot(page, 'changes-release-prerequisite-refused');
    await page.locator('#p-ref-change_description').fill('CRM 变更内容说明 v1.2');
    resp = await submit(page, '#record-change_description');
    assert.equal(resp.status(), 200);
    await page.locator('#p-ref-factory_test_report').fill('出厂测试报告 FTR-12');
    resp = await submit(page, '#record-factory_test_report');
    assert.equal(resp.status(), 200);
    await page.locator('#p-ref-vendor_training').fill('新版本操作培训（厂商讲师）');
    await page.locator('#p-held-vendor_training').fill(`${localDate(-1)}T10:00`);
    resp = await submit(page, '#record-vendor_training');
    assert.equal(resp.status(), 200);
    assert.equal(await page.locator('#prerequisites-table tbody tr[data-recorded=true]').count(), 3);
    resp = await submit(page, '#act-go');
    assert.equal(resp.status(), 200);
    assert.equal(await page.locator('#release').getAttribute('data-state'), 'go');
    assert.equal(await page.locator('#verification-table tbody tr').count(), 16, 'CHG-07 scenarios');
    assert.ok(await page.locator('#release-maintenance').isVisible(), 'alerts silenced');
    assert.ok(await page.locator('#release-announcement').isVisible(), 'announcement queued');
    await shot(page, 'changes-release-go');
    // The calendar of that month shows the release on its date and its gates.
    await page.goto(`${app.base}/changes?view=month&date=${date}`);
    const cell = page.locator(`#cal-table td[data-date="${date}"]`);
    assert.equal(await cell.locator('li[data-kind=release]').count(), 1);
    assert.ok((await page.locator('#cal-table li[data-kind=gate]').count()) >= 1, 'gates due shown');
    assert.ok((await page.locator('#cal-table li[data-kind=maintenance]').count()) >= 1, 'maintenance window shown');
  } finally {
    await context.close();
  }
});

test('cut-over applied too late: CHG-16 next to the start time, nothing created', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    await page.goto(`${app.base}/changes/cutovers`);
    const before = await page.locator('#cutovers-table tbody tr').count();
    const form = page.locator('#cutover-form');
    const day = localDate(1);
    await form.locator('#cf-title').fill('计费主机扩容（演示）');
    await form.locator('#cf-kind').selectOption('hardware');
    await form.locator('#cf-systems').fill('billing');
    await form.locator('#cf-starts').fill(`${day}T00:30`);
    await form.locator('#cf-ends').fill(`${day}T05:00`);
    for (const f of ['plan', 'rollback_plan', 'checklist', 'test_list', 'people', 'impact']) {
      await form.locator(`#cf-${f}`).fill('演示内容');
    }
    const resp = await submit(page, '#cutover-submit');
    assert.equal(resp.status(), 422);
    const err = page.locator('.field-error[data-field=starts_at]');
    assert.ok(await err.isVisible(), 'error next to the start');
    assert.match(await err.innerText(), /^CHG-16/);
    await shot(page, 'changes-cutover-refused');
    // A missing rollback plan is named next to its field.
    await page.locator('#cf-emergency').check();
    await page.locator('#cf-rollback_plan').fill(' ');
    const r2 = await submit(page, '#cutover-submit');
    assert.equal(r2.status(), 422);
    assert.match(await page.locator('.field-error[data-field=rollback_plan]').innerText(), /CHG-16/);
    await page.goto(`${app.base}/changes/cutovers`);
    assert.equal(await page.locator('#cutovers-table tbody tr').count(), before, 'nothing created');
  } finally {
    await context.close();
  }
});

test('requirement: an unknown requester is named; registration shows the REQ-01 deadline', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    await page.goto(`${app.base}/changes/requirements`);
    await page.locator('#qf-title').fill('代理商门户新增套餐（演示）');
    await page.locator('#qf-requester').fill('nobody-here');
    await page.locator('#qf-system').fill('agent_portal');
    let resp = await submit(page, '#requirement-submit');
    assert.equal(resp.status(), 400);
    assert.ok(await page.locator('.field-error[data-field=requester]').isVisible());
    await page.locator('#qf-requester').fill('admin');
    resp = await submit(page, '#requirement-submit');
    assert.equal(resp.status(), 200);
    assert.match(pathOf(page), /^\/changes\/requirements\/\d+$/);
    assert.match(await page.locator('#requirement').innerText(), /REQ-01/);
  } finally {
    await context.close();
  }
});

/** `YYYY-MM-DDTHH:MM` (Asia/Shanghai) of now + `minutes`, truncated to the minute. */
function localMinute(minutes) {
  const d = new Date(Date.now() + 8 * 3600_000 + minutes * 60_000);
  return d.toISOString().slice(0, 16);
}

test('cut-over start (CHG-17): no log before the start; a late arrival is refused next to its field; then steps', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  const mgr = await loggedInPage(app, 'room-mgr');
  try {
    // An emergency cut-over (no lead time) starting in 12 minutes.
    await page.goto(`${app.base}/changes/cutovers`);
    const form = page.locator('#cutover-form');
    await form.locator('#cf-title').fill('核心交换机板卡更换（演示）');
    await form.locator('#cf-kind').selectOption('hardware');
    await form.locator('#cf-systems').fill('billing');
    await form.locator('#cf-emergency').check();
    await form.locator('#cf-starts').fill(localMinute(12));
    await form.locator('#cf-ends').fill(localMinute(120));
    for (const f of ['plan', 'rollback_plan', 'checklist', 'test_list', 'people', 'impact']) {
      await form.locator(`#cf-${f}`).fill('演示内容');
    }
    let resp = await submit(page, '#cutover-submit');
    assert.equal(resp.status(), 200);
    const path = pathOf(page);
    assert.match(path, /^\/changes\/cutovers\/\d+$/);
    await mgr.page.goto(`${app.base}${path}`);
    resp = await submit(mgr.page, '#act-approve');
    assert.equal(resp.status(), 200);
    await page.goto(`${app.base}${path}`);
    assert.equal(await page.locator('#cutover').getAttribute('data-state'), 'approved');
    assert.equal(await page.locator('#log-form').count(), 0, 'no step before the start');
    assert.match(await page.locator('#cutover-start h2').innerText(), /CHG-17/);
    const start = page.locator('#start-form');
    assert.equal(await start.locator('#sf-lead').inputValue(), 'admin', 'the lead defaults to the user');
    await start.locator('#sf-kickoff').fill(localMinute(-60));
    await start.locator('#sf-arrived').fill(localMinute(-1));
    for (const c of ['qualified', 'equipment', 'host', 'departments', 'contractor']) {
      await start.locator(`#sf-${c}`).check();
    }
    resp = await submit(page, '#start-submit');
    assert.equal(resp.status(), 422);
    const err = page.locator('.field-error[data-field=arrived_at]');
    assert.ok(await err.isVisible(), 'error next to the arrival');
    assert.match(await err.innerText(), /^CHG-17/);
    assert.equal(await page.locator('#sf-arrived').getAttribute('aria-invalid'), 'true');
    assert.ok(await page.locator('#sf-contractor').isChecked(), 'the form keeps its values');
    await shot(page, 'changes-cutover-start-refused');
    await page.locator('#sf-arrived').fill(localMinute(-5));
    await page.locator('#sf-contractor').uncheck();
    resp = await submit(page, '#start-submit');
    assert.equal(resp.status(), 422);
    assert.match(await page.locator('.field-error[data-field=contractor_present]').innerText(), /CHG-17/);
    await page.locator('#sf-contractor').check();
    resp = await submit(page, '#start-submit');
    assert.equal(resp.status(), 200);
    assert.equal(await page.locator('#cutover').getAttribute('data-state'), 'started');
    assert.match(await page.locator('#start-record').innerText(), /admin/);
    await page.locator('#lf-step').fill('更换板卡');
    await page.locator('#lf-operator').fill('admin');
    await page.locator('#lf-supervisor').fill('dba');
    resp = await submit(page, '#log-submit');
    assert.equal(resp.status(), 200);
    assert.equal(await page.locator('#cutover').getAttribute('data-state'), 'in_progress');
    assert.equal(await page.locator('#log-table tbody tr').count(), 1);
    await shot(page, 'changes-cutover-started');
  } finally {
    await mgr.context.close();
    await context.close();
  }
});

test('assurance plan (CNT-06): a missing part is refused next to its field; written, listed and activated', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    await page.goto(`${app.base}/changes/assurance`);
    assert.match(await page.locator('#chg-subnav').innerText(), /重保|Assurance/);
    const form = page.locator('#assurance-form');
    await form.locator('#af-name').fill('春节重要通信保障（演示）');
    await form.locator('#af-starts_at').fill(localMinute(60 * 24));
    await form.locator('#af-ends_at').fill(localMinute(60 * 24 * 4));
    await form.locator('#af-scope_systems').fill('billing');
    await form.locator('#af-scope_regions').fill('guangzhou');
    await form.locator('#af-measures').fill('封网，双人值守');
    await form.locator('#af-contingency').fill('主备切换预案');
    await form.locator('#af-escalation').fill('30 分钟内报网络部');
    await form.locator('#af-weak_sections').fill('广州—深圳 单路由 | 备用电路 | 建设第二路由');
    let resp = await submit(page, '#assurance-submit');
    assert.equal(resp.status(), 422);
    const err = page.locator('.field-error[data-field=contacts]');
    assert.ok(await err.isVisible(), 'error next to the contacts');
    assert.match(await err.innerText(), /^CNT-06/);
    assert.equal(await page.locator('#af-contacts').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('#af-measures').inputValue(), '封网，双人值守', 'the form keeps its values');
    await shot(page, 'changes-assurance-refused');
    await page.locator('#af-contacts').fill('值班长 分机 8001');
    resp = await submit(page, '#assurance-submit');
    assert.equal(resp.status(), 200);
    const row = page.locator('#assurance-table tbody tr', { hasText: '春节重要通信保障（演示）' });
    assert.equal(await row.getAttribute('data-state'), 'draft');
    resp = await submit(page, `#assurance-table tbody tr[data-state=draft] button[id^=activate-]`);
    assert.equal(resp.status(), 200);
    assert.equal(await page.locator('#assurance-table tbody tr', { hasText: '春节重要通信保障（演示）' }).getAttribute('data-state'), 'active');
    await shot(page, 'changes-assurance-active');
  } finally {
    await context.close();
  }
});
