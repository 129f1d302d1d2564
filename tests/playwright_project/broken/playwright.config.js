// A project whose spec throws while it is loaded: the JSON report has no tests and a top-level
// `errors[]` entry. Same browser set-up as ../playwright.config.js.
const { defineConfig } = require('@playwright/test');

module.exports = defineConfig({
  testDir: './specs',
  retries: 0,
  timeout: 5000,
  workers: 1,
  reporter: [['json']],
  use: {
    headless: true,
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    },
  },
  projects: [{ name: 'chromium', use: { browserName: 'chromium' } }],
});
