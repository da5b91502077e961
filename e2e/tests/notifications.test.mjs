// Notifications with review before send (NTF-09): the escalation duty drafts a fault notice from a ticket,
// the fault-handling group leader approves it in the review queue, and the delivery log shows it sent
// (the demo's log channel stands in for the SMS gateway, so nothing leaves the machine).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shot } from '../lib/browser.mjs';
import { useApp, loggedInPage, pathOf, submit } from '../lib/console.mjs';

const app = useApp();
const state = { incident: '', message: '' };

test('the escalation duty drafts a fault notice from a ticket; it waits for review', async () => {
  const { context, page } = await loggedInPage(app, 'esc-a');
  try {
    await page.goto(`${app.base}/incidents/new`);
    await page.fill('#incident-form [name=title]', 'CRM 受理失败（测试）');
    await page.fill('#incident-form [name=symptom]', '营业厅无法受理开户');
    await page.fill('#incident-form [name=reporter]', '值班（测试）');
    await page.fill('#incident-form [name=affected_users]', '620');
    await page.selectOption('#incident-form [name=org_key]', 'guangzhou');
    await page.selectOption('#incident-form [name=system_key]', 'crm');
    await submit(page, '#incident-form button[type=submit]');
    assert.match(pathOf(page), /^\/incidents\/\d+$/);
    state.incident = pathOf(page).split('/').pop();

    // Choose the system-fault notice; the form is prefilled from the ticket's facts.
    await page.selectOption('#n-template-choice', 't2_system_fault_notice');
    await submit(page, '#notify-template-form button[type=submit]');
    assert.equal(await page.locator('#notify-form [name=template]').getAttribute('value'), 't2_system_fault_notice');
    assert.match(await page.locator('#n-impact_scope').inputValue(), /620/);
    assert.equal(await page.locator('#n-symptom').inputValue(), '营业厅无法受理开户');
    // NTF-04: a non-CallCenter system fault goes to classes A, B and C.
    for (const c of ['A', 'B', 'C']) {
      assert.ok(await page.locator(`#notify-form input[name=class][value=${c}]`).isChecked(), `class ${c}`);
    }
    // Only class C for this trial notice.
    await page.locator('#notify-form input[name=class][value=A]').uncheck();
    await page.locator('#notify-form input[name=class][value=B]').uncheck();

    // The estimated recovery time is required: the draft is refused next to the field.
    let resp = await submit(page, '#notify-draft-button');
    assert.equal(resp.status(), 422);
    assert.ok(await page.locator('.field-error[data-field="eta"]').isVisible());
    await page.fill('#n-eta', '今天 18:00');
    resp = await submit(page, '#notify-preview-button');
    assert.equal(resp.status(), 200);
    assert.match(await page.locator('#notify-preview').textContent(), /预计恢复时间:今天 18:00/);
    await shot(page, 'notify-form');

    await submit(page, '#notify-draft-button');
    assert.match(pathOf(page), /^\/notifications\/\d+$/);
    state.message = pathOf(page).split('/').pop();
    assert.equal(await page.locator('#message-state').getAttribute('data-state'), 'pending_review');
    assert.match(await page.locator('#message-subject').textContent(), /CRM 客户关系管理系统故障通知/);
    // The drafter cannot approve: no approve button is offered.
    assert.equal(await page.locator('button[data-action="approve"]').count(), 0);
  } finally {
    await context.close();
  }
});

test('the group leader approves it in the review queue and the delivery log shows it sent', async () => {
  const { context, page } = await loggedInPage(app, 'fault-lead');
  try {
    await page.locator('nav.side a[data-nav="notifications"]').click();
    await page.waitForLoadState('load');
    const row = page.locator(`#review-queue tr[data-message="${state.message}"]`);
    assert.equal(await row.count(), 1);
    assert.match(await row.textContent(), /esc-a/);
    await shot(page, 'notifications-queue');
    await row.locator('a').first().click();
    await page.waitForLoadState('load');
    await page.fill('#approve-note', '内容核实无误');
    await submit(page, 'button[data-action="approve"]');
    assert.match(await page.locator('#flash').textContent(), /审核通过/);
    // The worker delivers within moments through the log channel.
    let sent = false;
    for (let i = 0; i < 50 && !sent; i++) {
      sent = (await page.locator('#message-state').getAttribute('data-state')) === 'sent';
      if (!sent) {
        await page.waitForTimeout(200);
        await page.reload();
      }
    }
    assert.ok(sent, 'the message reaches sent');
    const rows = page.locator('#delivery-log tr[data-dstate]');
    assert.ok((await rows.count()) > 0);
    assert.equal(await page.locator('#delivery-log tr[data-dstate="sent"]').count(), await rows.count());
    assert.match(await rows.first().textContent(), /138\*\*\*\*/);
    assert.match(await page.locator('#message-review').textContent(), /fault-lead/);
    await shot(page, 'notification-sent');
  } finally {
    await context.close();
  }
  // The ticket's own delivery log shows the sent notice too.
  const duty = await loggedInPage(app, 'esc-a');
  try {
    await duty.page.goto(`${app.base}/incidents/${state.incident}`);
    const log = duty.page.locator(`#incident-deliveries table[data-message="${state.message}"]`);
    assert.ok((await log.locator('tr[data-dstate="sent"]').count()) > 0);
    await shot(duty.page, 'incident-deliveries');
  } finally {
    await duty.context.close();
  }
});
