"""Application-level tests per country (issue 19): the app booted with a country folder, walked in the browser."""
