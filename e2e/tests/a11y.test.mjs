// Accessibility and screen fit of every console page (issue 9 item 4): on each page reachable from the
// main navigation (plus the forms behind it), at 1366×768: every form control has an accessible name,
// no positive tabindex, the first Tab reaches the skip link and it moves focus to the content, text
// contrast meets WCAG AA, charts have a text alternative, and the page does not scroll sideways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useApp, loggedInPage } from '../lib/console.mjs';

const app = useApp();

const EXTRA = ['/incidents/new', '/duty/roster', '/duty/roster?view=month', '/alerts/silences', '/duty/comp-time', '/problems/meetings'];

/** Runs in the page: the problems found, as strings. */
function audit() {
  const problems = [];
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
  };
  const describe = (el) => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.name ? '[name=' + el.name + ']' : ''}`;
  // 1. Names of form controls.
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden' || el.type === 'submit' || el.type === 'button') continue;
    const named = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || el.title;
    if (!named) problems.push(`no label: ${describe(el)}`);
  }
  for (const b of document.querySelectorAll('button')) {
    if (!(b.textContent.trim() || b.getAttribute('aria-label') || b.title)) problems.push(`button without text: ${describe(b)}`);
  }
  // 2. Tab order follows the document.
  for (const el of document.querySelectorAll('[tabindex]')) {
    if (Number(el.getAttribute('tabindex')) > 0) problems.push(`positive tabindex: ${describe(el)}`);
  }
  // 3. Text alternatives.
  for (const img of document.querySelectorAll('img')) if (!img.hasAttribute('alt')) problems.push(`img without alt: ${img.src}`);
  for (const svg of document.querySelectorAll('main svg')) {
    const hidden = svg.getAttribute('aria-hidden') === 'true';
    const named = svg.getAttribute('aria-label') || svg.getAttribute('aria-labelledby') || svg.querySelector('title');
    if (!hidden && !named) problems.push(`svg without a name: ${svg.outerHTML.slice(0, 60)}`);
  }
  // 4. Contrast of visible text (WCAG 2.x AA: 4.5:1, large text 3:1).
  const rgb = (c) => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null; const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number); return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 }; };
  const lum = ({ r, g, b }) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const bgOf = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c && c.a >= 0.99) return c;
      if (getComputedStyle(e).backgroundImage !== 'none') return null; // cannot judge gradients
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const seen = new Set();
  for (const el of document.querySelectorAll('body *')) {
    if (['SCRIPT', 'STYLE', 'svg', 'OPTION'].includes(el.tagName) || el.closest('svg')) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !visible(el)) continue;
    const s = getComputedStyle(el);
    if (s.clip && s.clip.startsWith('rect(0')) continue; // visually hidden text (.sr / skip link)
    const fg = rgb(s.color); const bg = bgOf(el);
    if (!fg || !bg) continue;
    const l1 = lum(fg), l2 = lum(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const px = parseFloat(s.fontSize); const bold = Number(s.fontWeight) >= 700;
    const need = px >= 24 || (bold && px >= 18.66) ? 3 : 4.5;
    if (ratio + 0.01 < need) {
      const k = `${s.color} on ${JSON.stringify(bg)} (${el.className || el.tagName})`;
      if (!seen.has(k)) { seen.add(k); problems.push(`contrast ${ratio.toFixed(2)} < ${need}: ${k}: "${el.innerText.trim().slice(0, 30)}"`); }
    }
  }
  // 5. The page fits 1366 px: no sideways scrolling of the whole page (wide tables scroll inside their box).
  const sw = document.scrollingElement.scrollWidth;
  if (sw > window.innerWidth + 1) problems.push(`page scrolls sideways: ${sw}px wide in a ${window.innerWidth}px window`);
  return problems;
}

async function checkPages(username) {
  const { context, page } = await loggedInPage(app, username);
  const found = [];
  try {
    const links = page.locator('nav[aria-label] a[data-nav]');
    const paths = [];
    for (let i = 0; i < await links.count(); i++) paths.push(await links.nth(i).getAttribute('href'));
    for (const path of [...paths, ...EXTRA]) {
      const resp = await page.goto(`${app.base}${path}`);
      if (resp.status() === 403) continue; // extra pages the role may not open
      assert.equal(resp.status(), 200, `GET ${path}`);
      for (const p of await page.evaluate(audit)) found.push(`${path}: ${p}`);
      // Focus order: the first Tab reaches the skip link; following it puts focus on the content.
      await page.keyboard.press('Tab');
      const first = await page.evaluate(() => document.activeElement.className);
      if (first !== 'skip') found.push(`${path}: first Tab focuses "${first}", not the skip link`);
      await page.keyboard.press('Enter');
      const after = await page.evaluate(() => document.activeElement.id);
      if (after !== 'main') found.push(`${path}: the skip link leaves focus on "${after}"`);
    }
  } finally {
    await context.close();
  }
  assert.deepEqual(found, [], found.join('\n'));
}

test('admin: every page is labelled, keyboard-ordered, legible and fits 1366×768', async () => {
  await checkPages('admin');
});

test('a branch engineer: the same on the pages of a narrower role', async () => {
  await checkPages('duty-sz-1');
});
