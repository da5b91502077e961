// The incident journey of issue 9: log in, create an incident, dispatch it to two branches, see the
// merged progress and the dashboard countdown, switch the language, and fail an action the role lacks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shot } from '../lib/browser.mjs';
import { useApp, loggedInPage, pathOf, submit, csrfToken } from '../lib/console.mjs';

const app = useApp();

test('pre-processor creates an FL2 ticket, dispatches it to two branches and sees merged progress', async () => {
  const { context, page } = await loggedInPage(app, 'preproc');
  try {
    await page.goto(`${app.base}/incidents/new`);
    const form = page.locator('#incident-form');
    // Field-level validation first: an empty title and a non-number count are refused next to the fields.
    await form.locator('[name=affected_users]').fill('many');
    let resp = await submit(page, '#incident-form button[type=submit]');
    assert.equal(resp.status(), 422);
    assert.ok(await page.locator('.field-error[data-field="affected_users"]').isVisible());
    await page.fill('#incident-form [name=title]', 'CRM 订单提交失败（测试）');
    await page.fill('#incident-form [name=symptom]', '坐席无法提交订单');
    await page.fill('#incident-form [name=reporter]', '坐席（测试）');
    await page.fill('#incident-form [name=affected_users]', '620');
    await page.selectOption('#incident-form [name=org_key]', 'guangzhou');
    await page.selectOption('#incident-form [name=system_key]', 'crm');
    await shot(page, 'incident-new');
    resp = await submit(page, '#incident-form button[type=submit]');
    assert.match(pathOf(page), /^\/incidents\/\d+$/);
    assert.equal((await page.locator('#incident-level').textContent()).trim(), 'FL2');
    assert.match(await page.locator('#level-reasons').textContent(), /620/);
    // Accept, then dispatch to two branches at once.
    await submit(page, 'button[data-action="accept"]');
    await page.locator('#dispatch-form input[value="branch:foshan"]').check();
    await page.locator('#dispatch-form input[value="branch:shenzhen"]').check();
    await submit(page, '#dispatch-form button[type=submit]');
    assert.equal(await page.locator('#children tbody tr').count(), 2);
    assert.equal((await page.locator('#children-progress').textContent()).trim(), '0%');
    // The clocks show live countdowns.
    assert.ok(await page.locator('#clocks .countdown').first().textContent());
    await shot(page, 'incident-detail');
    // The dashboard shows the open FL2 ticket and the clocks falling due next with a countdown.
    await page.goto(`${app.base}/`);
    assert.equal((await page.locator('[data-level="FL2"] .n').textContent()).trim(), '1');
    const countdown = await page.locator('#dash-clocks .countdown').first().textContent();
    assert.match(countdown, /剩余|已超时/);
    await shot(page, 'dashboard');
    // Switch the language: the same dashboard in English.
    await submit(page, 'button[data-lang="en"]');
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    assert.match(await page.locator('#dash-clocks .countdown').first().textContent(), /left|overdue/);
    await shot(page, 'dashboard-en');
  } finally {
    await context.close();
  }
});

test('the Foshan branch finishes its dispatched task and the parent shows the merged progress', async () => {
  const { context, page } = await loggedInPage(app, 'fs-duty');
  try {
    await page.goto(`${app.base}/incidents`);
    // The branch's list shows the task dispatched to it (top-level list) or via all=true.
    await page.goto(`${app.base}/api/v1/incidents?all=true`);
    const body = JSON.parse(await page.locator('body').textContent());
    assert.equal(body.items.length, 1, JSON.stringify(body));
    const child = body.items[0];
    await page.goto(`${app.base}/incidents/${child.id}`);
    await page.fill('#progress-form [name=note]', '分部已核实，影响已消除');
    await page.locator('#progress-form input[name=done]').check();
    await submit(page, '#progress-form button[type=submit]');
    assert.equal(pathOf(page), `/incidents/${child.id}`);
    await shot(page, 'incident-child-done');
    await page.goto(`${app.base}/incidents/${child.parent_id}`);
    // fs-duty cannot see the Guangzhou parent: the progress is checked as the pre-processor below.
  } finally {
    await context.close();
  }
  const pre = await loggedInPage(app, 'preproc');
  try {
    await pre.page.goto(`${app.base}/incidents`);
    await pre.page.locator('#incidents-table a').first().click();
    await pre.page.waitForLoadState('load');
    assert.equal((await pre.page.locator('#children-progress').textContent()).trim(), '50%');
  } finally {
    await pre.context.close();
  }
});

test('a read-only user cannot perform an incident action', async () => {
  const { context, page } = await loggedInPage(app, 'viewer');
  try {
    await page.goto(`${app.base}/incidents`);
    const link = page.locator('#incidents-table a').first();
    assert.ok(await link.count(), 'the viewer sees the ticket list');
    await link.click();
    await page.waitForLoadState('load');
    // No action buttons are offered …
    assert.equal(await page.locator('#actions button').count(), 0);
    // … and a forged POST is refused with the allowed list empty.
    const token = await csrfToken(page);
    const id = pathOf(page).split('/').pop();
    const r = await page.request.post(`${app.base}/incidents/${id}/act`, { form: { csrf: token, version: '99', action: 'cancel', reason: 'x' } });
    assert.ok([403, 409, 412].includes(r.status()), `status ${r.status()}`);
  } finally {
    await context.close();
  }
});

test('the escalation duty records the group report of an FL2 CRM fault and its clock is met (ESC-09)', async () => {
  const { context, page } = await loggedInPage(app, 'esc-a');
  try {
    await page.goto(`${app.base}/incidents/new`);
    await page.fill('#incident-form [name=title]', 'CRM 全省受理中断（测试）');
    await page.fill('#incident-form [name=symptom]', '全省营业厅无法受理');
    await page.fill('#incident-form [name=reporter]', '值班（测试）');
    await page.fill('#incident-form [name=affected_users]', '800');
    await page.selectOption('#incident-form [name=org_key]', 'guangzhou');
    await page.selectOption('#incident-form [name=system_key]', 'crm');
    await submit(page, '#incident-form button[type=submit]');
    assert.match(pathOf(page), /^\/incidents\/\d+$/);
    const row = page.locator('#clocks tr', { hasText: 'esc09_group_report' });
    assert.ok(await row.count(), 'the ESC-09 group-report clock runs');
    await page.selectOption('#report-form [name=kind]', 'group');
    await page.fill('#report-form [name=note]', '已电话报集团值班');
    await submit(page, '#report-form button[type=submit]');
    assert.equal(pathOf(page).split('?')[0].match(/^\/incidents\/\d+$/) !== null, true);
    assert.match(await page.locator('#clocks tr', { hasText: 'esc09_group_report' }).textContent(), /met/);
    assert.match(await page.locator('#timeline').textContent(), /已上报|Reported/);
    await shot(page, 'incident-reported');
  } finally {
    await context.close();
  }
});

test('facts edited on the ticket page raise the level and tell the centre manager (SEV-04, ESC-07)', async () => {
  const { context, page } = await loggedInPage(app, 'preproc');
  try {
    await page.goto(`${app.base}/incidents/new`);
    await page.fill('#incident-form [name=title]', '停机指令异常（测试）');
    await page.fill('#incident-form [name=symptom]', '部分客户被误停机');
    await page.fill('#incident-form [name=reporter]', '坐席（测试）');
    await page.selectOption('#incident-form [name=org_key]', 'foshan');
    await page.selectOption('#incident-form [name=system_key]', 'billing');
    await submit(page, '#incident-form button[type=submit]');
    assert.equal((await page.locator('#incident-level').textContent()).trim(), 'general');
    // A word where a number belongs is refused, naming the field, and nothing changes.
    await page.fill('#facts-form [name=affected_users]', 'lots');
    let resp = await submit(page, '#facts-form button[type=submit]');
    assert.equal(resp.status(), 422);
    assert.match(await page.locator('#action-error').textContent(), /affected_users/);
    await page.fill('#facts-form [name=affected_users]', '620');
    await page.fill('#facts-form [name=wrong_suspension_complaints]', '31');
    resp = await submit(page, '#facts-form button[type=submit]');
    const err = page.locator('#action-error');
    assert.equal(await err.count(), 0, (await err.count()) ? await err.textContent() : '');
    assert.equal((await page.locator('#incident-level').textContent()).trim(), 'FL2');
    assert.match(await page.locator('#timeline').textContent(), /ESC-07/);
    await shot(page, 'incident-facts');
  } finally {
    await context.close();
  }
});
