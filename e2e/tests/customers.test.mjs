// Group customers and provisioning orders (issue 8 item 2): /customers lists tier, SLA-03 level and SLA-02 quota;
// /customers/{key} places an order (limit from the tier, SLA-05 scaling), refuses a stage without a limit next to
// the field (SLA-04), refuses a non-customer delay next to the cause (SLA-07), files a customer-caused delay that
// waits for a second person (the requester's own approval is refused next to the buttons, the room manager
// approves it) and records completion. On the demo silver customer's provisioning order: SLA-09 acceptances in
// phase order (an initial acceptance before the accompanying inspection refused next to the phase, a failed
// initial acceptance shown as rectification) and the KPI-06 data configuration (a notice in the future refused
// next to its field).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shot } from '../lib/browser.mjs';
import { useApp, loggedInPage, submit, csrfToken, pathOf } from '../lib/console.mjs';

const app = useApp();

/** `YYYY-MM-DDTHH:MM` in Asia/Shanghai, `days` from now, for a datetime-local input. */
function localInput(days) {
  const d = new Date(Date.now() + 8 * 3600_000 + days * 86400_000);
  return `${d.toISOString().slice(0, 10)}T10:00`;
}

test('customers: list, place an order, refusals next to the field, delay and completion', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    await page.goto(`${app.base}/`);
    const token = await csrfToken(page);
    const r = await page.request.post(`${app.base}/api/v1/customers`, {
      headers: { 'x-csrf-token': token },
      data: { key: 'e2e-cb-1', name: '临江建材集团（虚构）', tier: 'bronze', org_key: 'guangzhou' },
    });
    assert.equal(r.status(), 201, await r.text());

    await page.locator('nav a[href="/customers"]').click();
    await page.waitForLoadState();
    assert.ok(await page.locator('#cust-quota').isVisible());
    const row = page.locator('#customers-table tr[data-customer="e2e-cb-1"]');
    assert.ok(await row.isVisible());
    assert.match(await row.innerText(), /normal/);
    await shot(page, 'customers');

    await row.locator('a').click();
    await page.waitForLoadState();
    assert.equal(pathOf(page), '/customers/e2e-cb-1');
    // SLA-04: no acceptance/hand-over limit in the seed → refused next to the stage.
    await page.selectOption('#o-stage', 'acceptance_handover');
    await page.fill('#o-city', '临江市');
    let resp = await submit(page, '#order-form button[type=submit]');
    assert.equal(resp.status(), 422);
    assert.match(await page.locator('#o-stage-err').innerText(), /SLA-04/);
    // Construction survey, 8 points, bronze: 8/5 × 4 = 6.4 → 6.5 WD (SLA-05).
    await page.selectOption('#o-stage', 'construction_survey');
    await page.fill('#o-points', '8');
    await page.fill('#o-city', '临江市');
    resp = await submit(page, '#order-form button[type=submit]');
    assert.equal(resp.status(), 200);
    const order = page.locator('#orders-table tbody tr').first();
    assert.match(await order.innerText(), /6\.5wd/);
    const id = await order.getAttribute('data-order');

    // SLA-07: a delay not caused by the customer is refused next to the cause.
    await page.selectOption(`#d-reason-${id}`, 'not_customer_caused');
    await page.fill(`#d-until-${id}`, localInput(2));
    resp = await submit(page, `#delay-form-${id} button[type=submit]`);
    assert.equal(resp.status(), 422);
    assert.match(await page.locator(`#d-reason-${id}-err`).innerText(), /SLA-07/);
    // A customer-caused one before the deadline waits for a decision by someone else.
    await page.selectOption(`#d-reason-${id}`, 'customer_caused');
    await page.fill(`#d-until-${id}`, localInput(2));
    resp = await submit(page, `#delay-form-${id} button[type=submit]`);
    assert.equal(resp.status(), 200);
    const waiting = page.locator(`#order-forms-${id} tr[data-outcome="requested"]`);
    assert.equal(await waiting.count(), 1);
    const delayId = (await waiting.getAttribute('id')).replace('delay-', '');
    // Four-eyes: the requester's own approval is refused next to the decision buttons.
    resp = await submit(page, `#approve-form-${delayId} button[type=submit]`);
    assert.equal(resp.status(), 409);
    assert.match(await page.locator(`#decision-error-${id}`).innerText(), /SLA-07/);
    const mgr = await loggedInPage(app, 'room-mgr');
    try {
      await mgr.page.goto(`${app.base}/customers/e2e-cb-1`);
      resp = await submit(mgr.page, `#approve-form-${delayId} button[type=submit]`);
      assert.equal(resp.status(), 200);
      assert.equal(await mgr.page.locator(`#order-forms-${id} tr[data-outcome="granted"]`).count(), 1);
    } finally {
      await mgr.context.close();
    }
    await page.goto(`${app.base}/customers/e2e-cb-1`);
    await shot(page, 'customer-order');
    resp = await submit(page, `#complete-form-${id} button[type=submit]`);
    assert.equal(resp.status(), 200);
    assert.equal(await page.locator(`#delay-form-${id}`).count(), 0, 'a completed order takes no delay');
  } finally {
    await context.close();
  }
});

test('customers: SLA-09 acceptances and KPI-06 data configuration on a provisioning order', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    // The demo's silver customer has one provisioning order (7 points → 13 WD).
    await page.goto(`${app.base}/customers/demo-factory`);
    const id = await page.locator('#orders-table tbody tr').first().getAttribute('data-order');
    assert.ok(await page.locator(`#acceptance-form-${id}`).isVisible());

    // SLA-09: no initial acceptance before the accompanying inspection; refused next to the phase.
    await page.selectOption(`#a-phase-${id}`, 'initial_acceptance');
    await page.selectOption(`#a-outcome-${id}`, 'passed');
    let resp = await submit(page, `#acceptance-form-${id} button[type=submit]`);
    assert.equal(resp.status(), 422);
    assert.match(await page.locator(`#a-phase-${id}-err`).innerText(), /SLA-09/);
    assert.equal(await page.locator(`#acceptances-${id}`).count(), 0, 'nothing stored');

    await page.selectOption(`#a-phase-${id}`, 'accompanying_inspection');
    await page.selectOption(`#a-outcome-${id}`, 'passed');
    resp = await submit(page, `#acceptance-form-${id} button[type=submit]`);
    assert.equal(resp.status(), 200);
    // A failed initial acceptance returns the order to engineering for rectification.
    await page.selectOption(`#a-phase-${id}`, 'initial_acceptance');
    await page.selectOption(`#a-outcome-${id}`, 'failed');
    resp = await submit(page, `#acceptance-form-${id} button[type=submit]`);
    assert.equal(resp.status(), 200);
    assert.equal(await page.locator(`#acceptances-${id} tbody tr`).count(), 2);
    assert.equal(await page.locator(`#delivery-${id} [data-acceptance-state="rectification"]`).count(), 1);

    // KPI-06: a notice in the future is refused next to its field; nothing is recorded.
    await page.fill(`#c-notified-${id}`, localInput(1));
    resp = await submit(page, `#data-config-form-${id} button[type=submit]`);
    assert.equal(resp.status(), 422);
    assert.ok(await page.locator(`#c-notified-${id}-err`).isVisible());
    assert.equal(await page.locator(`#data-config-${id}`).count(), 0);
    await shot(page, 'customer-delivery');
  } finally {
    await context.close();
  }
});

test('customers: a complaint with the deadline customer service set, refused next to the field, then closed (KPI-08)', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    await page.goto(`${app.base}/`);
    const token = await csrfToken(page);
    const r = await page.request.post(`${app.base}/api/v1/customers`, {
      headers: { 'x-csrf-token': token },
      data: { key: 'e2e-cp-1', name: '澄川物流集团（虚构）', tier: 'bronze', org_key: 'zhuhai' },
    });
    assert.equal(r.status(), 201, await r.text());
    await page.goto(`${app.base}/customers/e2e-cp-1`);
    assert.ok(await page.locator('#cust-complaints-h').isVisible());
    // KPI-08: the handling deadline must come after receipt; refused next to the deadline, the text kept.
    await page.fill('#c-received', localInput(-2));
    await page.fill('#c-due', localInput(-3));
    await page.fill('#c-summary', '专线丢包严重');
    let resp = await submit(page, '#complaint-form button[type=submit]');
    assert.equal(resp.status(), 422);
    assert.match(await page.locator('#c-due-err').innerText(), /KPI-08/);
    assert.equal(await page.locator('#c-summary').inputValue(), '专线丢包严重');
    assert.equal(await page.locator('#complaints-table tbody tr').count(), 0, 'nothing stored');
    // A good one with its SEV-08 level.
    await page.fill('#c-received', localInput(-1));
    await page.fill('#c-due', localInput(1));
    await page.selectOption('#c-level', 'CS3');
    resp = await submit(page, '#complaint-form button[type=submit]');
    assert.equal(resp.status(), 200);
    const row = page.locator('#complaints-table tbody tr').first();
    assert.match(await row.innerText(), /CS3/);
    const id = await row.getAttribute('data-complaint');
    // Closed now, before its deadline: on time.
    await page.fill(`#cc-res-${id}`, '已更换光模块并回访');
    resp = await submit(page, `#complaint-close-${id} button[type=submit]`);
    assert.equal(resp.status(), 200);
    assert.equal(await page.locator(`#complaint-${id}`).getAttribute('data-outcome'), 'on_time');
    assert.equal(await page.locator(`#complaint-close-${id}`).count(), 0, 'a closed complaint has no close form');
    await shot(page, 'customer-complaints');
  } finally {
    await context.close();
  }
});
