"""Layout checked in a real browser (Debian's chromium and chromium-driver, driven by Selenium)."""
