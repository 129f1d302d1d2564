// A test that times out, a flaky test and skipped tests.
const { test, expect } = require('@playwright/test');

test('waits for a banner that never appears', async ({ page }) => {
  test.setTimeout(1000);
  await page.setContent('<main><p>no banner here</p></main>');
  await page.locator('#banner').click();
});

test('flaky: fails on the first attempt, passes on retry', async ({ page }) => {
  await page.setContent('<p id="state">ready</p>');
  await expect(page.locator('#state')).toHaveText('ready');
  expect(test.info().retry, 'first attempt fails on purpose').toBeGreaterThan(0);
});

test('skipped: not relevant here', async () => {
  test.skip(true, 'not relevant here');
});

test.skip('declared skip', async () => {});

test('data url renders', async ({ page }) => {
  await page.goto('data:text/html,<title>ok</title><p id="p">hello</p>');
  await expect(page).toHaveTitle('ok');
  await expect(page.locator('#p')).toHaveText('hello');
});
