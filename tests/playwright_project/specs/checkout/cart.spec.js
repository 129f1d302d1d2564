// Passing tests, a failing assertion and nested describe blocks.
const { test, expect } = require('@playwright/test');

const PAGE = `<!doctype html><html><body>
  <h1 id="title">Triage Hub</h1>
  <button id="add" onclick="document.querySelector('#count').textContent = '1 item'">Add</button>
  <p id="count">0 items</p>
</body></html>`;

test.describe('checkout', () => {
  test.beforeEach(async ({ page }) => {
    await page.setContent(PAGE);
  });

  test('shows the title', async ({ page }) => {
    await expect(page.locator('#title')).toHaveText('Triage Hub');
  });

  test.describe('cart', () => {
    test('adds an item', async ({ page }) => {
      await page.locator('#add').click();
      await expect(page.locator('#count')).toHaveText('1 item');
    });

    test.describe('totals', () => {
      test('starts empty', async ({ page }) => {
        await expect(page.locator('#count')).toHaveText('0 items');
      });

      test('heading names the cart', async ({ page }) => {
        await expect(page.locator('#title')).toHaveText('Shopping Cart');
      });
    });
  });
});
